"""Find-a-patient: a name, a whole or partial MRN, a birth date typed the way the site writes dates, or
a name and a birth date together.

Every lookup is served by an index: names by the string index, MRNs by the token index (a prefix is a
range on the indexed code), birth dates by the date index. What is shown is noted for the audit record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from sicdoc.errors import InvalidInput
from sicdoc.fhir.search import parse_search
from sicdoc.models import Resource, TokenIndex
from sicdoc.services.charts import PatientCard, card, shown
from sicdoc.services.unit import UnitOfWork
from sicdoc.store import Stored
from sicdoc.store.search import TOTAL_COUNTED_UP_TO, search

MAX_RESULTS = 25
# A prefix shorter than this would match a large share of all MRNs; it is searched as a whole MRN only.
MIN_PREFIX = 3
# Counting further matches stops here: "more than 1,000" is all a person needs to know (the FHIR
# search's own total stops at the same number).
COUNT_CAP = TOTAL_COUNTED_UP_TO
DATE_ORDERS = ("MDY", "DMY")

_NUMERIC = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_WORDY = ("%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y")


@dataclass(frozen=True)
class Found:
    cards: list[PatientCard]
    more: int = 0  # matches not shown, counted up to COUNT_CAP
    birth_date: date | None = None  # the date the text was read as, when it was one
    at_least: bool = False  # counting stopped at COUNT_CAP: there are at least ``more``


def parse_birth_date(text: str, order: str = "MDY", today: date | None = None) -> date | None:
    """A birth date typed as 1943-12-07, 12/07/1943 (or 07/12/1943 where days come first), 12-7-43,
    7 Dec 1943 or December 7, 1943; None when the text is not a date.

    A two-digit year is the latest year that does not put the birth in the future.
    """
    text = text.strip().replace(",", " ")
    text = " ".join(text.split())
    today = today or date.today()
    short_year = False
    if m := _ISO.match(text):
        year, month, day = (int(g) for g in m.groups())
    elif m := _NUMERIC.match(text):
        first, second, year = (int(g) for g in m.groups())
        month, day = (first, second) if order == "MDY" else (second, first)
        short_year = len(m.group(3)) == 2
        if short_year:
            year += 2000
    else:
        for pattern in _WORDY:
            try:
                return datetime.strptime(text, pattern).date()
            except ValueError:
                continue
        return None
    try:
        born = date(year, month, day)
        return born.replace(year=year - 100) if short_year and born > today else born
    except ValueError:
        return None  # 02/30/1950, or 02/29 of a leap year moved to one that is not


def name_and_birth_date(text: str, order: str = "MDY") -> tuple[list[str], date] | None:
    """Name words and a birth date typed together (``Okafor 12/07/1943``, ``12/7/43 Okafor, Ada``,
    ``Okafor 7 Dec 1943``), the date first or last; None when neither end of the text is a date."""
    words = text.replace(",", " ").split()
    for size in (1, 3):  # a date in digits is one word; with its month's name, three
        if len(words) <= size:
            continue
        for names, typed in ((words[:-size], words[-size:]), (words[size:], words[:size])):
            born = parse_birth_date(" ".join(typed), order)
            if born is not None:
                return names, born
    return None


def find_patients(uow: UnitOfWork, text: str, date_order: str = "MDY") -> Found:
    """Patients whose birth date, MRN (whole, or its first characters) or every name word matches, or
    whose birth date and every name word match when both are typed."""
    text = " ".join(text.split())[:200]
    if not text:
        return Found([])
    names: list[str] = []
    born = parse_birth_date(text, date_order)
    if born is None and (both := name_and_birth_date(text, date_order)) is not None:
        names, born = both
    if born is not None:
        criteria = [("birthdate", born.isoformat()), *(("name", word) for word in names)]
        cards, total = _search(uow, criteria)
        more = max(0, total - len(cards))
        return Found(shown(uow, _ordered(cards)), more, born, at_least=total >= COUNT_CAP)
    found: dict[str, PatientCard] = {}
    most = 0
    for criteria in ([("identifier", text)], [("name", word) for word in text.split()]):
        cards, total = _search(uow, criteria)
        found.update((c.id, c) for c in cards if c.id not in found)
        most = max(most, total)
    if " " not in text and len(text) >= MIN_PREFIX:
        cards, total = _mrn_prefix(uow, text)
        found.update((c.id, c) for c in cards if c.id not in found)
        most = max(most, total)
    capped = most >= COUNT_CAP
    ordered = _ordered(list(found.values()))
    kept = ordered[:MAX_RESULTS]
    more = max(0, most - len(kept), len(ordered) - len(kept))
    return Found(shown(uow, kept), more, at_least=capped)


def _ordered(cards: list[PatientCard]) -> list[PatientCard]:
    return sorted(cards, key=lambda c: (c.name.casefold(), c.id))


def _search(uow: UnitOfWork, criteria: list[tuple[str, str]]) -> tuple[list[PatientCard], int]:
    try:
        request = parse_search("Patient", [*criteria, ("_count", str(MAX_RESULTS))])
        result = search(uow.session, request)
    except InvalidInput:
        return [], 0  # a value the search cannot parse (e.g. 2026-13-45) finds nobody
    cards = [card(m) for m in result.matches]
    if result.more_than_counted:
        return cards, COUNT_CAP
    return cards, result.total if result.total is not None else len(cards)


def _mrn_prefix(uow: UnitOfWork, prefix: str) -> tuple[list[PatientCard], int]:
    """Patients with an identifier that starts with ``prefix``: a range scan of the token index.

    The first MAX_RESULTS patients in identifier order, read along the index as it is sorted: ordering
    by anything else would sort every match, and a short prefix matches most of the population.
    """
    upper = prefix + "\U0010ffff"
    where = (
        TokenIndex.resource_type == "Patient",
        TokenIndex.param == "identifier",
        TokenIndex.code >= prefix,
        TokenIndex.code < upper,
    )
    in_order = select(TokenIndex.resource_id).where(*where).order_by(TokenIndex.code).limit(COUNT_CAP)
    # One patient may hold several matching identifiers: count and show each once.
    found = list(dict.fromkeys(uow.session.scalars(in_order).all()))
    total, ids = len(found), found[:MAX_RESULTS]
    rows = uow.session.scalars(
        select(Resource).where(
            Resource.resource_type == "Patient", Resource.id.in_(ids), Resource.deleted.is_(False)
        )
    ).all()
    stored = [Stored("Patient", r.id, r.version_id, r.last_updated, False, r.content) for r in rows]
    return [card(s) for s in stored], total
