"""The Questionnaire as form fields, form posts back into answers, answer diffs and safe narratives."""

from datetime import UTC, datetime, timedelta, timezone

from werkzeug.datastructures import MultiDict

from sicdoc import questionnaires
from sicdoc.conversation.form import (
    answers_from_items,
    diff_answers,
    form_fields,
    other_text,
    parse_form,
    parse_when,
)
from sicdoc.views.narrative import safe_narrative


def test_every_question_becomes_a_field_in_questionnaire_order():
    fields = form_fields()
    assert [f.link_id for f in fields] == list(questionnaires.questions())
    by_id = {f.link_id: f for f in fields}
    assert by_id["participants"].control == "checkboxes" and by_id["participants"].required
    assert by_id["illness-understanding"].open_choice
    assert by_id["permission"].control == "radio"
    assert by_id["prognosis-shared"].control == "yesno"
    assert by_id["goals"].control == "textarea" and by_id["goals"].help
    assert (by_id["duration-minutes"].minimum, by_id["duration-minutes"].maximum) == (1, 600)


def test_a_post_becomes_answers_and_malformed_values_become_messages():
    post = MultiDict(
        [
            ("participants", "patient"),
            ("participants", "family"),
            ("illness-understanding", "unsure"),
            ("illness-understanding-other", "In her words\r\nsecond line"),
            ("prognosis-shared", "no"),
            ("goals", "  "),
            ("duration-minutes", "45"),
        ]
    )
    answers, errors = parse_form(post.getlist)
    assert errors == {}
    assert answers == {
        "participants": ["patient", "family"],
        "illness-understanding": ["unsure", "In her words\nsecond line"],
        "prognosis-shared": False,
        "duration-minutes": 45,
    }
    _, errors = parse_form(MultiDict([("duration-minutes", "ten"), ("prognosis-shared", "maybe")]).getlist)
    assert set(errors) == {"duration-minutes", "prognosis-shared"}


def test_answers_survive_the_round_trip_through_questionnaire_response_items():
    items = [
        {"linkId": "participants", "answer": [{"valueCoding": {"code": "patient"}}]},
        {
            "linkId": "illness-understanding",
            "answer": [{"valueCoding": {"code": "unsure"}}, {"valueString": "Own words"}],
        },
        {"linkId": "prognosis-shared", "answer": [{"valueBoolean": True}]},
        {"linkId": "duration-minutes", "answer": [{"valueInteger": 20}]},
        {"linkId": "not-ours", "answer": [{"valueString": "ignored"}]},
    ]
    answers = answers_from_items(items)
    assert answers == {
        "participants": ["patient"],
        "illness-understanding": ["unsure", "Own words"],
        "prognosis-shared": True,
        "duration-minutes": 20,
    }
    assert other_text("illness-understanding", answers["illness-understanding"]) == "Own words"


def test_diff_names_each_changed_question_by_its_label():
    changes = diff_answers({"code-status": "dnr", "goals": "Home"}, {"code-status": "full", "goals": "Home"})
    assert [(c.label, c.before, c.after) for c in changes] == [
        ("Code status", "Do not resuscitate", "Full code: attempt resuscitation")
    ]


def test_times_are_read_in_the_site_zone():
    zone = timezone(timedelta(hours=-5))
    assert parse_when("2026-01-05T10:00", zone) == datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    assert parse_when("yesterday", zone) is None


def test_narratives_keep_structure_and_lose_every_script_and_attribute():
    div = (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">Goals: <b>home</b><br/>'
        '<script>alert(1)</script><img src=x onerror="alert(2)">&lt;script&gt;</p>'
        '<a href="javascript:alert(3)">link</a></div>'
    )
    html = str(safe_narrative(div))
    # nh3 keeps the link text as an inert <a> (no href) marked rel="noopener noreferrer".
    assert (
        html == '<div><p>Goals: <b>home</b><br>&lt;script&gt;</p><a rel="noopener noreferrer">link</a></div>'
    )
