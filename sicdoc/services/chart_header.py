"""The patient header: for each essential fact, the latest value any conversation documented.

A later, shorter note must never hide an earlier code status, goal or recommendation, so every
field is read across all the patient's conversations (newest first), keeps the date and author of
the conversation that documented it, and lists the later conversations that left it unrecorded.
Conversations marked entered-in-error do not count. The care focus is also read from care-focus
Observations an EHR recorded outside any conversation: the latest by date wins, whatever its source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from sicdoc import codes, questionnaires
from sicdoc.conversation import Answer
from sicdoc.conversation.form import answers_from_items
from sicdoc.conversation.quality import care_focus_of
from sicdoc.fhir.dates import as_utc, calendar_date, instant
from sicdoc.fhir.search import parse_search
from sicdoc.models import CareEvent, Conversation, ReferenceIndex, Resource
from sicdoc.services import practitioners
from sicdoc.services.conversations.common import performer
from sicdoc.services.unit import UnitOfWork
from sicdoc.store.search import search

ENTERED_IN_ERROR = "entered-in-error"
NOT_RECORDED = "not recorded"
NOT_DISCUSSED = "not discussed"


@dataclass(frozen=True)
class Documented:
    """One conversation as the header reads it (or, with an empty ``procedure_id``, a care-focus
    Observation recorded outside any conversation)."""

    procedure_id: str
    when: datetime | None
    author: str
    answers: Mapping[str, Answer]
    code_status: str | None = None  # the projection's, for a conversation posted without answers
    performer: Mapping[str, str] = field(default_factory=dict)  # the Procedure's performer reference
    care_focus: str | None = None  # the projection's: the answer, else an Observation part of it


@dataclass(frozen=True)
class Gap:
    """A later conversation that did not document the field."""

    procedure_id: str
    when: datetime | None
    reason: str  # NOT_RECORDED, or NOT_DISCUSSED for a prognosis answered "no"


@dataclass(frozen=True)
class HeaderField:
    key: str
    label: str
    value: str | None = None
    code: str | None = None  # the answer code, for choices
    when: datetime | date | None = None
    author: str | None = None
    procedure_id: str | None = None
    gaps: tuple[Gap, ...] = ()  # later conversations that left it unrecorded, newest first
    previous: HeaderField | None = None  # the value it replaced, when a later conversation changed it


@dataclass(frozen=True)
class Header:
    """The latest conversation, and each essential fact as last documented."""

    procedure_id: str | None = None
    when: datetime | None = None
    author: str | None = None
    code_status: HeaderField | None = None
    care_focus: HeaderField | None = None
    agent: HeaderField | None = None
    goals: HeaderField | None = None
    recommendation: HeaderField | None = None
    prognosis: HeaderField | None = None

    @property
    def details(self) -> list[HeaderField]:
        """The nuanced fields, shown a click away from the time-critical ones."""
        return [f for f in (self.goals, self.recommendation, self.prognosis) if f is not None]


# ---- pure: fields from conversations ------------------------------------------------------------
# A reader gives one conversation's (words to show, answer code); no words: not documented there.


def _text(link_id: str) -> Callable[[Documented], tuple[str | None, str | None]]:
    def read(conv: Documented) -> tuple[str | None, str | None]:
        value = conv.answers.get(link_id)
        return (str(value), None) if isinstance(value, str) and value.strip() else (None, None)

    return read


def _code_status(conv: Documented) -> tuple[str | None, str | None]:
    answer = conv.answers.get("code-status")
    code = answer if isinstance(answer, str) else conv.code_status
    return (questionnaires.option_display("code-status", code) or code, code) if code else (None, None)


def _care_focus(conv: Documented) -> tuple[str | None, str | None]:
    answer = conv.answers.get("care-focus")
    code = answer if isinstance(answer, str) else conv.care_focus
    if not code:
        return None, None
    return codes.CARE_FOCUS_ANSWERS.get(code) or questionnaires.option_display(
        "care-focus", code
    ) or code, code


def _prognosis(conv: Documented) -> tuple[str | None, str | None]:
    shared = conv.answers.get("prognosis-shared")
    framing = conv.answers.get("prognosis-framing")
    comment = conv.answers.get("prognosis-comment")
    if shared is False:
        return None, "no"
    if shared is not True and not comment:
        return None, None
    words = "Shared with the patient"
    if isinstance(framing, str):
        words += f" ({questionnaires.option_display('prognosis-framing', framing) or framing})"
    if isinstance(comment, str) and comment.strip():
        words += f": {comment.strip()}"
    return words, "yes"


def _agent(conv: Documented) -> tuple[str | None, str | None]:
    """The named agent ("Rita Shah (sister), 617-555-0142"); else the free text older notes kept."""
    name = conv.answers.get("health-care-agent-name")
    if not (isinstance(name, str) and name.strip()):
        return _text("health-care-agent")(conv)
    words = name.strip()
    kin = conv.answers.get("health-care-agent-relationship")
    phone = conv.answers.get("health-care-agent-phone")
    if isinstance(kin, str) and kin.strip():
        words += f" ({kin.strip()})"
    if isinstance(phone, str) and phone.strip():
        words += f", {phone.strip()}"
    return words, None


# (key, label, reader) in the order clinicians read them.
FIELDS: tuple[tuple[str, str, Callable[[Documented], tuple[str | None, str | None]]], ...] = (
    ("code_status", "Code status", _code_status),
    ("care_focus", "Care focus", _care_focus),
    ("agent", "Health care agent", _agent),
    ("goals", "What matters most", _text("goals")),
    ("recommendation", "Recommendation", _text("recommendation")),
    ("prognosis", "Prognosis shared", _prognosis),
)


# Fields whose change between the last two records is flagged rather than silently replaced.
FLAG_CHANGES = frozenset({"code_status", "care_focus"})


def field_of(
    key: str,
    label: str,
    read: Callable[[Documented], tuple[str | None, str | None]],
    conversations: Sequence[Documented],
) -> HeaderField:
    """The latest documented value of one field among conversations given newest first."""
    gaps: list[Gap] = []
    found: list[HeaderField] = []
    for conv in conversations:
        value, code = read(conv)
        if value is None:
            if not found:
                reason = NOT_DISCUSSED if code == "no" else NOT_RECORDED
                gaps.append(Gap(conv.procedure_id, conv.when, reason))
            continue
        found.append(HeaderField(key, label, value, code, conv.when, conv.author, conv.procedure_id or None))
        if len(found) == 2:
            break
    if not found:
        said_no = next((g for g in gaps if g.reason == NOT_DISCUSSED), None)
        if said_no is None:
            return HeaderField(key, label, gaps=tuple(gaps))
        # Only ever answered "no": that answer is the latest documented value, with its date.
        conv = next(c for c in conversations if c.procedure_id == said_no.procedure_id)
        earlier = tuple(gaps[: gaps.index(said_no)])
        return HeaderField(
            key, label, "Not discussed", "no", conv.when, conv.author, conv.procedure_id, earlier
        )
    latest = found[0]
    changed = key in FLAG_CHANGES and len(found) == 2 and found[1].code != latest.code
    return replace(latest, gaps=tuple(gaps), previous=found[1] if changed else None)


def build_header(
    conversations: Sequence[Documented],
    goal: HeaderField | None = None,
    care_focus: Sequence[Documented] = (),
) -> Header:
    """The header from the patient's conversations, newest first (entered-in-error ones left out).

    ``goal`` is a Goal recorded outside any conversation, shown when no conversation documented one.
    ``care_focus`` holds care-focus Observations recorded outside any conversation; they take their
    place among the conversations by date.
    """
    if not conversations and not care_focus:
        return Header()
    fields = {key: field_of(key, label, read, conversations) for key, label, read in FIELDS}
    if care_focus:
        merged = sorted([*conversations, *care_focus], key=_newest_first)
        fields["care_focus"] = field_of("care_focus", "Care focus", _care_focus, merged)
    if not conversations:
        return Header(care_focus=fields["care_focus"])
    if fields["goals"].value is None and goal is not None:
        fields["goals"] = HeaderField("goals", "What matters most", goal.value, None, goal.when, goal.author)
    latest = conversations[0]
    return Header(latest.procedure_id, latest.when, latest.author, **fields)


def _newest_first(conv: Documented) -> tuple[bool, float]:
    # SQLite hands back naive timestamps (UTC); records without a date go last.
    return conv.when is None, -as_utc(conv.when).timestamp() if conv.when else 0.0


# ---- the query --------------------------------------------------------------------------------


def header(uow: UnitOfWork, patient_id: str) -> Header:
    uow.disclose("read", patients=[patient_id])
    conversations = _named(uow.session, documented(uow.session, patient_id))
    has_goals = any(_text("goals")(c)[0] for c in conversations)
    goal = _latest_goal(uow.session, patient_id) if conversations and not has_goals else None
    return build_header(conversations, goal, _named(uow.session, care_focus_records(uow.session, patient_id)))


def care_focus_records(session: Session, patient_id: str) -> list[Documented]:
    """Care-focus Observations of the patient that are not part of any of its conversations."""
    observation = aliased(Resource)
    conversations = select(Conversation.procedure_id).where(Conversation.patient_id == patient_id)
    rows = session.scalars(
        select(observation.content)
        .join(
            CareEvent,
            and_(CareEvent.source_type == observation.resource_type, CareEvent.source_id == observation.id),
        )
        .where(
            CareEvent.patient_id == patient_id,
            CareEvent.kind == "care_focus",
            observation.deleted.is_(False),
            or_(CareEvent.procedure_id.is_(None), CareEvent.procedure_id.not_in(conversations)),
        )
    ).all()
    out = []
    for content in rows:
        content = content or {}
        code = care_focus_of(content)
        if code is None:
            continue
        who = next((dict(p) for p in content.get("performer") or () if isinstance(p, dict)), {})
        who = {k: v for k, v in who.items() if k in ("reference", "display")}
        out.append(
            Documented(
                procedure_id="",
                when=_effective(content),
                author=who.get("display") or "unknown",
                answers={"care-focus": code},
                performer=who,
            )
        )
    return out


def _effective(obs: dict[str, Any]) -> datetime | None:
    """When an Observation was made. A date without a time is taken as midday UTC, which is the same
    calendar day in every site time zone from UTC-12 to UTC+11."""
    value = obs.get("effectiveDateTime") or (obs.get("effectivePeriod") or {}).get("start")
    value = value or obs.get("effectiveInstant") or obs.get("issued")
    if not isinstance(value, str):
        return None
    if "T" not in value:
        day = calendar_date(value)
        return datetime(day.year, day.month, day.day, 12, tzinfo=UTC) if day else None
    return instant(value)


def documented(session: Session, patient_id: str) -> list[Documented]:
    """The patient's conversations with their answers, newest first, in one query."""
    procedure, answers, link = aliased(Resource), aliased(Resource), aliased(ReferenceIndex)
    rows = session.execute(
        select(Conversation, procedure.content, answers.content)
        .join(
            procedure, and_(procedure.resource_type == "Procedure", procedure.id == Conversation.procedure_id)
        )
        .outerjoin(
            link,
            and_(
                link.param == "part-of",
                link.resource_type == "QuestionnaireResponse",
                link.target_type == "Procedure",
                link.target_id == Conversation.procedure_id,
            ),
        )
        .outerjoin(
            answers,
            and_(
                answers.resource_type == link.resource_type,
                answers.id == link.resource_id,
                answers.deleted.is_(False),
            ),
        )
        .where(
            Conversation.patient_id == patient_id,
            Conversation.status.is_distinct_from(ENTERED_IN_ERROR),
            procedure.deleted.is_(False),
            # Said twice on purpose: SQLite without statistics otherwise starts from every stored
            # Procedure (a quarter of a second at 100,000 patients) rather than the patient's few.
            procedure.id.in_(select(Conversation.procedure_id).where(Conversation.patient_id == patient_id)),
        )
        .order_by(
            Conversation.performed_at.desc().nulls_last(),
            Conversation.procedure_id,
            answers.last_updated.desc().nulls_last(),
        )
    ).all()
    out: dict[str, Documented] = {}
    for conv, content, qr in rows:
        content = content or {}
        if conv.procedure_id in out or content.get("status") == ENTERED_IN_ERROR:
            continue
        out[conv.procedure_id] = Documented(
            procedure_id=conv.procedure_id,
            when=conv.performed_at,
            author=performer(content).get("display") or conv.clinician_id or "unknown",
            answers=answers_from_items((qr or {}).get("item")),
            code_status=conv.code_status,
            performer=performer(content),
            care_focus=conv.care_focus,
        )
    return list(out.values())


def _named(session: Session, conversations: list[Documented]) -> list[Documented]:
    """Authors as their Practitioner is named now (one read per distinct author), so a note signed
    before its author's full name was recorded shows that name, like the note and history pages."""
    names: dict[str, str | None] = {}
    for conv in conversations:
        ref = conv.performer.get("reference")
        if ref and ref not in names:
            names[ref] = practitioners.named_author(session, conv.performer)
    return [
        replace(conv, author=names.get(conv.performer.get("reference") or "") or conv.author)
        for conv in conversations
    ]


def _latest_goal(session: Session, patient_id: str) -> HeaderField | None:
    request = parse_search("Goal", [("patient", patient_id), ("_sort", "-start-date"), ("_count", "1")])
    for match in search(session, request).matches:
        content: dict[str, Any] = match.content or {}
        text = (content.get("description") or {}).get("text")
        if text:
            who = (content.get("expressedBy") or {}).get("display")
            when = calendar_date(content.get("startDate"))
            return HeaderField("goals", "What matters most", text, when=when, author=who)
    return None
