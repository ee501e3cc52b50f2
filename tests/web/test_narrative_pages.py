"""Narratives an EHR posted stay inside the note on the clinician pages (issue 12, item 9)."""

from sicdoc.fhir import validation
from tests.web.fhir_helpers import patient, send, table_counts
from tests.web.forms_helpers import clinician_client  # noqa: F401 - this module's ``client``
from tests.web.html_tree import parse

XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'
FAKE_BANNER = "Code status: FULL CODE"
# Closes the narrative, the section, the article and <main>, then draws a banner like the page's own.
BREAKOUT = (
    f"<div {XHTML}><p>Goals: comfort at home</p></div></div></section></article></main>"
    f'<div class="patient-banner" style="position:fixed;top:0">{FAKE_BANNER}</div>'
    '<p class="actions"><a href="javascript:alert(1)" onclick="steal()">Sign again</a></p>'
)


def data_counts(app):
    """Row counts of every table but the audit trail's, which records refused requests too."""
    return {name: n for name, n in table_counts(app).items() if not name.startswith("audit_")}


def ehr_conversation(client, sections):
    """Post a patient, a conversation Procedure and its note as an EHR would: (Procedure id, note response)."""
    pid = send(client, "POST", "/fhir/Patient", patient("NAR-1")).get_json()["id"]
    procedure = {
        "resourceType": "Procedure",
        "identifier": [{"system": "urn:ehr:sic", "value": "NAR-1-sic"}],
        "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "713603004"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "performedDateTime": "2025-03-04T10:00:00Z",
    }
    procedure_id = send(client, "POST", "/fhir/Procedure", procedure).get_json()["id"]
    return procedure_id, post_note(client, f"Patient/{pid}", "NAR-1-sic-note", sections)


def post_note(client, subject, identifier, sections):
    note = {
        "resourceType": "Composition",
        "identifier": {"system": "urn:ehr:sic", "value": identifier},
        "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
        "subject": {"reference": subject},
        "date": "2025-03-04T10:30:00Z",
        "author": [{"display": "Dr. EHR"}],
        "title": "Serious illness conversation",
        "section": [{"title": title, "text": {"status": "generated", "div": div}} for title, div in sections],
    }
    return send(client, "POST", "/fhir/Composition", note)


def test_a_narrative_that_closes_the_page_containers_stays_inside_the_note(client, monkeypatch):
    # The API now refuses such a narrative (tests/web/test_fhir_narratives.py); rows stored before
    # that rule, or by a direct database load, still reach the page, so the input rule is lifted here.
    monkeypatch.setattr(validation, "narrative_problem", lambda div: None)
    sections = [("Goals", BREAKOUT), ("Recommendation", f"<div {XHTML}><p>Hospice referral</p></div>")]
    procedure_id, resp = ehr_conversation(client, sections)
    assert resp.status_code == 201, resp.get_json()
    page = client.get(f"/conversations/{procedure_id}")
    assert page.status_code == 200
    root, stray = parse(page.get_data(as_text=True))
    assert stray == []  # no end tag in the page closed something it did not open
    main = root.find("main")
    article = root.find("article", "note")
    fake = root.holding(FAKE_BANNER)
    narratives = article.find_all("div", "narrative")
    assert len(narratives) == 2 and narratives[0] in fake.ancestors()
    assert article in fake.ancestors() and main in fake.ancestors()
    assert fake.attrs == {}  # no class or style borrowed from the page
    # The page's own structure around and after the note is intact.
    assert article.parent is main
    sections_found = article.find_all("section", "note-section")
    assert [s.find("h2").text() for s in sections_found] == ["Goals", "Recommendation"]
    assert all(s.elements()[-1].attrs.get("class") == "narrative" for s in sections_found)
    assert "Hospice referral" in narratives[1].text()
    actions = root.find_all("p", "actions")
    assert len(actions) == 1 and actions[0].parent is main  # the note's fake one lost its class
    assert [e.tag for e in main.elements()][-2:] == ["article", "p"]
    assert len(root.find_all("div", "patient-banner")) == 1
    links = {a.text(): a.attrs for a in root.walk() if a.tag == "a"}
    assert "href" not in links["Sign again"] and "onclick" not in links["Sign again"]
    assert "Back to the patient" in actions[0].text()


def test_an_allowed_narrative_keeps_its_structure_and_links(client):
    div = (
        f"<div {XHTML}><p>Wants <b>time at home</b>.</p><ul><li>Hospice</li><li>No ICU</li></ul>"
        '<table><tr><th scope="row">Agent</th><td>Maria</td></tr></table>'
        '<p><a href="https://example.org/acp">Advance care plan</a> '
        '<a href="Procedure/1" class="x" id="main">the procedure</a></p></div>'
    )
    procedure_id, resp = ehr_conversation(client, [("Goals", div)])
    assert resp.status_code == 201, resp.get_json()
    root, stray = parse(client.get(f"/conversations/{procedure_id}").get_data(as_text=True))
    assert stray == []
    narrative = root.find("div", "narrative")
    assert [li.text() for li in narrative.find_all("li")] == ["Hospice", "No ICU"]
    assert narrative.find("th").attrs == {"scope": "row"} and narrative.find("td").text() == "Maria"
    links = {a.text(): a.attrs for a in narrative.find_all("a")}
    assert links["Advance care plan"] == {"href": "https://example.org/acp", "rel": "noopener noreferrer"}
    assert links["the procedure"] == {"rel": "noopener noreferrer"}  # relative: text only, no id clash
    assert len([n for n in root.walk() if n.attrs.get("id") == "main"]) == 1


def test_the_same_breakout_is_refused_by_the_api_and_stores_nothing(app, client):
    _, resp = ehr_conversation(client, [("Goals", f"<div {XHTML}><p>ok</p></div>")])
    subject = resp.get_json()["subject"]["reference"]
    before = data_counts(app)
    resp = post_note(client, subject, "NAR-2-note", [("Goals", BREAKOUT)])
    assert resp.status_code == 400
    issue = resp.get_json()["issue"][0]
    assert issue["expression"] == ["Composition.section[0].text.div"] and "txt-1" in issue["diagnostics"]
    assert data_counts(app) == before
