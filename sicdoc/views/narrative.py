"""Showing a Composition's XHTML narrative safely: only plain text structure survives.

The builder escapes what clinicians type, but a note posted by an EHR may carry anything, so the
narrative is rebuilt from an allow-list of tags with no attributes before it reaches the page.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

from markupsafe import Markup

ALLOWED = frozenset(
    {"p", "br", "b", "strong", "i", "em", "ul", "ol", "li", "div", "span", "table", "tr", "td", "th"}
)
DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template"})
VOID = frozenset({"br"})


class _Cleaner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self.skipping += 1
        elif not self.skipping and tag in ALLOWED:
            self.out.append(f"<{tag}>" if tag not in VOID else "<br>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.skipping and tag in VOID:
            self.out.append("<br>")

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self.skipping = max(0, self.skipping - 1)
        elif not self.skipping and tag in ALLOWED and tag not in VOID:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(html.escape(data))


def safe_narrative(div: str | None) -> Markup:
    """The narrative as HTML with every attribute and every unknown tag removed."""
    cleaner = _Cleaner()
    cleaner.feed(div or "")
    cleaner.close()
    return Markup("".join(cleaner.out))  # noqa: S704 - built only from escaped text and allow-listed tags
