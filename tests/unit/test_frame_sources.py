"""Which projection tables a change of data version may have touched."""

from sicdoc.store.frames import SOURCES, TABLES, changed_tables
from sicdoc.store.projections import PROJECTED

TYPES = sorted(PROJECTED)


def version(**latest: str) -> str:
    return "|".join(latest.get(t, "-") for t in TYPES)


def test_each_type_maps_to_the_tables_it_feeds():
    before = version(Patient="2026-01-01T00:00:00")
    assert changed_tables(before, version(Patient="2026-01-02T00:00:00")) == {"patients"}
    assert changed_tables(
        before, version(Patient="2026-01-01T00:00:00", Encounter="2026-01-02T00:00:00")
    ) == {
        "encounters",
        "consults",
        "care_events",
    }
    assert changed_tables(before, version(Patient="2026-01-01T00:00:00", Observation="x")) == {
        "conversations",
        "care_events",
    }
    assert changed_tables(before, before) == set()


def test_every_projected_type_feeds_some_table_and_an_unreadable_version_reloads_all():
    assert set().union(*SOURCES.values()) == PROJECTED and set(SOURCES) == set(TABLES)
    assert changed_tables("old-format", version()) == set(TABLES)
