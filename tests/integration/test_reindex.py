"""``sicdoc reindex``: rebuilds index, compartment and projection rows from the stored resources."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select, update

from sicdoc.cli import main
from sicdoc.fhir.search import parse_search
from sicdoc.fhir.search_params import PARAMS, SearchParam
from sicdoc.models import (
    AuditEvent,
    CompartmentMember,
    Conversation,
    DateIndex,
    EncounterFact,
    PatientFact,
    ReferenceIndex,
    ReindexMark,
    Resource,
    StringIndex,
    TokenIndex,
)
from sicdoc.models.base import Base
from sicdoc.sample.writer import generate
from sicdoc.services import reindex as rebuild
from sicdoc.store import Store
from sicdoc.store.frames import changed_tables, data_version
from sicdoc.store.search import search

# Every table whose rows a resource's current version determines.
DERIVED = (
    "search_token",
    "search_reference",
    "search_date",
    "search_string",
    "patient_compartment",
    "business_identifier",
    "patient_fact",
    "diagnosis_fact",
    "encounter_fact",
    "palliative_referral",
    "palliative_consult",
    "conversation",
)


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("population") / "ndjson"
    generate(20, 11, out, "ndjson")
    return out


def cli(app, *args: str):
    return CliRunner().invoke(main, list(args), obj={"app": app, "overrides": {}}, catch_exceptions=False)


@pytest.fixture
def loaded(app, population):
    result = cli(app, "load", "--quiet", str(population))
    assert result.exit_code == 0, result.output
    return app


def snapshot(app) -> dict[str, list[tuple]]:
    """The rows of every derived table, without their surrogate keys, sorted."""
    out = {}
    with app.extensions["sicdoc.engine"].connect() as conn:
        for name in DERIVED:
            table = Base.metadata.tables[name]
            columns = [c for c in table.columns if c.name != "pk"]
            out[name] = sorted(tuple(row) for row in conn.execute(select(*columns)))
    return out


def wreck(app, *statements) -> None:
    with app.extensions["sicdoc.engine"].begin() as conn:
        for statement in statements:
            conn.execute(statement)


def count(app, query) -> int:
    with app.extensions["sicdoc.engine"].connect() as conn:
        return conn.scalar(query)


def reindexed(app, *args: str):
    return cli(app, "reindex", "--quiet", *args)


def found(session, resource_type: str, *args: tuple[str, str]) -> set[str]:
    result = search(session, parse_search(resource_type, [*args, ("_count", "1000")]))
    session.rollback()
    return {stored.id for stored in result.matches}


def test_lost_and_corrupted_rows_come_back_as_a_fresh_load_wrote_them(loaded, session, store):
    with session.begin():
        # One no conversation took its unit from: the write path does not re-project those on a delete.
        gone = session.scalars(
            select(Resource.id).where(
                Resource.resource_type == "Encounter",
                Resource.id.not_in(
                    select(Conversation.encounter_id).where(Conversation.encounter_id.is_not(None))
                ),
            )
        ).first()
        store.delete(session, "Encounter", gone)
    fresh = snapshot(loaded)
    females = found(session, "Patient", ("gender", "female"))
    assert females and fresh["conversation"] and any(row[-1] for row in fresh["conversation"])
    wreck(
        loaded,
        *(delete(t) for t in (TokenIndex, ReferenceIndex, DateIndex, StringIndex, CompartmentMember)),
        delete(EncounterFact),
        update(PatientFact).values(sex="unknown"),
        update(Conversation).values(code_status=None, domains=None),
    )
    assert found(session, "Patient", ("gender", "female")) == set()

    result = reindexed(loaded)

    assert result.exit_code == 0, result.output
    stored = count(loaded, select(func.count()).select_from(Resource))
    assert result.output.strip().startswith(f"reindexed {stored} resources (")
    assert snapshot(loaded) == fresh
    assert found(session, "Patient", ("gender", "female")) == females
    again = reindexed(loaded)
    assert again.exit_code == 0, again.output
    assert snapshot(loaded) == fresh


def test_a_search_parameter_added_later_finds_resources_stored_before(loaded, session, monkeypatch):
    language = SearchParam("language", "token", ("communication.language",))
    monkeypatch.setitem(PARAMS, "Patient", (*PARAMS["Patient"], language))
    assert found(session, "Patient", ("language", "en")) == set()

    assert reindexed(loaded, "--type", "Patient").exit_code == 0

    english = found(session, "Patient", ("language", "urn:ietf:bcp:47|en"))
    patients = count(loaded, select(func.count()).where(Resource.resource_type == "Patient"))
    assert 0 < len(english) <= patients
    assert found(session, "Patient", ("language", "en")) == english


def test_type_limits_the_work_to_that_type(loaded):
    wreck(loaded, delete(TokenIndex))
    patients = count(loaded, select(func.count()).where(Resource.resource_type == "Patient"))

    result = reindexed(loaded, "--type", "Patient")

    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"reindexed {patients} resources (Patient)"
    with_tokens = select(func.count(TokenIndex.resource_type.distinct()))
    assert count(loaded, with_tokens) == 1
    assert count(loaded, select(func.count()).where(TokenIndex.resource_type == "Patient")) > 0


def test_an_unknown_type_fails_in_one_line_and_changes_nothing(loaded):
    wreck(loaded, delete(TokenIndex))
    before = snapshot(loaded)

    result = reindexed(loaded, "--type", "Patinet")

    assert result.exit_code != 0
    assert result.output.strip() == "Error: 'Patinet' is not an R4 resource type"
    assert snapshot(loaded) == before
    assert count(loaded, select(func.count()).select_from(ReindexMark)) == 0


def test_resume_with_a_type_fails_in_one_line(loaded):
    result = reindexed(loaded, "--resume", "--type", "Patient")

    assert result.exit_code != 0
    assert result.output.strip() == "Error: --resume continues every unfinished run; it takes no --type"
    assert count(loaded, select(func.count()).select_from(ReindexMark)) == 0


def test_procedures_come_after_the_types_their_conversation_rows_read(loaded, uow):
    order = [step.resource_type for step in rebuild.plan(uow)]

    assert order[-1] == "Procedure"
    assert {"Encounter", "Observation", "QuestionnaireResponse"} < set(order)
    assert order[:-1] == sorted(order[:-1])


def test_an_interrupted_run_keeps_its_finished_batches_and_resume_completes_it(loaded, monkeypatch):
    fresh = snapshot(loaded)
    wreck(loaded, delete(TokenIndex), delete(PatientFact))
    real = Store.reindex
    calls = []

    def interrupted_in_the_second_batch(self, session, current):
        calls.append(len(current))
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(self, session, current)

    monkeypatch.setattr(Store, "reindex", interrupted_in_the_second_batch)
    result = reindexed(loaded, "--type", "Patient", "--batch-size", "10")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: interrupted; finished batches are kept, `sicdoc reindex --resume` continues"
    )
    assert count(loaded, select(func.count()).select_from(PatientFact)) == 10
    patients_indexed = select(func.count(TokenIndex.resource_id.distinct())).where(
        TokenIndex.resource_type == "Patient"
    )
    assert count(loaded, patients_indexed) == 10

    monkeypatch.setattr(Store, "reindex", real)
    resumed = reindexed(loaded, "--resume", "--batch-size", "10")
    assert resumed.exit_code == 0, resumed.output
    patients = count(loaded, select(func.count()).where(Resource.resource_type == "Patient"))
    assert resumed.output.strip() == f"reindexed {patients - 10} resources (Patient)"
    restored = snapshot(loaded)
    assert restored["patient_fact"] == fresh["patient_fact"]
    assert [r for r in restored["search_token"] if r[0] == "Patient"] == [
        r for r in fresh["search_token"] if r[0] == "Patient"
    ]
    assert reindexed(loaded, "--resume").output.strip() == "nothing to resume"

    records = count(loaded, select(func.count()).where(AuditEvent.action == "reindex"))
    assert records == 2
    with loaded.extensions["sicdoc.engine"].connect() as conn:
        outcomes = conn.execute(
            select(AuditEvent.outcome, AuditEvent.detail)
            .where(AuditEvent.action == "reindex")
            .order_by(AuditEvent.seq)
        ).all()
    assert [o for o, _ in outcomes] == ["error", "success"]
    assert outcomes[0][1].startswith("interrupted after Patient/")


def test_a_plain_rerun_also_completes_an_interrupted_one(loaded, monkeypatch):
    fresh = snapshot(loaded)
    wreck(loaded, delete(TokenIndex))
    real = Store.reindex

    def crash(self, session, current):
        if any(s.resource_type == "Observation" for s in current):
            raise RuntimeError("the disk is full")
        real(self, session, current)

    monkeypatch.setattr(Store, "reindex", crash)
    with pytest.raises(RuntimeError):
        reindexed(loaded)
    monkeypatch.setattr(Store, "reindex", real)

    assert reindexed(loaded).exit_code == 0
    assert snapshot(loaded) == fresh


def test_the_dashboards_see_rebuilt_projections(loaded):
    analytics = loaded.extensions["sicdoc.analytics"]
    statuses = sorted(analytics.frames().conversations["code_status"].dropna())
    assert statuses
    wreck(loaded, update(Conversation).values(code_status=None))
    with loaded.extensions["sicdoc.engine"].connect() as conn:
        before = data_version(conn)

    assert reindexed(loaded, "--type", "Procedure").exit_code == 0

    with loaded.extensions["sicdoc.engine"].connect() as conn:
        after = data_version(conn)
    assert changed_tables(before, after) == {"conversations", "care_events"}
    assert sorted(analytics.frames().conversations["code_status"].dropna()) == statuses
