"""The R4 invariants written out in Python rather than evaluated as FHIRPath (see ``sicdoc.fhir.invariants``).

dom-2..5 and ref-1 (contained resources and ``#id`` references) and ext-1 apply to almost every
resource and ``fhirpathpy`` cannot evaluate dom-3 as published; per-1, mdd-1 and Task's inv-1 compare
dateTimes, which ``fhirpathpy`` does without their time zones; and a Bundle's ``fullUrl`` rule has no
FHIRPath at all. Tests compare each with its published expression.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

# Where a written-out check failed, below the element (("contained", 1) is contained[1]), and why.
Failure = tuple[str, tuple[str | int, ...]]
# A written-out check: (element, resource, root) -> None when it holds.
HandCheck = Callable[[Any, dict[str, Any], dict[str, Any]], Failure | None]


def _dom2(node: dict[str, Any], _resource: Any, _root: Any) -> Failure | None:
    for i, item in enumerate(node.get("contained") or ()):
        if type(item) is dict and "contained" in item:
            return "", ("contained", i, "contained")
    return None


def _dom4(node: dict[str, Any], _resource: Any, _root: Any) -> Failure | None:
    for i, item in enumerate(node.get("contained") or ()):
        meta = item.get("meta") if type(item) is dict else None
        if type(meta) is dict and ("versionId" in meta or "lastUpdated" in meta):
            return "", ("contained", i, "meta")
    return None


def _dom5(node: dict[str, Any], _resource: Any, _root: Any) -> Failure | None:
    for i, item in enumerate(node.get("contained") or ()):
        meta = item.get("meta") if type(item) is dict else None
        if type(meta) is dict and "security" in meta:
            return "", ("contained", i, "meta", "security")
    return None


def _local_refs(node: Any, found: set[str]) -> None:
    """Every string starting with '#' anywhere under ``node`` (references, canonicals, uris)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
        elif type(item) is str and item.startswith("#"):
            found.add(item)


def _dom3(node: dict[str, Any], _resource: Any, _root: Any) -> Failure | None:
    contained = node.get("contained")
    if not contained:
        return None
    ids: set[str] = set()
    for i, item in enumerate(contained):
        rid = item.get("id") if type(item) is dict else None
        if rid is None:
            continue
        if rid in ids:
            return f"two contained resources have the id '{rid}', so '#{rid}' is ambiguous", (
                "contained",
                i,
                "id",
            )
        ids.add(rid)
    found: set[str] = set()
    _local_refs(node, found)
    for i, item in enumerate(contained):
        rid = item.get("id") if type(item) is dict else None
        if rid is None or f"#{rid}" in found:
            continue
        inner: set[str] = set()
        _local_refs(item, inner)
        if "#" not in inner:  # a contained resource may instead refer to its container
            return f"nothing refers to the contained resource '{rid}'", ("contained", i)
    return None


def _ref1(node: dict[str, Any], _resource: Any, root: dict[str, Any]) -> Failure | None:
    target = node.get("reference")
    if type(target) is not str or not target.startswith("#") or target == "#":
        return None  # '#' alone is the container, as seen from a contained resource
    for item in root.get("contained") or ():
        if type(item) is dict and item.get("id") == target[1:]:
            return None
    return f"no contained resource has the id '{target[1:]}'", ("reference",)


def _ext1(node: dict[str, Any], _resource: Any, _root: Any) -> Failure | None:
    has_value = any(key.startswith("value") for key in node)
    return None if ("extension" in node) != has_value else ("", ())


def _moment(value: Any) -> tuple[int, Any] | None:
    """(precision, comparable value) of a FHIR date or dateTime; None when unreadable."""
    if type(value) is not str:
        return None
    if len(value) <= 10:
        return len(value), value  # YYYY, YYYY-MM, YYYY-MM-DD compare as text at equal precision
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (99, moment) if moment.tzinfo is not None else None


def _in_order(earlier: str, later: str) -> HandCheck:
    """``later`` is not before ``earlier``: FHIRPath's date comparison, time zones included (fhirpathpy
    compares the clock times and ignores the zones)."""

    def check(node: dict[str, Any], _resource: Any, _root: Any) -> Failure | None:
        first, second = _moment(node.get(earlier)), _moment(node.get(later))
        if first is None or second is None or first[0] != second[0]:
            return None  # FHIRPath: different precisions compare as empty, which passes
        if second[1] < first[1]:
            return f"{later} {node[later]} is before {earlier} {node[earlier]}", ()
        return None

    return check


def _full_url(node: dict[str, Any], _resource: Any, _root: Any) -> Failure | None:
    """Bundle.entry.fullUrl: an absolute URL (version-independent, ending in the resource's Type/id)
    or a urn:uuid / urn:oid; the R4 definition of the element states it, no invariant key does."""
    url = node.get("fullUrl")
    if type(url) is not str:
        return None
    if url.startswith(("urn:uuid:", "urn:oid:")):
        return None
    if not _ABSOLUTE_URL_RE.match(url):
        return f"'{url}' is not an absolute URL, urn:uuid or urn:oid", ("fullUrl",)
    resource = node.get("resource")
    if type(resource) is not dict or not resource.get("id") or "/_history/" in url:
        return None  # bdl-8 refuses a version-specific fullUrl
    if not url.endswith(f"/{resource.get('resourceType')}/{resource['id']}"):
        return f"'{url}' does not end with the resource's type and id", ("fullUrl",)
    return None


_ABSOLUTE_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/\s]+")
FULL_URL = "Bundle.entry.fullUrl"


# Elements whose absence makes a written-out check hold, where the expression does not show it.
HAND_GUARDS = {"dom-4": "contained", "ref-1": "reference"}
HAND_CODED: dict[str, HandCheck] = {
    "dom-2": _dom2,
    "dom-3": _dom3,
    "dom-4": _dom4,
    "dom-5": _dom5,
    "ref-1": _ref1,
    "ext-1": _ext1,
    "per-1": _in_order("start", "end"),
    "mdd-1": _in_order("whenPrepared", "whenHandedOver"),
    FULL_URL: _full_url,
}
# Keys that several definitions use for different rules.
HAND_CODED_AT: dict[tuple[str, str], HandCheck] = {("inv-1", "Task"): _in_order("authoredOn", "lastModified")}
