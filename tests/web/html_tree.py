"""A small HTML tree builder for tests that follows the browser's rules for where tags open and close.

The standard library's parser only reports tags; where an element ends is the tree builder's job
(HTML Living Standard, "the in body insertion mode"). This keeps the rules that decide whether
markup can leave its container: an end tag closes the nearest open element of its name, and every
element opened after it, unless a scope boundary (a table cell, a table, ...) lies between, and is
ignored when no such element is open; ``<br/>`` and the other void elements never open; ``<div/>``
opens a div (the slash means nothing in HTML); a block start tag closes an open ``<p>``. End tags that
closed nothing are kept in ``stray``: a page built from balanced parts has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
SCOPE = frozenset({"html", "table", "td", "th", "caption", "template", "applet", "object", "marquee"})
CLOSES_P = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
        "li", "main", "menu", "nav", "ol", "p", "pre", "section", "summary", "table", "ul",
    }
)  # fmt: skip


@dataclass(eq=False)
class Node:
    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    def elements(self) -> list[Node]:
        return [c for c in self.children if isinstance(c, Node)]

    def walk(self) -> Iterator[Node]:
        for child in self.elements():
            yield child
            yield from child.walk()

    def find_all(self, tag: str, cls: str | None = None) -> list[Node]:
        return [
            n
            for n in self.walk()
            if n.tag == tag and (cls is None or cls in (n.attrs.get("class") or "").split())
        ]

    def find(self, tag: str, cls: str | None = None) -> Node:
        found = self.find_all(tag, cls)
        assert len(found) == 1, f"expected one <{tag} class={cls}>, found {len(found)}"
        return found[0]

    def ancestors(self) -> list[Node]:
        out, node = [], self.parent
        while node is not None:
            out.append(node)
            node = node.parent
        return out

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def holding(self, text: str) -> Node:
        """The element whose own text (not a child element's) contains ``text``."""
        found = [n for n in self.walk() if any(isinstance(c, str) and text in c for c in n.children)]
        assert len(found) == 1, f"{text!r} appears in {len(found)} elements"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]
        self.stray: list[str] = []

    def _open_in_scope(
        self, tags: set[str] | frozenset[str], extra_scope: frozenset[str] = frozenset()
    ) -> int:
        for i in range(len(self.stack) - 1, 0, -1):
            tag = self.stack[i].tag
            if tag in tags:
                return i
            if tag in SCOPE or tag in extra_scope:
                return -1
        return -1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in CLOSES_P and (i := self._open_in_scope({"p"}, frozenset({"button"}))) > 0:
            del self.stack[i:]
        if tag == "li" and (i := self._open_in_scope({"li"}, frozenset({"ol", "ul"}))) > 0:
            del self.stack[i:]
        if tag in ("dd", "dt") and (i := self._open_in_scope({"dd", "dt"}, frozenset({"dl"}))) > 0:
            del self.stack[i:]
        node = Node(tag, dict(attrs), self.stack[-1])
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "br":  # </br> is read as <br>
            self.handle_starttag("br", [])
            return
        if tag in VOID:
            return
        i = self._open_in_scope({tag})
        if i > 0:
            del self.stack[i:]
        else:
            self.stray.append(tag)

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> tuple[Node, list[str]]:
    """(document root, end tags that closed nothing)."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root, builder.stray
