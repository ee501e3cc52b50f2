"""Audit checkpoints: the JSON line ``sicdoc audit checkpoint`` writes and ``sicdoc audit verify`` reads."""

from __future__ import annotations

import re

from marshmallow import fields
from marshmallow.validate import Regexp

from sicdoc.schemas.base import Strict, Text, Whole

_MAX_SEQ = 2**63 - 1  # the audit table's bigint sequence


class CheckpointSchema(Strict):
    seq = Whole(0, _MAX_SEQ, required=True)
    hash = Text(validate=Regexp(re.compile(r"^[0-9a-f]{64}$"), error="must be 64 lower-case hex digits"))
    # When the head record was written (ISO 8601, UTC); null for an empty log.
    recorded = fields.String(allow_none=True, load_default=None)
    written_at = Text()
    unkeyed_through = Whole(0, _MAX_SEQ, load_default=0)
