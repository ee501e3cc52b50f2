"""The versioned FHIR resource store: every write keeps history, indexes and projections together."""

from sicdoc.store.projections import Projector
from sicdoc.store.writes import (
    Store,
    Stored,
    business_identifiers,
    find_by_identifier,
    find_by_identifiers,
    history,
    identifier_matches,
    identifier_pairs,
    new_id,
    read,
    vread,
)

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
