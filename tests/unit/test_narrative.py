"""FHIR narratives: the input rule (txt-1, txt-2) and the output sanitizer (issue 12, item 9)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sicdoc.errors import InvalidInput
from sicdoc.fhir.narrative import narrative_problem
from sicdoc.fhir.validation import validate_resource
from sicdoc.views.narrative import clean_narrative
from tests.web.html_tree import parse

X = 'xmlns="http://www.w3.org/1999/xhtml"'


@pytest.mark.parametrize(
    "div",
    [
        f"<div {X}>Hello</div>",
        f'<div {X} xml:lang="en" lang="en"><p>Goals: <b>home</b><br/>&lt;b&gt; &amp; &#160;</p></div>',
        f'<div {X}><img src="https://example.org/a.png" alt=""/></div>',  # an image counts as content
        f'<div {X}><img src="#photo"/></div>',
        f'<div {X}><table border="1"><tbody><tr><td colspan="2">x</td></tr></tbody></table></div>',
        f'<div {X}><a href="Procedure/1">p</a> <a href="urn:uuid:0">u</a> <a href="mailto:a@b.org">m</a></div>',
        f'<div {X}><a name="top">top</a><p style="color: red" class="c" id="i">x</p><!-- a comment --></div>',
        f"<div {X}><div {X}><h1>Nested</h1></div></div>",
        f"<div {X}><![CDATA[ text ]]></div>",
    ],
)
def test_narratives_within_the_r4_rules_are_accepted(div):
    assert narrative_problem(div) is None


@pytest.mark.parametrize(
    ("div", "reason"),
    [
        ("<div>No namespace</div>", "must be a <div xmlns"),
        (f"<p {X}>Not a div</p>", "must be a <div xmlns"),
        ('<h:div xmlns:h="http://www.w3.org/1999/xhtml">x</h:div>', "must be a <div xmlns"),
        (f"<div {X}><script>alert(1)</script>x</div>", "element <script> is not allowed"),
        (f"<div {X}><form><input/></form>x</div>", "element <form> is not allowed"),
        (f"<div {X}><iframe src='https://x'/>x</div>", "element <iframe> is not allowed"),
        (f"<div {X}><style>p{{}}</style>x</div>", "element <style> is not allowed"),
        (f'<div {X}><svg xmlns="http://www.w3.org/2000/svg"/>x</div>', "not in the default XHTML namespace"),
        (f'<div {X}><p onclick="x()">x</p></div>', "attribute 'onclick' is not allowed on <p>"),
        (f'<div {X}><img src="a.png" onerror="x()"/></div>', "attribute 'onerror'"),
        (f'<div {X}><p href="https://x">x</p></div>', "attribute 'href' is not allowed on <p>"),
        (
            f'<div {X} xmlns:l="http://www.w3.org/1999/xlink"><a l:href="https://x">x</a></div>',
            "attribute 'l:href'",
        ),
        (f'<div {X}><a href="javascript:alert(1)">x</a></div>', "scheme 'javascript:'"),
        (f'<div {X}><a href=" JaVa&#x09;Script:alert(1)">x</a></div>', "scheme 'javascript:'"),
        (f'<div {X}><a href="vbscript:x">x</a></div>', "scheme 'vbscript:'"),
        (f'<div {X}><img src="data:image/png;base64,AAAA"/></div>', "scheme 'data:'"),
        (f'<div {X}><q cite="data:text/html,x">x</q></div>', "scheme 'data:'"),
        (f'<div {X}><p style="background: url(https://x/t.png)">x</p></div>', "style of <p>"),
        (f'<div {X}><p style="width: expression(alert(1))">x</p></div>', "style of <p>"),
        (f"<!DOCTYPE div><div {X}>x</div>", "DOCTYPE"),
        (f'<!DOCTYPE d [<!ENTITY a "aaaaaaaa">]><div {X}>&a;&a;&a;</div>', "DOCTYPE"),
        (f'<!DOCTYPE d SYSTEM "file:///etc/passwd"><div {X}>x</div>', "DOCTYPE"),
        (f'<div {X}><?xml-stylesheet href="https://x"?>x</div>', "processing instructions"),
        (f'<?xml version="1.0"?><div {X}>x</div>', "XML declaration"),
        (f"<div {X}>&nbsp;x</div>", "undefined entity"),
        (f"<div {X}><p>x</div>", "not well-formed"),
        (f"<div {X}>x</div></div></main><div>banner</div>", "not well-formed"),
        (f"<div {X}>x</div><div {X}>y</div>", "not well-formed"),
        ("plain text", "not well-formed"),
        (f"<div {X}>  <p> </p>\n</div>", "txt-2"),
        (f"<div {X}><!-- only a comment --></div>", "txt-2"),
    ],
)
def test_narratives_breaking_txt_1_or_txt_2_are_refused_with_a_reason(div, reason):
    problem = narrative_problem(div)
    assert problem is not None and reason in problem, problem
    assert ("txt-2" if reason == "txt-2" else "txt-1") in problem


def test_deep_nesting_costs_no_recursion():
    div = f"<div {X}>" + "<span>" * 50_000 + "x" + "</span>" * 50_000 + "</div>"
    assert narrative_problem(div) is None


BAD = {"status": "generated", "div": f'<div {X}><a href="javascript:x()">x</a></div>'}
GOOD = {"status": "generated", "div": f"<div {X}>fine</div>"}


def expressions(resource):
    with pytest.raises(InvalidInput) as caught:
        validate_resource(resource)
    return [(i.code, i.expression) for i in caught.value.issues]


def test_every_narrative_in_a_resource_is_checked_and_named():
    composition = {
        "resourceType": "Composition",
        "status": "final",
        "type": {"text": "note"},
        "date": "2025-01-01",
        "author": [{"display": "Dr. A"}],
        "title": "Note",
        "text": BAD,
        "contained": [{"resourceType": "Patient", "text": BAD}],
        "section": [
            {"title": "A", "text": GOOD},
            {
                "title": "B",
                "text": GOOD,
                "section": [{"title": "B1", "text": GOOD}, {"title": "B2", "text": BAD}],
            },
        ],
    }
    assert expressions(composition) == [
        ("invariant", "Composition.text.div"),
        ("invariant", "Composition.contained[0].text.div"),
        ("invariant", "Composition.section[1].section[1].text.div"),
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "text": GOOD}}, {"resource": {**composition}}],
    }
    assert ("invariant", "Bundle.entry[1].resource.section[1].section[1].text.div") in expressions(bundle)


def test_a_blank_div_is_reported_once_as_blank():
    assert expressions({"resourceType": "Patient", "text": {"status": "empty", "div": "  "}}) == [
        ("value", "Patient.text.div")
    ]


BREAKOUT = f"<div {X}><p>ok</p></div></div></section></article></main><div class='banner'>FULL CODE</div>"


@pytest.mark.parametrize(
    ("div", "html"),
    [
        (
            f'<div {X}><p onclick="x()">Goals: <b>home</b><br/><script>alert(1)</script>'
            '<img src=x onerror="alert(2)">&lt;script&gt;</p><a href="javascript:alert(3)">link</a></div>',
            '<div><p>Goals: <b>home</b><br>&lt;script&gt;</p><a rel="noopener noreferrer">link</a></div>',
        ),
        (BREAKOUT, "<div><p>ok</p></div><div>FULL CODE</div>"),
        (
            f'<div {X}><a href="https://x.org/?a=1&amp;b=2" class="banner" id="main">x</a>'
            '<a href="Patient/1">rel</a><a href="data:text/html,x">d</a></div>',
            '<div><a href="https://x.org/?a=1&amp;b=2" rel="noopener noreferrer">x</a>'
            '<a rel="noopener noreferrer">rel</a><a rel="noopener noreferrer">d</a></div>',
        ),
        (
            f'<div {X}><table style="position:fixed"><tr><td colspan="2">c</td></tr></table></div>',
            '<div><table><tbody><tr><td colspan="2">c</td></tr></tbody></table></div>',
        ),
        (
            f"<div {X}><style>main{{display:none}}</style><form><textarea>t</textarea></form>"
            "<!-- c --><svg><text>s</text></svg>kept</div>",
            "<div>kept</div>",
        ),
        ("<div/>after", "<div>after</div>"),
        # One pass gives <li><li></li><table></table></li>, which a browser reads as two list items
        # and a stray </li>; cleaning until stable gives what the browser builds.
        ("<li><table><li>", "<li></li><li></li><table></table>"),
        (None, ""),
    ],
)
def test_output_keeps_only_the_allow_list_and_balances_tags(div, html):
    assert clean_narrative(div) == html


FRAGMENTS = st.lists(
    st.sampled_from(
        [
            "<div>", "</div>", "<p>", "</p>", "<b>", "</b>", "<table>", "<tr>", "<td>", "</td>", "</table>",
            "<ul>", "<li>", "</ul>", "</section>", "</article>", "</main>", "</body>", "</html>", "<br/>",
            "<div/>", "<script>", "</script>", "<style>", "<textarea>", "<!--", "-->", "<![CDATA[", "]]>",
            "<a href='javascript:x'>", "</a>", "<img src=x onerror=y>", "text", "&lt;", "<", ">", "'", '"',
        ]
    ),
    max_size=40,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(FRAGMENTS)
def test_any_narrative_stays_inside_its_container(parts):
    page = (
        f'<main><div class="narrative">{clean_narrative("".join(parts))}</div><p class="after">end</p></main>'
    )
    root, stray = parse(page)
    assert stray == []
    main = root.find("main")
    assert [(e.tag, e.attrs) for e in main.elements()] == [
        ("div", {"class": "narrative"}),
        ("p", {"class": "after"}),
    ]
    cleaned = clean_narrative("".join(parts))
    assert "<script" not in cleaned and "onerror" not in cleaned and "javascript:" not in cleaned
    assert clean_narrative(cleaned) == cleaned  # the browser reads back the tree that was checked
