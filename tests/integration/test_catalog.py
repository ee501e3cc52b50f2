"""The SIC Questionnaire is published in the store and found at its canonical URL."""

from sicdoc.codes import SIC_QUESTIONNAIRE_URL
from sicdoc.services.catalog import publish_questionnaire


def test_publishing_twice_keeps_one_version(session, store):
    first = publish_questionnaire(session, store)
    again = publish_questionnaire(session, store)
    assert (first.id, first.version_id) == ("serious-illness-conversation", 1)
    assert again.version_id == 1


def test_questionnaire_is_served_at_its_canonical_url(app, fhir_client, session, store):
    client = fhir_client
    publish_questionnaire(session, store)
    found = client.get(f"/fhir/Questionnaire?url={SIC_QUESTIONNAIRE_URL}").get_json()
    assert found["total"] == 1
    questionnaire = found["entry"][0]["resource"]
    assert questionnaire["url"] == SIC_QUESTIONNAIRE_URL
    labels = [item.get("text") for item in questionnaire["item"]]
    assert "Code status" in labels
    assert client.get("/fhir/Questionnaire?url=https://elsewhere.example/Q").get_json()["total"] == 0
