"""A dashboard built for one filter after others on the same frames is the one fresh frames give.

Tables that do not depend on the period or place asked for (each admission's first consult, each
decedent's end-of-life care, each admission's first event) are built once per frames and every
filter picks its rows; nothing one filter asked for may change what the next one shows.
"""

import functools
from datetime import date
from pathlib import Path

import pandas as pd

from bench.population import frames_from_rows, plan_rows
from sicdoc.analytics.clinicians import ClinicianLabels
from sicdoc.analytics.frames import Frames
from sicdoc.analytics.scope import parse_qi_scope
from sicdoc.dashboards.build import build_tables
from sicdoc.dashboards.definitions import load_definitions

TODAY = date(2026, 6, 30)  # the generator's cut-off
BOARD = load_definitions(Path(__file__).resolve().parents[2] / "dashboards")["qi-overview"]


@functools.cache
def tables() -> dict[str, pd.DataFrame]:
    return frames_from_rows(plan_rows(400, seed=3))


def fresh() -> Frames:
    return Frames(**{name: table.copy() for name, table in tables().items()}).normalised()


def build(frames: Frames, params: dict[str, str]) -> tuple[dict, dict]:
    labels = ClinicianLabels("pseudonym", b"one key for both builds")
    return build_tables(frames, parse_qi_scope(params, today=TODAY), BOARD, "test", labels)


def assert_same(got: tuple[dict, dict], expected: tuple[dict, dict]) -> None:
    got_tables, got_report = got
    expected_tables, expected_report = expected
    assert got_tables.keys() == expected_tables.keys()
    for panel, table in expected_tables.items():
        pd.testing.assert_frame_equal(got_tables[panel], table, obj=panel)
    assert got_report == expected_report


def test_a_filter_after_others_on_the_same_frames_shows_what_fresh_frames_show():
    encounters = tables()["encounters"]
    site = encounters["site"].dropna().value_counts().index[0]
    unit = encounters.loc[encounters["site"] == site, "unit"].dropna().value_counts().index[0]
    filters = [
        {},
        {"cohort": "stroke", "from": "2024-03-01"},
        {"cohort": "heart_failure", "from": "2025-01-01", "to": "2025-12-31", "site": site},
        {"cohort": "cancer", "from": "2023-07-01", "site": site, "unit": unit},
        {"from": "2025-06-01"},
    ]
    used = fresh()
    for params in filters:
        assert_same(build(used, params), build(fresh(), params))
    # And the first again, after all the others.
    assert_same(build(used, filters[1]), build(fresh(), filters[1]))
