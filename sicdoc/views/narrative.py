"""Showing a FHIR narrative (XHTML ``div``) on a clinician page, safely.

The API refuses narratives that break FHIR's rules (``sicdoc.fhir.narrative``), but a page never
trusts what is stored: rows may predate the rule, and an allowed narrative can still imitate the page.
So every narrative is cleaned again by nh3 (the Ammonia HTML sanitizer), which parses it as an HTML
fragment the way a browser would and serializes a balanced tree: stray closing tags such as
``</div></main>`` cannot leave the note's container, and nothing survives outside an allow-list.

The allow-list is the FHIR narrative subset less everything that could act or masquerade: no
scripts, styles, forms, frames, objects or images (content of script-like tags goes with them); no
event, ``style``, ``class`` or ``id`` attributes (a narrative must not borrow the page's own look,
such as its banner, or clobber its element ids); links only to absolute http, https and mailto URLs,
opened with ``rel="noopener noreferrer"``.
"""

from __future__ import annotations

import re

import nh3
from markupsafe import Markup

TAGS = frozenset(
    {
        "p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i", "strong",
        "small", "big", "tt", "dfn", "q", "var", "abbr", "acronym", "cite", "blockquote", "hr",
        "address", "bdo", "kbd", "sub", "sup", "ul", "ol", "li", "dl", "dt", "dd", "pre", "table",
        "caption", "colgroup", "col", "thead", "tr", "tfoot", "tbody", "th", "td", "code", "samp",
    }
)  # fmt: skip
# Removed together with everything inside them, not only the tags.
DROPPED_WITH_CONTENT = frozenset(
    {
        "script", "style", "template", "noscript", "iframe", "frame", "frameset", "object", "embed",
        "applet", "form", "select", "textarea", "button", "svg", "math", "title", "head",
    }
)  # fmt: skip
ATTRIBUTES: dict[str, set[str]] = {
    "*": {"title", "lang", "dir"},
    "a": {"href"},
    "col": {"span"},
    "colgroup": {"span"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_ABSOLUTE_RE = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)


def _keep_absolute_links(tag: str, attribute: str, value: str) -> str | None:
    """Relative links point into the FHIR API, not at a page: keep the link text, drop the target."""
    if attribute == "href" and not _ABSOLUTE_RE.match(value.strip()):
        return None
    return value


def clean_narrative(div: str | None) -> str:
    """The narrative as balanced HTML holding only allow-listed tags and attributes.

    A tree the parser built from misnested markup (an ``<li>`` moved into another by a table) can
    serialize to text that a browser reads differently, so the text is cleaned again until it reads
    back as itself: the tree the browser builds is then the one that was checked.
    """
    html = div or ""
    for _ in range(_MAX_PASSES):
        cleaned = _clean(html)
        if cleaned == html:
            break
        html = cleaned
    return html


_MAX_PASSES = 4


def _clean(html: str) -> str:
    return nh3.clean(
        html,
        tags=set(TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        attribute_filter=_keep_absolute_links,
        url_schemes=set(URL_SCHEMES),
        strip_comments=True,
        link_rel="noopener noreferrer",
    )


def safe_narrative(div: str | None) -> Markup:
    """``clean_narrative`` marked safe for Jinja."""
    return Markup(clean_narrative(div))  # noqa: S704 - nh3 output: balanced, allow-listed HTML
