"""The SIC Questionnaire, published at ``codes.SIC_QUESTIONNAIRE_URL``, and lookups derived from it.

The JSON file is the single definition: the web form renders it, ``sicdoc.conversation`` validates
answers and builds resources from it, and analytics maps answered items to guide domains with it.
Help texts are sibling ``display`` items whose linkId is ``<question linkId>-help``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from sicdoc import codes

FILE = "sic.json"
ANSWER_SYSTEM = codes.SIC_ANSWER_SYSTEM
HELP_SUFFIX = "-help"


@cache
def load_questionnaire() -> dict[str, Any]:
    """The Questionnaire resource as parsed JSON. Cached and shared: treat it as read-only."""
    text = resources.files(__package__).joinpath(FILE).read_text(encoding="utf-8")
    return json.loads(text)


def canonical() -> str:
    """``url|version``, the value a QuestionnaireResponse carries in ``questionnaire``."""
    q = load_questionnaire()
    return f"{q['url']}|{q['version']}"


@cache
def questions() -> MappingProxyType[str, dict[str, Any]]:
    """Question items (display items left out) by linkId, in form order."""
    return MappingProxyType(
        {item["linkId"]: item for item in _walk(load_questionnaire()["item"]) if item["type"] != "display"}
    )


@cache
def help_texts() -> MappingProxyType[str, str]:
    """Help text of each question, by the question's linkId."""
    return MappingProxyType(
        {
            item["linkId"].removesuffix(HELP_SUFFIX): item["text"]
            for item in _walk(load_questionnaire()["item"])
            if item["type"] == "display" and item["linkId"].endswith(HELP_SUFFIX)
        }
    )


@cache
def domain_of() -> MappingProxyType[str, str]:
    """SIC domain code (``codes.SIC_DOMAIN_SYSTEM``) of each question, by linkId."""
    out = {}
    for link_id, item in questions().items():
        for coding in item.get("code", ()):
            if coding.get("system") == codes.SIC_DOMAIN_SYSTEM:
                out[link_id] = coding["code"]
                break
    return MappingProxyType(out)


@cache
def domains() -> MappingProxyType[str, str]:
    """Every SIC domain code with its display, in the order the conversation reaches it."""
    out: dict[str, str] = {}
    for item in questions().values():
        for coding in item.get("code", ()):
            if coding.get("system") == codes.SIC_DOMAIN_SYSTEM:
                out.setdefault(coding["code"], coding["display"])
    return MappingProxyType(out)


def option_display(link_id: str, code: str) -> str | None:
    """Display of one answer option of a choice question, or None when it is not an option."""
    coding = _options(link_id).get(code)
    return coding.get("display", code) if coding else None


def option_system(link_id: str, code: str) -> str | None:
    """Code system of one answer option (sicdoc's own, or LOINC for the care focus)."""
    coding = _options(link_id).get(code)
    return coding.get("system") if coding else None


@cache
def _options(link_id: str) -> dict[str, dict[str, str]]:
    item = questions().get(link_id) or {}
    return {
        opt["valueCoding"]["code"]: opt["valueCoding"]
        for opt in item.get("answerOption", ())
        if "valueCoding" in opt
    }


def _walk(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from _walk(item.get("item", ()))
