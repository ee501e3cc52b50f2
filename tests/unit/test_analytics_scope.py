"""The QI period: whole months only, one parser for every QI face."""

from datetime import date

import pytest

from sicdoc.analytics.scope import (
    ScopeError,
    last_complete_month_end,
    month_end,
    months_before,
    parse_qi_scope,
    parse_scope,
)

TODAY = date(2026, 11, 17)


@pytest.mark.parametrize(
    ("day", "end", "complete"),
    [
        (date(2026, 11, 17), date(2026, 11, 30), date(2026, 10, 31)),
        (date(2026, 11, 30), date(2026, 11, 30), date(2026, 11, 30)),
        (date(2026, 12, 1), date(2026, 12, 31), date(2026, 11, 30)),
        (date(2024, 2, 10), date(2024, 2, 29), date(2024, 1, 31)),
        (date(2026, 1, 5), date(2026, 1, 31), date(2025, 12, 31)),
        (date(9999, 12, 15), date(9999, 12, 31), date(9999, 11, 30)),
    ],
)
def test_month_ends(day, end, complete):
    assert month_end(day) == end
    assert last_complete_month_end(day) == complete


def test_months_before_crosses_years():
    assert months_before(date(2026, 2, 1), 23) == date(2024, 3, 1)
    assert months_before(date(2026, 2, 1), 0) == date(2026, 2, 1)
    assert months_before(date(2026, 1, 1), 1) == date(2025, 12, 1)


def test_consecutive_days_give_one_scope():
    scopes = [parse_qi_scope({"as_of": f"2026-06-{d}"}, today=TODAY) for d in (10, 11, 12, 13)]
    assert {s.key() for s in scopes} == {scopes[0].key()}
    assert scopes[0].as_of == date(2026, 5, 31) and scopes[0].granularity == "month"
    assert "2026-06-10 was taken as 2026-05-31" in scopes[0].note


def test_dates_move_to_month_boundaries_and_the_answer_says_so():
    scope = parse_qi_scope({"as_of": "2026-06-30", "from": "2025-02-17", "to": "2025-08-03"}, today=TODAY)
    assert (scope.period_from, scope.period_to, scope.as_of) == (
        date(2025, 2, 1),
        date(2025, 8, 31),
        date(2026, 6, 30),
    )
    assert (
        scope.note
        == "QI figures use whole months only: 'from' 2025-02-17 as 2025-02-01; 'to' 2025-08-03 as 2025-08-31."
    )
    described = scope.describe()
    assert described["time_granularity"] == "month"
    assert described["requested"] == {"as_of": "2026-06-30", "from": "2025-02-17", "to": "2025-08-03"}
    report = scope.annotate({"as_of": "2026-06-30", "period": {}, "cohorts": {}})
    assert list(report) == ["as_of", "period", "time_granularity", "requested", "note", "cohorts"]


def test_month_boundaries_need_no_note():
    scope = parse_qi_scope({"as_of": "2026-06-30", "from": "2025-02-01", "to": "2025-08-31"}, today=TODAY)
    assert scope.note is None


def test_the_default_cut_off_and_period_are_whole_months():
    scope = parse_qi_scope({}, today=TODAY, default_months=24)
    assert scope.as_of == date(2026, 10, 31)
    assert (scope.period_from, scope.period_to) == (date(2024, 11, 1), date(2026, 10, 31))
    assert "2026-11-17 was taken as 2026-10-31" in scope.note
    leap = parse_qi_scope({"as_of": "2026-02-28"}, today=TODAY, default_months=24)
    assert (leap.period_from, leap.period_to) == (date(2024, 3, 1), date(2026, 2, 28))


def test_bad_input_is_refused_before_rounding():
    with pytest.raises(ScopeError, match="in the future"):
        parse_qi_scope({"as_of": "2026-11-18"}, today=TODAY)
    with pytest.raises(ScopeError, match="is after 'to'"):
        parse_qi_scope({"from": "2025-03-20", "to": "2025-03-02"}, today=TODAY)


def test_day_level_scopes_are_unchanged():
    scope = parse_scope({"as_of": "2026-06-12"}, today=TODAY, default_months=12)
    assert scope.as_of == date(2026, 6, 12) and scope.granularity == "day" and scope.note is None
    assert (scope.period_from, scope.period_to) == (date(2025, 6, 13), date(2026, 6, 12))


@pytest.mark.parametrize("name", ["as_of", "from", "to"])
def test_dates_before_1900_are_refused_by_name(name):
    with pytest.raises(ScopeError, match=f"'{name}' 0001-01-15 is before 1900-01-01"):
        parse_qi_scope({name: "0001-01-15"}, today=TODAY)


def test_a_scope_cuts_every_table_to_its_period_and_place():
    from sicdoc.analytics.frames import EVERYWHERE, Where

    scope = parse_scope({"from": "2025-01-01", "to": "2025-06-30", "site": "North"}, today=date(2025, 7, 1))
    assert scope.where == Where(date(2025, 1, 1), date(2025, 6, 30), "North", None)
    assert Where(None, None, None, None) == EVERYWHERE
