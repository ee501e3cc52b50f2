"""The filters of a QI answer in words (the top of an export) and as a file-name part."""

import re
from datetime import date

import pytest

from sicdoc.analytics.scope import Scope, parse_qi_scope, slugify

TODAY = date(2026, 11, 17)
SAFE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def scope(**params: str) -> Scope:
    return parse_qi_scope({"as_of": "2026-06-30", **params}, today=TODAY)


def test_no_filters_say_all_and_add_nothing_but_the_cut_off():
    plain = scope()
    assert plain.filters_text() == (
        "Filters: all cohorts (stroke, heart failure, cancer); all sites; all units; "
        "period start to end; data as of 2026-06-30."
    )
    assert plain.slug() == "as-of-2026-06-30"
    assert plain.slug(suppressed=True) == "as-of-2026-06-30"
    assert plain.slug(suppressed=False) == "as-of-2026-06-30-unsuppressed"


def test_one_cohort_a_unit_and_a_period():
    named = scope(cohort="heart_failure", unit="Neuro ICU", **{"from": "2026-01-10", "to": "2026-06-30"})
    assert named.filters_text(suppressed=True) == (
        "Filters: cohort heart failure; all sites; unit Neuro ICU; period 2026-01-01 to 2026-06-30; "
        "data as of 2026-06-30; suppressed."
    )
    assert named.slug() == "heart-failure-neuro-icu-2026-01-to-2026-06-as-of-2026-06-30"
    assert named.filters_text(suppressed=False).endswith("; unsuppressed.")


def test_several_cohorts_and_a_site():
    several = Scope(
        as_of=date(2026, 6, 30),
        period_from=date(2026, 1, 1),
        period_to=None,
        cohorts=("stroke", "cancer"),
        site="St. Mary's (North)",
        granularity="day",
    )
    assert "cohorts stroke, cancer; site St. Mary's (North); all units" in several.filters_text()
    assert several.slug() == "stroke-cancer-st-mary-s-north-2026-01-01-to-end-as-of-2026-06-30"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Neuro ICU", "neuro-icu"),
        ("  Neuro -- ICU!! ", "neuro-icu"),
        ("Cardiología 3ª", "cardiologia-3a"),
        ("Ünit Ø/ß", None),  # letters with no ASCII form: the slug keeps a hash
        ("神经内科", None),
        ("=cmd|'/c calc'!A0", "cmd-c-calc-a0"),
        ("../../etc/passwd", "etc-passwd"),
    ],
)
def test_slugs_are_safe_file_name_parts(name, expected):
    slug = slugify(name)
    assert SAFE.match(slug), slug
    assert slug == slugify(name)
    if expected is not None:
        assert slug == expected
    assert len(slug) <= 70


def test_names_that_lose_characters_stay_apart():
    assert slugify("神经内科") != slugify("心脏内科")
    assert slugify("Ünit Ø") != slugify("Ünit Œ")
    assert len(slugify("x" * 128)) <= 70 and slugify("x" * 128) != slugify("x" * 127)


def test_the_same_scope_always_gives_the_same_name_and_words():
    first = scope(cohort="stroke", unit="Unité Neuro-Vasculaire", site="Hôpital Nord")
    again = scope(cohort="stroke", unit="Unité Neuro-Vasculaire", site="Hôpital Nord")
    assert first.slug() == again.slug() == "stroke-hopital-nord-unite-neuro-vasculaire-as-of-2026-06-30"
    assert first.filters_text() == again.filters_text()
    assert "unit Unité Neuro-Vasculaire" in first.filters_text()
