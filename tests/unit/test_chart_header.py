"""The header's field rules, without a database: latest documented value, gaps and a changed code status."""

from datetime import UTC, date, datetime

from sicdoc.conversation import Answer
from sicdoc.services.chart_header import (
    NOT_DISCUSSED,
    NOT_RECORDED,
    Documented,
    Header,
    HeaderField,
    build_header,
)


def conv(
    pid: str, day: tuple[int, int], author: str = "Dr A", code_status: str | None = None, **answers: Answer
) -> Documented:
    when = datetime(2026, day[0], day[1], 9, tzinfo=UTC)
    return Documented(pid, when, author, answers, code_status)


def test_no_conversation_gives_an_empty_header():
    assert build_header([]) == Header()


def test_the_latest_documented_value_survives_later_notes_that_leave_it_out():
    header = build_header(
        [
            conv("c3", (11, 30), "Dr C"),
            conv("c2", (11, 2), "Dr B", **{"goals": " "}),  # blank text documents nothing
            conv("c1", (10, 2), "Dr A", **{"code-status": "dnr-dni", "goals": "Home"}),
        ]
    )
    assert header.procedure_id == "c3" and header.author == "Dr C"
    status = header.code_status
    assert status is not None
    assert (status.value, status.code, status.author, status.procedure_id) == (
        "Do not resuscitate, do not intubate",
        "dnr-dni",
        "Dr A",
        "c1",
    )
    assert [(g.procedure_id, g.reason) for g in status.gaps] == [("c3", NOT_RECORDED), ("c2", NOT_RECORDED)]
    assert header.goals is not None and header.goals.value == "Home"
    assert status.previous is None


def test_only_a_changed_code_status_between_the_last_two_documenting_it_is_flagged():
    header = build_header(
        [
            conv("c4", (11, 30), **{"code-status": "dnr", "goals": "Garden"}),
            conv("c3", (11, 2)),
            conv("c2", (10, 2), **{"code-status": "full", "goals": "Travel"}),
            conv("c1", (9, 2), **{"code-status": "dnr"}),
        ]
    )
    status = header.code_status
    assert status is not None and status.previous is not None
    assert (status.previous.code, status.previous.procedure_id) == ("full", "c2")
    assert header.goals is not None and header.goals.previous is None  # only code status is flagged
    same = build_header(
        [conv("b", (11, 1), **{"code-status": "dnr"}), conv("a", (10, 1), **{"code-status": "dnr"})]
    )
    assert same.code_status is not None and same.code_status.previous is None


def test_a_conversation_without_answers_uses_the_projected_code_status():
    header = build_header([conv("ehr", (3, 4), "Dr EHR", code_status="dnr")])
    assert header.code_status is not None and header.code_status.value == "Do not resuscitate"
    unknown = build_header([conv("ehr", (3, 4), code_status="X9")])
    assert unknown.code_status is not None and unknown.code_status.value == "X9"  # shown as given


def test_prognosis_answered_no_is_a_gap_and_on_its_own_reads_not_discussed():
    shared = {"prognosis-shared": True, "prognosis-framing": "uncertain", "prognosis-comment": "Hard to say."}
    header = build_header([conv("c2", (11, 1), **{"prognosis-shared": False}), conv("c1", (10, 1), **shared)])
    prognosis = header.prognosis
    assert prognosis is not None
    assert prognosis.value == "Shared with the patient (Uncertain course): Hard to say."
    assert [(g.procedure_id, g.reason) for g in prognosis.gaps] == [("c2", NOT_DISCUSSED)]
    only_no = build_header([conv("c2", (11, 1)), conv("c1", (10, 1), **{"prognosis-shared": False})])
    assert only_no.prognosis is not None
    assert (only_no.prognosis.value, only_no.prognosis.procedure_id) == ("Not discussed", "c1")
    assert [g.procedure_id for g in only_no.prognosis.gaps] == ["c2"]


def test_a_goal_recorded_outside_conversations_fills_goals_only_when_none_documented_one():
    goal = HeaderField("goals", "What matters most", "Walk the dog", when=date(2026, 5, 1), author="Ana")
    header = build_header([conv("c1", (10, 1))], goal)
    assert header.goals is not None and (header.goals.value, header.goals.when) == (
        "Walk the dog",
        date(2026, 5, 1),
    )
    documented = build_header([conv("c1", (10, 1), goals="Home")], goal)
    assert documented.goals is not None and documented.goals.value == "Home"


def test_details_hold_the_nuanced_fields_in_reading_order():
    header = build_header([conv("c1", (10, 1))])
    assert [f.key for f in header.details] == ["goals", "recommendation", "prognosis"]
    assert header.agent is not None and header.agent.value is None


def test_the_care_focus_is_the_latest_by_date_across_conversations_and_ehr_observations():
    ehr = Documented("", datetime(2026, 10, 20, 12, tzinfo=UTC), "Dr E", {"care-focus": "LA33475-7"})
    header = build_header(
        [
            conv("c3", (11, 30)),
            conv("c2", (10, 2), **{"care-focus": "LA33473-2"}),
            Documented("c1", datetime(2026, 9, 2, 9, tzinfo=UTC), "Dr A", {}, care_focus="LA33474-0"),
        ],
        care_focus=[ehr],
    )
    focus = header.care_focus
    assert focus is not None and focus.previous is not None
    assert (focus.value, focus.code, focus.author, focus.procedure_id) == (
        "Comfort-focused treatments",
        "LA33475-7",
        "Dr E",
        None,
    )
    assert [(g.procedure_id, g.reason) for g in focus.gaps] == [("c3", NOT_RECORDED)]
    assert (focus.previous.value, focus.previous.procedure_id) == ("Full treatments", "c2")
    assert header.procedure_id == "c3"  # the latest conversation is still the latest conversation
    only_projection = build_header([conv("c1", (9, 2))])
    assert only_projection.care_focus is not None and only_projection.care_focus.value is None
    alone = build_header([], care_focus=[ehr])
    assert alone.procedure_id is None and alone.care_focus is not None
    assert alone.care_focus.value == "Comfort-focused treatments" and alone.care_focus.previous is None
