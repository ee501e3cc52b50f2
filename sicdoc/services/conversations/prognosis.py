"""Prognosis comments are append-only: each addition is kept after the earlier text with its date and author.

What a clinician said about prognosis is a record of that moment; a later amendment may add to it but
never rewrite it. The stamp is written into the stored answer itself, so the note, the Observation
and every FHIR reader carry who added what and when, not only sicdoc's pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

PROGNOSIS_COMMENT = "prognosis-comment"
# "[Added 2026-12-02 14:05 EST by Ada Okafor, MD]" at the start of a paragraph.
_STAMP = re.compile(r"^\[Added (?P<when>[^\]\n]+?) by (?P<who>[^\]\n]+)\] ?", re.MULTILINE)


@dataclass(frozen=True)
class CommentEntry:
    """One piece of the prognosis comments: the first as signed, then each addition."""

    when: str | None  # as stamped (local time of the site), None for the text of the signed note
    who: str | None
    text: str


def stamp(who: str, when: datetime, zone: tzinfo | None = None) -> str:
    moment = when.astimezone(zone) if zone else when
    return f"[Added {moment:%Y-%m-%d %H:%M} {moment.tzname() or 'UTC'} by {' '.join(who.split())}]"


def addition(before: str, submitted: str) -> str:
    """What the clinician added: the field holds only new text, or (from an older copy of the
    form) the earlier comments followed by the new text, which must not be stored twice."""
    before, submitted = before.strip(), submitted.strip()
    if before and submitted.startswith(before):
        return submitted[len(before) :].strip()
    return submitted


def appended(before: str, added: str, who: str, when: datetime, zone: tzinfo | None = None) -> str:
    """The earlier comments, unchanged, then the stamped addition (nothing added: the earlier text)."""
    before, added = before.strip(), added.strip()
    if not added:
        return before
    entry = f"{stamp(who, when, zone)} {added}"
    return f"{before}\n\n{entry}" if before else entry


def entries(text: str) -> list[CommentEntry]:
    """The stored comments split at each stamp, oldest first, for showing them read-only."""
    text = (text or "").strip()
    stamps = list(_STAMP.finditer(text))
    out = []
    first = text[: stamps[0].start()] if stamps else text
    if first.strip():
        out.append(CommentEntry(None, None, first.strip()))
    for i, match in enumerate(stamps):
        end = stamps[i + 1].start() if i + 1 < len(stamps) else len(text)
        out.append(CommentEntry(match["when"], match["who"], text[match.end() : end].strip()))
    return out
