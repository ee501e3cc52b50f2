"""Documentation quality: the four codebook domains each completed conversation documented.

The score of each conversation is stored by the projection (``sicdoc.conversation.quality``); these
functions read it from the normalised frames and sum it per cohort, per scope and per group.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sicdoc.analytics.cohorts import CONVERSATION_DONE, cohort_patients, in_scope
from sicdoc.analytics.frames import EVERYWHERE, Frames, Where
from sicdoc.conversation.quality import DOMAINS


def scored_conversations(frames: Frames) -> pd.DataFrame:
    """Every completed conversation with its documentation-quality score: procedure_id, patient_id,
    performed_date, clinician_id, site, unit, domains (0-4), all_four, source."""

    def build() -> pd.DataFrame:
        conv = frames.conversations
        conv = conv[(conv["status"] == CONVERSATION_DONE) & conv["performed_date"].notna()]
        stored = conv["quality_domains"].astype(object).where(conv["quality_domains"].notna(), "").astype(str)
        count = stored.map(lambda s: sum(1 for d in s.split(",") if d in DOMAINS)).astype(int)
        return pd.DataFrame(
            {
                "procedure_id": conv["procedure_id"],
                "patient_id": conv["patient_id"],
                "performed_date": conv["performed_date"],
                "clinician_id": conv["clinician_id"],
                "site": conv["site"],
                "unit": conv["unit"],
                "domains": count,
                "all_four": count == len(DOMAINS),
                "source": conv["quality_source"].astype(object).where(conv["quality_source"].notna(), "none"),
            }
        ).reset_index(drop=True)

    return frames.memo("eol_scored_conversations", build)


def documentation_quality(scored: pd.DataFrame) -> dict[str, Any]:
    """``conversations``, ``conversations_all_four`` and ``mean_domains`` (6 decimals; None when
    there is no conversation) of some scored conversations."""
    n = len(scored)
    return {
        "conversations": n,
        "conversations_all_four": int(scored["all_four"].sum()),
        "mean_domains": round(float(scored["domains"].mean()), 6) if n else None,
    }


def cohort_documentation(frames: Frames, cohort: str, where: Where = EVERYWHERE) -> pd.DataFrame:
    """The scored conversations of a cohort's members (any date up to the as-of cut), the cohort
    filtered by the site and unit it is attributed to."""
    members = cohort_patients(frames, cohort, site=where.site, unit=where.unit)["patient_id"]
    scored = scored_conversations(frames)
    return scored[scored["patient_id"].isin(members)]


def all_documentation(frames: Frames, where: Where = EVERYWHERE) -> pd.DataFrame:
    """Every patient's scored conversations, filtered by the conversation's own site and unit."""
    return in_scope(scored_conversations(frames), site=where.site, unit=where.unit)
