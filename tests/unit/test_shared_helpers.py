"""Concepts with one home: roles, UTC instants, secret digests, page sizes and ETags."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sicdoc.errors import InvalidInput
from sicdoc.fhir.dates import as_utc, format_instant
from sicdoc.fhir.search import DEFAULT_COUNT, MAX_COUNT, page_size, parse_etag
from sicdoc.security.opaque import digest, new_secret
from sicdoc.security.roles import ROLES, Role


def test_every_place_that_names_roles_reads_the_one_list():
    from sicdoc.cli.people import users_create, users_set_role
    from sicdoc.models.security import User
    from sicdoc.security.rules import EVERYONE

    assert ROLES == ("clinician", "qi_analyst", "admin") == tuple(Role)
    assert set(ROLES) == EVERYONE
    check = next(c for c in User.__table__.constraints if c.name == "ck_app_user_role")
    assert str(check.sqltext) == "role IN ('clinician', 'qi_analyst', 'admin')"
    role_option = next(p for p in users_create.params if p.name == "role")
    assert tuple(role_option.type.choices) == ROLES
    assert tuple(next(p for p in users_set_role.params if p.name == "role").type.choices) == ROLES


def test_as_utc_takes_a_naive_time_as_utc_and_converts_an_aware_one():
    naive = datetime(2026, 3, 1, 12, 0)
    assert as_utc(naive) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    east = datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert as_utc(east).tzinfo is UTC and as_utc(east).hour == 12
    assert format_instant(east) == "2026-03-01T12:00:00.000Z"


def test_secrets_are_random_and_stored_as_their_sha256():
    one, two = new_secret(), new_secret()
    assert one != two and len(one) >= 43
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_page_size_defaults_and_caps():
    assert page_size(None) == DEFAULT_COUNT
    assert page_size("7") == 7
    assert page_size("99999999999999999999") == MAX_COUNT
    with pytest.raises(InvalidInput, match="_count must be a whole number"):
        page_size("²")


@pytest.mark.parametrize(("raw", "version"), [('W/"3"', 3), ('"3"', 3), ("3", 3), (' W/"12" ', 12)])
def test_an_etag_names_a_version(raw, version):
    assert parse_etag(raw) == version


@pytest.mark.parametrize("raw", ['W/"x"', 'W/"3', "", 'W/"99999999999"', 3, "9" * 65])
def test_anything_else_is_not_an_etag(raw):
    with pytest.raises(InvalidInput, match="must be an ETag"):
        parse_etag(raw)
