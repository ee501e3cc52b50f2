"""Transaction bundles: validated whole, then written in one database transaction.

Entries are processed in the order FHIR gives (DELETE, POST, PUT, GET); ``urn:uuid`` full URLs are
replaced by server ids wherever they appear, and conditional creates and conditional references are
resolved inside the same transaction, backed by the unique identifier index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.orm import Session

from sicdoc.errors import InvalidInput, Issue, PreconditionFailed, SicdocError
from sicdoc.fhir.validation import is_resource_type, validate_resource
from sicdoc.security.audit import Actor
from sicdoc.services import transaction
from sicdoc.services.resources import audit_write
from sicdoc.store import Store, Stored, business_identifiers, find_by_identifier, identifier_pairs, new_id

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


@dataclass
class EntryResult:
    index: int
    status: str
    stored: Stored | None


def validate_bundle(bundle: Any, max_entries: int) -> list[dict[str, Any]]:
    """Check the envelope and every entry; return the entries. Raises with every issue found."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidInput("The body must be a Bundle", expression="Bundle")
    if bundle.get("type") not in ("transaction", "batch"):
        raise InvalidInput(
            "Bundle.type must be 'transaction' or 'batch'", code="value", expression="Bundle.type"
        )
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise InvalidInput("Bundle.entry must be an array", expression="Bundle.entry")
    if len(entries) > max_entries:
        raise InvalidInput(f"A bundle may hold at most {max_entries} entries", code="too-costly")
    issues: list[Issue] = []
    full_urls: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        if not isinstance(entry, dict):
            issues.append(Issue("structure", f"{where} must be an object", where))
            continue
        request = entry.get("request")
        if not isinstance(request, dict) or request.get("method") not in _ORDER or not request.get("url"):
            issues.append(Issue("required", f"{where}.request needs a method and a url", f"{where}.request"))
            continue
        full_url = entry.get("fullUrl")
        if full_url is not None:
            if full_url in full_urls:
                issues.append(Issue("duplicate", f"fullUrl {full_url} appears twice", f"{where}.fullUrl"))
            full_urls.add(full_url)
        if request["method"] in ("POST", "PUT"):
            resource = entry.get("resource")
            if resource is None:
                issues.append(Issue("required", f"{where} needs a resource", f"{where}.resource"))
                continue
            try:
                validate_resource(resource, f"{where}.resource")
            except SicdocError as exc:
                issues.extend(exc.issues)
                continue
            url_type = request["url"].split("?", 1)[0].split("/", 1)[0]
            if url_type != resource["resourceType"]:
                issues.append(
                    Issue(
                        "value",
                        f"{where}.request.url does not name the resource's type",
                        f"{where}.request.url",
                    )
                )
        elif not is_resource_type(request["url"].split("?", 1)[0].split("/", 1)[0]):
            issues.append(Issue("value", f"{where}.request.url names no R4 type", f"{where}.request.url"))
    if issues:
        raise InvalidInput(issues)
    return entries


Pending = dict[tuple[str, str, str], str]


def _conditional_match(session: Session, rtype: str, query: str, where: str, pending: Pending) -> str | None:
    """Resolve ``identifier=system|value`` criteria: first among this bundle's creates, then stored."""
    pairs = parse_qsl(query, keep_blank_values=True)
    idents = []
    for name, value in pairs:
        if name != "identifier" or "|" not in value:
            raise InvalidInput(
                f"Only identifier=system|value criteria are supported here, not '{name}={value}'",
                code="not-supported",
                expression=where,
            )
        system, _, code = value.partition("|")
        idents.append((system, code))
    if not idents:
        raise InvalidInput("Conditional criteria are empty", expression=where)
    matches = {pending.get((rtype, *pair)) or find_by_identifier(session, rtype, [pair]) for pair in idents}
    matches.discard(None)
    if len(matches) > 1:
        raise PreconditionFailed(f"{where}: criteria match more than one {rtype}")
    return matches.pop() if matches else None


def _rewrite(node: Any, mapping: dict[str, str]) -> Any:
    """Replace every string equal to a placeholder (references, uri and url elements) in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                if value in mapping:
                    node[key] = mapping[value]
            else:
                _rewrite(value, mapping)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, str):
                if value in mapping:
                    node[i] = mapping[value]
            else:
                _rewrite(value, mapping)
    return node


def ingest_transaction(
    session: Session, store: Store, bundle: Any, max_entries: int = 5000, actor: Actor | None = None
) -> list[EntryResult]:
    """Store a transaction bundle atomically, with one audit record per write; results come in entry order."""
    entries = validate_bundle(bundle, max_entries)
    if bundle.get("type") != "transaction":
        raise InvalidInput("Only transaction bundles are ingested here", expression="Bundle.type")
    results: list[EntryResult | None] = [None] * len(entries)
    with transaction(session):
        mapping: dict[str, str] = {}
        pending: Pending = {}
        creates: list[tuple[int, dict, str, bool]] = []
        order = sorted(range(len(entries)), key=lambda i: _ORDER[entries[i]["request"]["method"]])
        # Pass 1: decide ids for POSTs (existing match for conditional creates, else new).
        for i in order:
            entry, request = entries[i], entries[i]["request"]
            if request["method"] != "POST":
                continue
            resource = entry["resource"]
            rtype = resource["resourceType"]
            existing = None
            if request.get("ifNoneExist"):
                existing = _conditional_match(
                    session, rtype, request["ifNoneExist"], f"Bundle.entry[{i}].request.ifNoneExist", pending
                )
            rid = existing or new_id()
            for system, value in identifier_pairs(resource):
                pending.setdefault((rtype, system, value), rid)
            if entry.get("fullUrl"):
                mapping[entry["fullUrl"]] = f"{rtype}/{rid}"
            creates.append((i, resource, rid, existing is not None))
        # Pass 2: conditional references anywhere in the bundle.
        for i, entry in enumerate(entries):
            if entry.get("resource") is not None:
                _resolve_conditional_refs(
                    session, entry["resource"], f"Bundle.entry[{i}].resource", mapping, pending
                )
        for i, resource, rid, exists in creates:
            _rewrite(resource, mapping)
            if exists:
                results[i] = EntryResult(i, "200 OK", None)
                continue
            if business_identifiers(resource) and find_by_identifier(
                session, resource["resourceType"], business_identifiers(resource)
            ):
                raise InvalidInput(
                    f"Bundle.entry[{i}]: a {resource['resourceType']} with this identifier already exists; "
                    "use ifNoneExist or PUT",
                    code="duplicate",
                    expression=f"Bundle.entry[{i}].resource.identifier",
                )
            stored = store.create(session, resource, resource_id=rid)
            audit_write(session, actor, "create", stored)
            results[i] = EntryResult(i, "201 Created", stored)
        for i in order:
            request = entries[i]["request"]
            if request["method"] == "PUT":
                resource = _rewrite(entries[i]["resource"], mapping)
                rtype, _, rid = request["url"].partition("/")
                if "?" in request["url"]:
                    rtype, _, query = request["url"].partition("?")
                    rid = (
                        _conditional_match(session, rtype, query, f"Bundle.entry[{i}].request.url", pending)
                        or new_id()
                    )
                stored = store.update(session, resource, rid)
                audit_write(session, actor, "create" if stored.version_id == 1 else "update", stored)
                results[i] = EntryResult(i, "201 Created" if stored.version_id == 1 else "200 OK", stored)
            elif request["method"] == "DELETE":
                rtype, _, rid = request["url"].partition("/")
                deleted = store.delete(session, rtype, rid)
                if deleted is not None:
                    audit_write(session, actor, "delete", deleted)
                results[i] = EntryResult(i, "204 No Content", None)
            elif request["method"] in ("GET", "HEAD"):
                raise InvalidInput(
                    "GET entries are not supported in transactions yet",
                    code="not-supported",
                    expression=f"Bundle.entry[{i}].request",
                )
    return [r for r in results if r is not None]


def _resolve_conditional_refs(
    session: Session, node: Any, where: str, mapping: dict[str, str], pending: Pending
) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and "?" in ref and ref not in mapping:
            rtype, _, query = ref.partition("?")
            if is_resource_type(rtype):
                found = _conditional_match(session, rtype, query, f"{where}.reference", pending)
                if found is None:
                    raise InvalidInput(
                        f"{where}.reference: no {rtype} matches {query}",
                        code="not-found",
                        expression=f"{where}.reference",
                    )
                mapping[ref] = f"{rtype}/{found}"
        for key, value in node.items():
            if isinstance(value, dict | list):
                _resolve_conditional_refs(session, value, f"{where}.{key}", mapping, pending)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _resolve_conditional_refs(session, value, f"{where}[{i}]", mapping, pending)
