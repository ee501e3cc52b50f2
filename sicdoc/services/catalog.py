"""Definitions sicdoc publishes as FHIR resources (the SIC Questionnaire), kept in the store."""

from __future__ import annotations

import copy

from sqlalchemy.orm import Session

from sicdoc.questionnaires import load_questionnaire
from sicdoc.services import transaction
from sicdoc.store import Store, Stored
from sicdoc.store.reads import read_optional


def publish_questionnaire(session: Session, store: Store) -> Stored:
    """Store the packaged SIC Questionnaire under its fixed id, as a new version only when it changed."""
    questionnaire = copy.deepcopy(load_questionnaire())
    rid = questionnaire["id"]
    with transaction(session):
        current = read_optional(session, "Questionnaire", rid)
        if current is not None and _same(current.content or {}, questionnaire):
            return current
        return store.update(session, questionnaire, rid)


def _same(stored: dict, packaged: dict) -> bool:
    return {k: v for k, v in stored.items() if k != "meta"} == {
        k: v for k, v in packaged.items() if k != "meta"
    }
