"""How QI outputs name clinicians: the Practitioner's name, or a stable pseudonym; never a resource id.

    labels = ClinicianLabels("name", key, names={"Practitioner/3f…": "Ada Okafor"})
    labels.label("Practitioner/3f…")   # "Ada Okafor"
    labels.label("Dr. Somebody")       # a free-text display: "Clinician 4KQ7ZT2M"

A pseudonym is a keyed hash (HMAC-SHA256) of the recorded performer, so it is the same for one
clinician in every build, page and process that share the key, and cannot be turned back into the
id without the key. A clinician without a known name (no stored Practitioner, a free-text display
only) gets the pseudonym in either mode.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import Counter
from collections.abc import Mapping

MODES = ("name", "pseudonym")
# Group names the tables use for other rows; a clinician is never labelled as one of them.
RESERVED = frozenset({"All", "unknown", "Other or unknown"})
MAX_NAME = 80


class ClinicianLabels:
    def __init__(
        self, mode: str = "pseudonym", key: bytes | None = None, names: Mapping[str, str] | None = None
    ):
        if mode not in MODES:
            raise ValueError(f"clinician labels must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        # Without a key (tests, ad-hoc use) pseudonyms are stable within this object only.
        self._key = key or secrets.token_bytes(32)
        clean = {ref: " ".join(str(n).split())[:MAX_NAME] for ref, n in (names or {}).items() if n}
        self._names = {ref: n for ref, n in clean.items() if n and n not in RESERVED}
        self._shared = {n for n, count in Counter(self._names.values()).items() if count > 1}
        # Tables label a clinician once per row they appear on (tens of thousands of conversations
        # at a hospital's size) among a few hundred clinicians: each is hashed once.
        self._pseudonyms: dict[str, str] = {}

    def pseudonym(self, ref: str) -> str:
        found = self._pseudonyms.get(ref)
        if found is None:
            digest = hmac.new(self._key, f"qi-clinician:{ref}".encode(), hashlib.sha256).digest()
            found = self._pseudonyms[ref] = "Clinician " + base64.b32encode(digest[:5]).decode("ascii")
        return found

    def label(self, ref: object) -> str | None:
        """The label of one recorded performer (None stays None: no clinician recorded)."""
        if ref is None or ref != ref or str(ref).strip() == "":  # None or NaN
            return None
        ref = str(ref)
        name = self._names.get(ref) if self.mode == "name" else None
        if name is None:
            return self.pseudonym(ref)
        if name in self._shared:  # two clinicians of one name stay apart
            return f"{name} ({self.pseudonym(ref)})"
        return name
