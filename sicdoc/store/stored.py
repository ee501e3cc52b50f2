"""A stored version of a resource as the store hands it out, and the ids the server gives new resources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import uuid_utils

from sicdoc.models import Resource


@dataclass(frozen=True)
class Stored:
    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: dict[str, Any] | None

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'

    @classmethod
    def current(cls, row: Resource) -> Stored:
        """The current version held in a ``resource`` row (a deleted one is never read this way)."""
        return cls(row.resource_type, row.id, row.version_id, row.last_updated, False, row.content)


def new_id() -> str:
    """A new server-assigned id: a UUIDv7, whose leading bits are the time it was made, so the rows of
    new resources go to the end of every index keyed by id rather than to a random page of each (a
    bulk load into a large store then touches a few pages per index, not thousands). The remaining 74
    bits are random, so ids are no easier to guess."""
    return str(uuid_utils.uuid7())
