"""The FHIR R4 narrative rules for XHTML that arrives through the API (invariants txt-1 and txt-2).

txt-1: ``Narrative.div`` is one XHTML ``<div>`` in the XHTML namespace, well-formed XML, using only
the basic formatting elements and attributes of HTML 4 (chapters 7-11 and 15), links, images and
inline styles: no scripts, forms, frames, objects, event attributes or DOCTYPE. txt-2: it has some
non-whitespace text, or an image. The element and attribute lists follow the HL7 reference
validator's (``XhtmlValidator``).

The XML is read by expat with every document type declaration, entity declaration and processing
instruction refused before it is acted on, so no entity is ever expanded (no external entities, no
"billion laughs"); only the five predefined XML entities and character references exist, as the FHIR
specification requires (no ``&nbsp;``: use ``&#160;``). Handlers keep an explicit stack, so deep
nesting costs no recursion.

This is the input rule. Pages never trust stored narratives either: ``sicdoc.views.narrative``
sanitizes again on output.
"""

from __future__ import annotations

import re
from xml.parsers import expat

XHTML_NS = "http://www.w3.org/1999/xhtml"
_XML_NS = "http://www.w3.org/XML/1998/namespace"

ELEMENTS = frozenset(
    {
        "p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i", "strong",
        "small", "big", "tt", "dfn", "q", "var", "abbr", "acronym", "cite", "blockquote", "hr",
        "address", "bdo", "kbd", "sub", "sup", "ul", "ol", "li", "dl", "dt", "dd", "pre", "table",
        "caption", "colgroup", "col", "thead", "tr", "tfoot", "tbody", "th", "td", "code", "samp",
        "img", "map", "area",
    }
)  # fmt: skip
# Attributes allowed on every element.
ATTRIBUTES = frozenset(
    {
        "title", "style", "class", "id", "lang", "xml:lang", "dir", "accesskey", "tabindex",
        # tables
        "span", "width", "align", "valign", "char", "charoff", "abbr", "axis", "headers", "scope",
        "rowspan", "colspan",
    }
)  # fmt: skip
# Attributes allowed on one element only.
ELEMENT_ATTRIBUTES = frozenset(
    {
        "a.href", "a.name", "a.charset", "a.type", "a.hreflang", "a.rel", "a.rev", "a.shape",
        "a.coords", "img.src", "img.border", "img.alt", "img.longdesc", "img.height", "img.width",
        "img.usemap", "img.ismap", "map.name", "area.shape", "area.coords", "area.href",
        "area.nohref", "area.alt", "blockquote.cite", "q.cite", "table.summary", "table.width",
        "table.border", "table.frame", "table.rules", "table.cellspacing", "table.cellpadding",
        "pre.space", "td.nowrap",
    }
)  # fmt: skip
URL_ATTRIBUTES = frozenset({"a.href", "area.href", "img.src", "img.longdesc", "blockquote.cite", "q.cite"})
# Schemes a narrative link may use; relative references (``#id``, ``Patient/1``) carry none.
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "urn"})

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# Browsers ignore ASCII whitespace and control characters inside a scheme ("java\tscript:").
_IGNORED_IN_URL_RE = re.compile(r"[\x00-\x20\x7f]+")
# Inline styles may not fetch or run anything (IE's behavior and Mozilla's -moz-binding need url()
# too); CSS escapes are refused so that none of these can be spelled another way.
_STYLE_FORBIDDEN = ("url(", "image-set(", "expression(", "javascript:", "vbscript:", "@import", "\\")


class _Refused(Exception):
    """Raised inside an expat handler to stop parsing at the first forbidden construct."""


def narrative_problem(div: str) -> str | None:
    """Why ``div`` breaks FHIR R4 txt-1 or txt-2, or None when it is an acceptable narrative."""
    checker = _Checker()
    try:
        checker.parse(div)
    except _Refused as exc:
        return f"Narrative breaks FHIR rule txt-1: {exc}"
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) if exc.code else str(exc)
        if exc.code == expat.errors.codes[expat.errors.XML_ERROR_UNDEFINED_ENTITY]:
            reason += "; XHTML has only &amp; &lt; &gt; &quot; &apos; and numeric ones such as &#160;"
        return (
            f"Narrative breaks FHIR rule txt-1: the div is not well-formed XML ({reason}, "
            f"line {exc.lineno}, column {exc.offset + 1})"
        )
    if not checker.has_content:
        return "Narrative breaks FHIR rule txt-2: the div has no text and no image"
    return None


class _Checker:
    def __init__(self) -> None:
        self.depth = 0
        self.has_content = False

    def parse(self, div: str) -> None:
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.namespace_prefixes = True
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.XmlDeclHandler = self._xml_declaration
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._entity
        parser.UnparsedEntityDeclHandler = self._entity
        parser.NotationDeclHandler = self._entity
        parser.ExternalEntityRefHandler = self._external_entity
        parser.ProcessingInstructionHandler = self._processing_instruction
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        parser.Parse(div, True)

    @staticmethod
    def _xml_declaration(*_: object) -> None:
        raise _Refused("an XML declaration is not allowed; the narrative starts with <div>")

    @staticmethod
    def _doctype(*_: object) -> None:
        raise _Refused("a DOCTYPE is not allowed")

    @staticmethod
    def _entity(*_: object) -> None:
        raise _Refused("entity and notation declarations are not allowed")

    @staticmethod
    def _external_entity(*_: object) -> int:
        raise _Refused("external entities are not allowed")

    @staticmethod
    def _processing_instruction(*_: object) -> None:
        raise _Refused("processing instructions are not allowed")

    def _start(self, qualified: str, attributes: dict[str, str]) -> None:
        # expat names elements "local", "namespace local" or "namespace local prefix".
        parts = qualified.split(" ")
        if len(parts) != 2 or parts[0] != XHTML_NS:
            shown = parts[0] if len(parts) == 1 else ":".join(reversed(parts[1:]))
            if self.depth == 0:
                raise _Refused(f'the narrative must be a <div xmlns="{XHTML_NS}">, not <{shown}>')
            raise _Refused(f"element <{shown}> is not in the default XHTML namespace")
        name = parts[1]
        if self.depth == 0 and name != "div":
            raise _Refused(f'the narrative must be a <div xmlns="{XHTML_NS}">, not <{name}>')
        if name not in ELEMENTS:
            raise _Refused(f"element <{name}> is not allowed")
        if name == "img":
            self.has_content = True
        for key, value in attributes.items():
            attribute = _attribute_name(key)
            combo = f"{name}.{attribute}"
            if attribute not in ATTRIBUTES and combo not in ELEMENT_ATTRIBUTES:
                raise _Refused(f"attribute '{attribute}' is not allowed on <{name}>")
            if combo in URL_ATTRIBUTES and (problem := _url_problem(value)):
                raise _Refused(f"{problem} in '{attribute}' of <{name}>")
            if attribute == "style" and any(bad in value.lower() for bad in _STYLE_FORBIDDEN):
                raise _Refused(f"the style of <{name}> may not load URLs, run expressions or use escapes")
        self.depth += 1

    def _end(self, _: str) -> None:
        self.depth -= 1

    def _text(self, data: str) -> None:
        if not self.has_content and not data.isspace():
            self.has_content = True


def _attribute_name(key: str) -> str:
    parts = key.split(" ")
    if len(parts) == 1:
        return key
    if parts[0] == _XML_NS and parts[1] == "lang":
        return "xml:lang"
    # Any other namespaced attribute (xlink:href, ...) is outside the XHTML subset.
    return ":".join((parts[2], parts[1]) if len(parts) == 3 else (parts[0], parts[1]))


def _url_problem(value: str) -> str | None:
    match = _SCHEME_RE.match(_IGNORED_IN_URL_RE.sub("", value))
    if match is None:
        return None  # a relative reference or a fragment
    scheme = match.group(1).lower()
    if scheme in URL_SCHEMES:
        return None
    return f"the URL scheme '{scheme}:' is not allowed (only {', '.join(sorted(URL_SCHEMES))})"
