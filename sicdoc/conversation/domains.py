"""Which guide domains a QuestionnaireResponse documents, and answers as QR answers and as words."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sicdoc import questionnaires
from sicdoc.conversation.answers import DURATION_LINK_ID, Answer


def documented_domains(qr_items: Iterable[dict[str, Any]] | None) -> list[str]:
    """SIC domain codes with at least one answer, in conversation order.

    A ``false`` boolean does not document its domain: "prognosis shared: no" records that the
    prognosis was not discussed, and QI counts it as missing. Unknown linkIds (a response to
    another questionnaire) are ignored.
    """
    domain_of = questionnaires.domain_of()
    found: set[str] = set()
    for item in _walk(qr_items or ()):
        domain = domain_of.get(item.get("linkId", ""))
        if domain is None or domain in found:
            continue
        if any(_meaningful(answer) for answer in item.get("answer") or ()):
            found.add(domain)
    return [code for code in questionnaires.domains() if code in found]


def _meaningful(answer: Any) -> bool:
    return isinstance(answer, dict) and bool(answer) and answer.get("valueBoolean") is not False


def _walk(items: Iterable[Any]) -> Iterator[dict[str, Any]]:
    for item in items:
        if isinstance(item, dict):
            yield item
            yield from _walk(item.get("item") or ())
            for answer in item.get("answer") or ():
                if isinstance(answer, dict):
                    yield from _walk(answer.get("item") or ())


def qr_answers(link_id: str, value: Answer) -> list[dict[str, Any]]:
    """QuestionnaireResponse ``answer`` list for one validated answer."""
    kind = questionnaires.questions()[link_id]["type"]
    values = value if isinstance(value, list) else [value]
    out: list[dict[str, Any]] = []
    for v in values:
        if kind == "boolean":
            out.append({"valueBoolean": v})
        elif kind == "integer":
            out.append({"valueInteger": v})
        elif (
            isinstance(v, str)
            and kind in ("choice", "open-choice")
            and (coding := option_coding(link_id, v)) is not None
        ):
            out.append({"valueCoding": coding})
        else:
            out.append({"valueString": v})
    return out


def option_coding(link_id: str, code: str) -> dict[str, str] | None:
    """The Coding of one answer option, or None for free text."""
    display = questionnaires.option_display(link_id, code)
    if display is None:
        return None
    system = questionnaires.option_system(link_id, code) or questionnaires.ANSWER_SYSTEM
    return {"system": system, "code": code, "display": display}


def answer_words(link_id: str, value: Answer) -> list[str]:
    """An answer as the words a reader of the note should see (option displays, Yes/No)."""
    values = value if isinstance(value, list) else [value]
    words = []
    for v in values:
        if isinstance(v, bool):
            words.append("Yes" if v else "No")
        elif isinstance(v, int):
            words.append(f"{v} minutes" if link_id == DURATION_LINK_ID else str(v))
        else:
            words.append(questionnaires.option_display(link_id, v) or v)
    return words
