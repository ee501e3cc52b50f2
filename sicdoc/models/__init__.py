"""ORM tables. Importing this package registers every table on ``Base.metadata``."""

from sicdoc.models.analytics import AnalyticsLease, AnalyticsResult
from sicdoc.models.audit import AuditEvent, AuditEventPatient, AuditUnkeyedPrefix
from sicdoc.models.base import Base, JsonDocument
from sicdoc.models.compartment import CompartmentMember
from sicdoc.models.drafts import ConversationDraft
from sicdoc.models.ingest import BundleReceipt
from sicdoc.models.projections import (
    CareEvent,
    Conversation,
    DiagnosisFact,
    EncounterFact,
    LocationFact,
    PalliativeConsult,
    PalliativeReferral,
    PatientFact,
)
from sicdoc.models.reindex import ReindexMark
from sicdoc.models.resources import (
    BusinessIdentifier,
    DateIndex,
    ReferenceIndex,
    Resource,
    ResourceVersion,
    StringIndex,
    TokenIndex,
)
from sicdoc.models.security import AccessToken, IntegrationClient, UsedJti, User, UserSession
from sicdoc.models.worklist import WorklistSnooze

__all__ = [
    "AccessToken",
    "AnalyticsLease",
    "AnalyticsResult",
    "AuditEvent",
    "AuditEventPatient",
    "AuditUnkeyedPrefix",
    "Base",
    "BundleReceipt",
    "BusinessIdentifier",
    "CareEvent",
    "CompartmentMember",
    "Conversation",
    "ConversationDraft",
    "DateIndex",
    "DiagnosisFact",
    "EncounterFact",
    "IntegrationClient",
    "JsonDocument",
    "LocationFact",
    "PalliativeConsult",
    "PalliativeReferral",
    "PatientFact",
    "ReferenceIndex",
    "ReindexMark",
    "Resource",
    "ResourceVersion",
    "StringIndex",
    "TokenIndex",
    "UsedJti",
    "User",
    "UserSession",
    "WorklistSnooze",
]
