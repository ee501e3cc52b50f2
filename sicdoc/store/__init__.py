"""The versioned FHIR resource store: every write keeps history, indexes and projections together."""

from sicdoc.store.identifiers import (
    business_identifiers,
    find_by_identifier,
    find_by_identifiers,
    identifier_matches,
    identifier_pairs,
)
from sicdoc.store.projections import Projector
from sicdoc.store.reads import history, read, vread
from sicdoc.store.stored import Stored, new_id
from sicdoc.store.writes import Store

__all__ = [
    "Projector",
    "Store",
    "Stored",
    "business_identifiers",
    "find_by_identifier",
    "find_by_identifiers",
    "history",
    "identifier_matches",
    "identifier_pairs",
    "new_id",
    "read",
    "vread",
]
