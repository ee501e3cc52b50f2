"""The roles a person may have, named once: the rule table, the user table's check constraint, the
account use cases, the admin pages and the command line read them here."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CLINICIAN = "clinician"
    QI_ANALYST = "qi_analyst"
    ADMIN = "admin"


# The role names as plain text, in the order forms and messages list them.
ROLES: tuple[str, ...] = tuple(role.value for role in Role)
