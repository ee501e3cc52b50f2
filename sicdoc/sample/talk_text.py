"""Invented answers for synthetic serious illness conversations, with realistic gaps.

Phrases are short and made up for the sample; they are not quotations of any guide or record.
"""

from __future__ import annotations

import random

from sicdoc import codes
from sicdoc.conversation import Answer

GOALS = (
    "Be at home with family for as long as possible",
    "Stay well enough to attend a grandchild's wedding in the spring",
    "Avoid more hospital stays if at all possible",
    "Keep working part time while able",
    "Be comfortable and free of pain",
    "Try any treatment that offers a real chance of more time",
    "Stay independent and keep living alone",
)
FEARS = (
    "Being a burden to the family",
    "Pain that cannot be controlled",
    "Dying in the hospital",
    "Losing the ability to speak",
    "Leaving a spouse to cope alone",
    "Being kept alive on machines",
)
STRENGTH = (
    "Faith and the church community",
    "A spouse of forty years",
    "Children and grandchildren",
    "Music and the garden",
    "Old friends from work",
    "A sense of humour",
)
ABILITIES = (
    "Recognising family members",
    "Being able to talk with people",
    "Eating by mouth",
    "Getting to the bathroom without help",
    "Living outside a nursing home",
    "Being aware of what is going on around them",
)
TRADE_OFFS = (
    "Would accept a short ICU stay if there is a fair chance of recovery",
    "Does not want a breathing tube or CPR",
    "Willing to go through more chemotherapy for a chance of more time",
    "Would not want a feeding tube",
    "Prefers comfort over a longer life if function will not come back",
    "Would accept dialysis for a trial period",
)
FAMILY = (
    "Wife is aware and agrees with the plan",
    "Daughter knows some of it; a family meeting is planned",
    "Family has not been told yet",
    "Son is the main contact and is fully informed",
    "Brother lives abroad and knows little",
)
HOPES = (
    "Hopes to see the garden bloom once more",
    "Hopes treatment will buy more time",
    "Hopes to go home",
    "Hopes to make peace with a sister",
    "Hopes the family will be at ease",
)
RECOMMENDATIONS = (
    "Recommended focusing on comfort and arranging hospice at home",
    "Recommended continuing treatment with a review after the next scan",
    "Recommended a time-limited trial of intensive care",
    "Recommended no resuscitation and continued palliative care follow-up",
    "Recommended a family meeting later this week",
)
PROGNOSIS = (
    "Explained that time may be short, likely weeks to months",
    "Shared that the illness is getting worse despite treatment",
    "Described the uncertainty and that another stroke is possible",
    "Explained that strength and energy are likely to decline",
    "Patient was tearful, then asked what to expect in the coming months",
)
UNDERSTANDING_TEXT = (
    "Thinks the heart is tired and will not get stronger",
    "Believes the cancer is under control",
    "Knows the stroke was large; unsure about recovery",
)
FOLLOW_UP = (
    "Palliative care to follow daily",
    "Family meeting on Thursday",
    "Revisit goals at the next clinic visit",
    "Hospice information given; social work to call",
    "Primary team to update the code status order",
)
RELATIONS = ("daughter", "son", "wife", "husband", "sister", "brother", "friend")
AGENT_NAMES = (
    "Maria Lopez",
    "John Reyes",
    "Anna Novak",
    "Li Chen",
    "Grace Okafor",
    "Sam Turner",
    "Huda Haddad",
)


# Care focus answers (LOINC answer list LL6264-7).
FULL, SELECTIVE, COMFORT = "LA33473-2", "LA33474-0", codes.COMFORT_FOCUSED
CODE_STATUSES = ("full", "dnr", "dnr-dni", "undecided")
# Code status weights (full, dnr, dnr-dni, undecided) by the care focus agreed in the same talk:
# comfort-focused care goes with a DNR order, full treatment mostly with full code.
CODE_STATUS_BY_FOCUS = {
    COMFORT: (0.03, 0.42, 0.48, 0.07),
    SELECTIVE: (0.30, 0.30, 0.28, 0.12),
    FULL: (0.82, 0.05, 0.02, 0.11),
}


def care_focus_weights(days_to_death: int | None) -> tuple[float, float, float]:
    """(full, selective, comfort): more comfort-focused the closer the talk is to death."""
    if days_to_death is None:
        return (0.55, 0.35, 0.10)
    if days_to_death > 180:
        return (0.50, 0.35, 0.15)
    if days_to_death > 30:
        return (0.30, 0.40, 0.30)
    return (0.12, 0.30, 0.58)


def make_answers(
    rng: random.Random, *, near_death: bool, qi: bool, duration: int, days_to_death: int | None = None
) -> dict[str, Answer]:
    """One conversation's answers; ``qi`` conversations (a QI unit from the programme's start) are
    documented more completely. ``days_to_death`` (None for survivors) shapes the care focus."""
    boost = 0.15 if qi else 0.0

    def documented(p: float) -> bool:
        return rng.random() < p + boost

    participants = ["patient"] if rng.random() < 0.85 else []
    for code, p in (
        ("family", 0.6),
        ("health-care-agent", 0.2),
        ("interpreter", 0.08),
        ("other-clinician", 0.1),
    ):
        if rng.random() < p:
            participants.append(code)
    if not participants:
        participants = ["family", "health-care-agent"]
    permission = rng.choices(("agreed", "later", "declined"), (0.92, 0.06, 0.02))[0]
    answers: dict[str, Answer] = {"participants": participants, "permission": permission}
    if permission != "agreed":
        answers["duration-minutes"] = max(1, duration // 4)
        return answers
    answers["duration-minutes"] = duration
    if documented(0.85):
        understanding = rng.sample(
            ("knows-serious", "knows-not-curable", "expects-recovery", "unsure"), rng.randint(1, 2)
        )
        if rng.random() < 0.2:
            understanding.append(rng.choice(UNDERSTANDING_TEXT))
        answers["illness-understanding"] = understanding
    if documented(0.6):
        answers["information-preferences"] = rng.choice(
            ("full-detail", "big-picture", "family-first", "not-now")
        )
    if documented(0.75):
        shared = rng.random() < (0.93 if qi else 0.85)
        answers["prognosis-shared"] = shared
        if shared and rng.random() < 0.8:
            answers["prognosis-framing"] = rng.choice(("uncertain", "time", "function"))
        if shared and rng.random() < 0.6:
            answers["prognosis-comment"] = rng.choice(PROGNOSIS)
    for link_id, pool, p in (
        ("goals", GOALS, 0.8),
        ("fears-worries", FEARS, 0.7),
        ("sources-of-strength", STRENGTH, 0.5),
        ("critical-abilities", ABILITIES, 0.55),
        ("trade-offs", TRADE_OFFS, 0.6),
        ("family", FAMILY, 0.6),
        ("hopes", HOPES, 0.45),
        ("recommendation", RECOMMENDATIONS, 0.75),
        ("follow-up", FOLLOW_UP, 0.5),
    ):
        if documented(p):
            answers[link_id] = rng.choice(pool)
    focus = None
    if documented(0.55):
        focus = rng.choices((FULL, SELECTIVE, COMFORT), care_focus_weights(days_to_death))[0]
        answers["care-focus"] = focus
    if documented(0.8):
        if focus is not None:
            weights = CODE_STATUS_BY_FOCUS[focus]
        else:
            weights = (0.1, 0.4, 0.4, 0.1) if near_death else (0.45, 0.2, 0.2, 0.15)
        answers["code-status"] = rng.choices(CODE_STATUSES, weights)[0]
    if documented(0.5):
        answers["health-care-agent"] = f"{rng.choice(AGENT_NAMES)}, {rng.choice(RELATIONS)}"
    if documented(0.6):
        answers["decision-capacity"] = rng.choices(
            ("has-capacity", "lacks-capacity", "uncertain"), (0.75, 0.18, 0.07)
        )[0]
    return answers
