"""Receipts of ingested transaction bundles: re-posting the same bundle answers as the first time did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sicdoc.models.base import Base


class BundleReceipt(Base):
    __tablename__ = "bundle_receipt"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Who sent it ("" for the command line and forms) and the bundle's key: its identifier, else its hash.
    client_id: Mapped[str] = mapped_column(String(128), default="")
    key: Mapped[str] = mapped_column(String(600))
    body_hash: Mapped[str] = mapped_column(String(64))
    received: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    response: Mapped[dict[str, Any]]

    __table_args__ = (UniqueConstraint("client_id", "key"),)
