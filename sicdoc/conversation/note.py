"""The human-readable SIC note: a Composition with one section per documented guide domain, then ACP billing."""

from __future__ import annotations

import html
from typing import Any

from sicdoc import codes, questionnaires
from sicdoc.conversation.answers import DURATION_LINK_ID, Answer
from sicdoc.conversation.billing import acp_billing, billing_section
from sicdoc.conversation.domains import answer_words
from sicdoc.conversation.extract import ACP, Context

PROGRESS_NOTE = {"system": codes.LOINC, "code": "11506-3", "display": "Progress note"}
TITLE = "Serious illness conversation"
_XHTML = "http://www.w3.org/1999/xhtml"


def composition(
    ctx: Context,
    values: dict[str, Answer],
    entries_by_domain: dict[str, list[str]],
    custodian: dict[str, str] | None,
) -> dict[str, Any]:
    """The signed note; ``entries_by_domain`` lists the fullUrls each section points at."""
    note: dict[str, Any] = {
        "resourceType": "Composition",
        "identifier": ctx.identifier("-note"),
        "status": "final",
        "type": {"coding": [PROGRESS_NOTE], "text": "Serious illness conversation note"},
        "subject": ctx.patient,
        "date": ctx.end,
        "author": [ctx.clinician],
        "title": TITLE,
        "attester": [{"mode": "legal", "time": ctx.end, "party": ctx.clinician}],
        "event": [
            {
                "code": [{"coding": [ACP]}],
                "period": {"start": ctx.start, "end": ctx.end},
                "detail": [{"reference": ctx.procedure_url}],
            }
        ],
        "section": [*_sections(values, entries_by_domain), _billing(ctx, values)],
    }
    if ctx.encounter:
        note["encounter"] = ctx.encounter
    if custodian:
        note["custodian"] = custodian
    return note


def _billing(ctx: Context, values: dict[str, Answer]) -> dict[str, Any]:
    """The ACP billing section, last: time spent, suggested CPT codes and voluntary participation."""
    minutes = values.get(DURATION_LINK_ID)
    permission = values.get("permission")
    return billing_section(
        acp_billing(
            minutes if isinstance(minutes, int) and not isinstance(minutes, bool) else None,
            permission if isinstance(permission, str) else None,
        ),
        ctx.qr_url,
    )


def _sections(values: dict[str, Answer], entries_by_domain: dict[str, list[str]]) -> list[dict[str, Any]]:
    items = questionnaires.questions()
    domain_of = questionnaires.domain_of()
    by_domain: dict[str, list[str]] = {}
    for link_id in values:
        by_domain.setdefault(domain_of[link_id], []).append(link_id)
    sections = []
    for domain, display in questionnaires.domains().items():
        link_ids = by_domain.get(domain)
        if not link_ids:
            continue
        # With one question the section title already names it; with several, label each answer.
        labelled = len(link_ids) > 1
        parts = [
            _render(items[link_id]["text"] if labelled else None, answer_words(link_id, values[link_id]))
            for link_id in link_ids
        ]
        section: dict[str, Any] = {
            "title": display,
            "code": {"coding": [{"system": codes.SIC_DOMAIN_SYSTEM, "code": domain, "display": display}]},
            "text": {"status": "generated", "div": f'<div xmlns="{_XHTML}">{"".join(parts)}</div>'},
        }
        if entries_by_domain.get(domain):
            section["entry"] = [{"reference": url} for url in entries_by_domain[domain]]
        sections.append(section)
    return sections


def _render(label: str | None, words: list[str]) -> str:
    """Escaped XHTML for one answer: free text keeps its line breaks; several choices become a list."""
    prefix = f"<b>{html.escape(label)}:</b> " if label else ""
    if len(words) > 1:
        items = "".join(f"<li>{_text(w)}</li>" for w in words)
        return f"<p>{prefix}</p><ul>{items}</ul>" if prefix else f"<ul>{items}</ul>"
    return f"<p>{prefix}{_text(words[0])}</p>"


def _text(value: str) -> str:
    return "<br/>".join(html.escape(line) for line in value.splitlines() or [""])
