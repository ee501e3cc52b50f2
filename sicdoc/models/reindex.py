"""Where ``sicdoc reindex`` stands, per resource type."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlalchemy.orm import Mapped, mapped_column

from sicdoc.models.base import Base
from sicdoc.models.resources import ID, TYPE


class ReindexMark(Base):
    """The last reindex of one resource type.

    ``reindexed_at`` moves with every committed batch, so the analytics data version sees projections
    rebuilt without any resource being written. ``pending_after`` is set while a run over the type is
    unfinished: the last id done ("" before the first batch); it is NULL once the type is done.
    """

    __tablename__ = "reindex_mark"

    resource_type: Mapped[str] = mapped_column(TYPE, primary_key=True)
    reindexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    pending_after: Mapped[str | None] = mapped_column(ID)
