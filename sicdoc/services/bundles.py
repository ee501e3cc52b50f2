"""Transaction and batch bundles.

A transaction is validated whole, then written in one database transaction in the order FHIR gives
(DELETE, POST, PUT, GET): ``urn:uuid`` full URLs are replaced by server ids wherever they appear,
conditional creates and references are resolved inside the transaction, and a receipt keyed on the
bundle's identifier (else its content hash) makes a re-post answer as the first post did.
A batch runs each entry on its own and reports each entry's outcome.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import DataError

from sicdoc.errors import Conflict, InvalidInput, Issue, SicdocError
from sicdoc.fhir.dates import format_instant, utc_now
from sicdoc.fhir.outcome import operation_outcome
from sicdoc.fhir.profile import refusal, validate_write
from sicdoc.fhir.search import check_criteria, parse_etag, parse_version
from sicdoc.fhir.validation import URN_RE, is_resource_type, valid_id, validate_resource
from sicdoc.models import BundleReceipt
from sicdoc.services import timing
from sicdoc.services.entries import (
    Criteria,
    EntryPlan,
    plan_entries,
    response_entry,
    run_read,
)
from sicdoc.services.matching import Pending
from sicdoc.services.references import conditional_references
from sicdoc.services.unit import UnitOfWork
from sicdoc.store.rows import held_rows

METHODS = ("DELETE", "POST", "PUT", "GET", "HEAD")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundleResult:
    response: dict[str, Any]
    replayed: bool = False  # True when a receipt answered a re-post
    created: int = 0


def validate_bundle(bundle: Any, max_entries: int, passed: Passed | None = None) -> list[dict[str, Any]]:
    """Check the envelope and every entry; return the entries, or raise with every issue found.
    ``passed`` holds entries that passed before in the same run (bulk loading), checked again for
    nothing but their ``fullUrl``."""
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
    envelope = {k: v for k, v in bundle.items() if k != "entry"}
    validate_resource(envelope)
    issues: list[Issue] = []
    full_urls: set[str] = set()
    for i, entry in enumerate(entries):
        issues.extend(_entry_issues(entry, f"Bundle.entry[{i}]", full_urls, passed))
    if issues:
        raise refusal(issues)
    return entries


# Bundles of one feed repeat the same shared entries (the Organization, Location and Practitioner of
# every patient), and checking an entry costs many times more than serialising it: a bulk load keeps
# the entries that passed, by their JSON text, for its own run. Only ``fullUrl`` uniqueness depends
# on the rest of the bundle, so that check still runs.
Passed = dict[bytes, None]
_PASSED_MAX = 4096


def _entry_issues(entry: Any, where: str, full_urls: set[str], passed: Passed | None = None) -> list[Issue]:
    if passed is None:
        return _checked_entry_issues(entry, where, full_urls)
    text = _entry_text(entry)
    if text is not None and text in passed:
        full_url = entry.get("fullUrl")
        if full_url is not None:
            if full_url in full_urls:
                return [Issue("duplicate", f"fullUrl {full_url} appears twice", f"{where}.fullUrl")]
            full_urls.add(full_url)
        return []
    issues = _checked_entry_issues(entry, where, full_urls)
    if text is not None and not issues:
        if len(passed) >= _PASSED_MAX:
            passed.clear()
        passed[text] = None
    return issues


def _entry_text(entry: Any) -> bytes | None:
    if not isinstance(entry, dict):
        return None
    try:
        return orjson.dumps(entry)
    except orjson.JSONEncodeError:  # numbers beyond 64 bits: checked each time
        return None


def _checked_entry_issues(entry: Any, where: str, full_urls: set[str]) -> list[Issue]:
    if not isinstance(entry, dict):
        return [Issue("structure", f"{where} must be an object", where)]
    request = entry.get("request")
    if (
        not isinstance(request, dict)
        or type(request.get("method")) is not str
        or request["method"] not in METHODS
        or not isinstance(request.get("url"), str)
        or not request["url"]
    ):
        return [Issue("required", f"{where}.request needs a method and a url", f"{where}.request")]
    for name in ("ifMatch", "ifNoneExist", "ifNoneMatch", "ifModifiedSince"):
        if name in request and (type(request[name]) is not str or not request[name]):
            return [Issue("value", f"{where}.request.{name} must be text", f"{where}.request.{name}")]
    try:
        if "ifMatch" in request:
            parse_etag(request["ifMatch"], f"{where}.request.ifMatch")
        if "ifNoneExist" in request:
            check_criteria(request["ifNoneExist"], f"{where}.request.ifNoneExist")
        _url_issue(request["method"], request["url"], f"{where}.request.url")
        for reference in conditional_references(entry.get("resource") or {}):
            check_criteria(reference.partition("?")[2], f"{where}.resource")
    except SicdocError as exc:
        return exc.issues
    full_url = entry.get("fullUrl")
    if full_url is not None:
        if type(full_url) is not str or not full_url or any(ch.isspace() for ch in full_url):
            return [Issue("value", f"{where}.fullUrl must be a URI", f"{where}.fullUrl")]
        if full_url in full_urls:
            return [Issue("duplicate", f"fullUrl {full_url} appears twice", f"{where}.fullUrl")]
        full_urls.add(full_url)
    url_type = request["url"].split("?", 1)[0].split("/", 1)[0]
    if request["method"] in ("POST", "PUT"):
        resource = entry.get("resource")
        if resource is None:
            return [Issue("required", f"{where} needs a resource", f"{where}.resource")]
        try:
            validate_write(resource, f"{where}.resource")
        except SicdocError as exc:
            return exc.issues
        if url_type != resource["resourceType"]:
            return [
                Issue(
                    "value", f"{where}.request.url does not name the resource's type", f"{where}.request.url"
                )
            ]
        if request["method"] == "PUT" and "?" not in request["url"] and "/" not in request["url"]:
            return [
                Issue(
                    "value", f"{where}.request.url must be Type/id or Type?criteria", f"{where}.request.url"
                )
            ]
    elif not is_resource_type(url_type):
        return [Issue("value", f"{where}.request.url names no R4 type", f"{where}.request.url")]
    return []


def _url_issue(method: str, url: str, where: str) -> None:
    """The ids and version in an entry's ``Type/id[/_history/vid]`` URL, checked before anything runs."""
    path, sep, query = url.partition("?")
    check_criteria(query, where)
    parts = path.strip("/").split("/")
    if sep and method in ("POST", "PUT", "DELETE"):
        return
    if len(parts) >= 2 and not valid_id(parts[1]):
        raise InvalidInput(f"{where}: '{parts[1][:70]}' is not a resource id", code="value", expression=where)
    if len(parts) >= 4 and parts[2] == "_history":
        parse_version(parts[3], where)


def bundle_key(bundle: dict[str, Any]) -> tuple[str, str]:
    """(key, body hash): the key is the bundle's identifier when it has one, else the hash."""
    body_hash = hashlib.sha256(orjson.dumps(bundle, option=orjson.OPT_SORT_KEYS)).hexdigest()
    ident = bundle.get("identifier")
    if isinstance(ident, dict) and ident.get("value"):
        return f"identifier:{ident.get('system', '')}|{ident['value']}"[:600], body_hash
    return f"sha256:{body_hash}", body_hash


def check_transaction(bundle: Any, max_entries: int, passed: Passed | None = None) -> list[dict[str, Any]]:
    """The entries of a valid transaction bundle, or raise with every issue found (no database work)."""
    entries = validate_bundle(bundle, max_entries, passed)
    if bundle["type"] != "transaction":
        raise InvalidInput("Expected a transaction bundle", expression="Bundle.type")
    return entries


def apply_checked(
    uow: UnitOfWork,
    bundle: dict[str, Any],
    entries: list[dict[str, Any]],
    *,
    client_id: str | None = None,
    known: Pending | None = None,
    key: tuple[str, str] | None = None,
    criteria: Criteria | None = None,
) -> BundleResult:
    """A bundle ``check_transaction`` passed, applied inside the caller's open transaction (bulk
    loading, ``known`` and ``criteria`` as ``plan_entries`` takes them, ``key`` as ``bundle_key`` gives
    it); ``entries`` are rewritten in place, so a retry starts again from the bundle as received."""
    return _apply(uow, bundle, entries, client_id, False, known, key, criteria)


def process_transaction(
    uow: UnitOfWork,
    bundle: Any,
    *,
    client_id: str | None = None,
    max_entries: int = 5000,
    representation: bool = False,
) -> BundleResult:
    """All or nothing; a re-post of the same bundle stores nothing and returns the first answer."""
    entries = check_transaction(bundle, max_entries)
    # Planning rewrites references in place; a retry must start again from the bundle as received.
    pristine = orjson.dumps(entries)
    attempts = iter(range(1_000_000))

    def attempt() -> BundleResult:
        with uow.transaction():
            work = entries if next(attempts) == 0 else orjson.loads(pristine)
            return _apply(uow, bundle, work, client_id, representation)

    return uow.retrying(attempt)


def apply_transaction(
    uow: UnitOfWork, bundle: Any, *, client_id: str | None = None, representation: bool = False
) -> BundleResult:
    """``process_transaction`` inside the caller's open transaction, for a use case that writes more.

    The caller commits or rolls back, and retries on ``DuplicateIdentifier`` as ``retrying`` does.
    """
    entries = validate_bundle(bundle, 5000)
    if bundle["type"] != "transaction":
        raise InvalidInput("Expected a transaction bundle", expression="Bundle.type")
    return _apply(uow, bundle, orjson.loads(orjson.dumps(entries)), client_id, representation)


def _apply(
    uow: UnitOfWork,
    bundle: dict[str, Any],
    work: list[dict[str, Any]],
    client_id: str | None,
    representation: bool,
    known: Pending | None = None,
    keyed: tuple[str, str] | None = None,
    criteria: Criteria | None = None,
) -> BundleResult:
    """Receipts are kept per client (the actor unless the use case names its own)."""
    session, store = uow.session, uow.store
    client_id = uow.actor.id if client_id is None else client_id
    key, body_hash = keyed or bundle_key(bundle)
    held = held_rows(session)
    if held is not None and (client_id, key) in held.receipts:
        row = held.receipts[(client_id, key)]
        receipt = None if row is None else (row["body_hash"], row["response"])
    else:
        found = session.scalar(
            select(BundleReceipt).where(BundleReceipt.client_id == client_id, BundleReceipt.key == key)
        )
        receipt = None if found is None else (found.body_hash, found.response)
    if receipt is not None:
        if receipt[0] != body_hash:
            raise Conflict(f"A different bundle with the same identifier was already received ({key})")
        return BundleResult(receipt[1], replayed=True)
    plans = sorted(plan_entries(uow, work, known, criteria), key=lambda p: p.order)
    response_entries: list[dict[str, Any] | None] = [None] * len(work)
    for plan in plans:
        if plan.method == "DELETE":
            response_entries[plan.index] = plan.execute(uow, representation)
    # New resources go in together: one statement per table instead of one per resource.
    creates = [p for p in plans if p.method == "POST" and not p.exists]
    made = store.create_many(session, [p.to_create() for p in creates])
    for plan, stored in zip(creates, made, strict=True):
        shown = representation and uow.may_read(plan.resource_type)
        response_entries[plan.index] = response_entry(stored, "201 Created", shown)
    for plan in plans:
        if response_entries[plan.index] is None:
            response_entries[plan.index] = plan.execute(uow, representation)
    lookup = timing.Lookup(uow)
    for plan in plans:
        if plan.method in ("POST", "PUT") and not plan.exists:
            _warn(response_entries[plan.index], lookup, plan.resource)
    created = len(made) + sum(p.created for p in plans)
    uow.audit_writes([("create", stored) for stored in made] + [p.written for p in plans if p.written])
    response = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "timestamp": format_instant(utc_now()),
        "entry": response_entries,
    }
    receipt_row = {
        "client_id": client_id,
        "key": key,
        "body_hash": body_hash,
        "received": utc_now(),
        "response": response,
    }
    if held is not None:
        held.add_receipt(receipt_row)
    else:
        session.add(BundleReceipt(**receipt_row))
    return BundleResult(response, created=created)


def process_batch(
    uow: UnitOfWork, bundle: Any, *, max_entries: int = 5000, representation: bool = False
) -> BundleResult:
    """Each entry on its own: its own transaction, its own status or OperationOutcome."""
    if not isinstance(bundle, dict) or bundle.get("type") != "batch":
        raise InvalidInput("Expected a batch bundle", expression="Bundle.type")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list) or len(entries) > max_entries:
        raise InvalidInput(
            f"Bundle.entry must be an array of at most {max_entries} entries", code="too-costly"
        )
    out = []
    created = 0
    for i, entry in enumerate(entries):
        try:
            issues = _entry_issues(entry, f"Bundle.entry[{i}]", set())
            if issues:
                raise refusal(issues)
            if _has_placeholder(entry.get("resource")):
                raise InvalidInput(
                    f"Bundle.entry[{i}]: urn:uuid references between batch entries are not allowed",
                    expression=f"Bundle.entry[{i}].resource",
                )
            single = json.loads(json.dumps(entry))

            def attempt(single: dict[str, Any] = single) -> tuple[dict[str, Any], int]:
                with uow.transaction():
                    plan: EntryPlan = plan_entries(uow, [single])[0]
                    response = plan.execute(uow, representation)
                    if plan.method in ("POST", "PUT") and not plan.exists:
                        _warn(response, timing.Lookup(uow), plan.resource)
                    uow.audit_writes([plan.written] if plan.written else [])
                    return response, plan.created

            response, made = uow.retrying(attempt)
            created += made
            out.append(response)
        except SicdocError as exc:
            uow.session.rollback()
            out.append({"response": {"status": f"{exc.status}", "outcome": operation_outcome(exc.issues)}})
        except DataError:  # a value the database refused: this entry's input, not the server
            uow.session.rollback()
            refused = Issue("value", f"Bundle.entry[{i}] holds a value that cannot be stored or compared")
            out.append({"response": {"status": "400", "outcome": operation_outcome([refused])}})
        except Exception:  # a batch answers for every entry, whatever one of them does
            uow.session.rollback()
            logger.exception("batch entry %d failed", i)
            failed = Issue("exception", f"Bundle.entry[{i}] failed on the server; this entry changed nothing")
            out.append({"response": {"status": "500", "outcome": operation_outcome([failed])}})
    response = {"resourceType": "Bundle", "type": "batch-response", "entry": out}
    return BundleResult(response, created=created)


def _warn(entry: dict[str, Any] | None, lookup: timing.Lookup, resource: dict[str, Any] | None) -> None:
    """Dates that break a clinical rule are stored as sent; R4 reports them in the entry's outcome."""
    issues = timing.date_warnings(lookup, resource or {})
    if entry is not None and issues:
        entry["response"]["outcome"] = operation_outcome(issues)


def _has_placeholder(node: Any) -> bool:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and URN_RE.match(ref) and ref.startswith("urn:uuid:"):
            return True
        return any(_has_placeholder(v) for v in node.values() if isinstance(v, dict | list))
    if isinstance(node, list):
        return any(_has_placeholder(v) for v in node)
    return False


__all__ = [
    "BundleResult",
    "Passed",
    "apply_checked",
    "apply_transaction",
    "bundle_key",
    "check_transaction",
    "process_batch",
    "process_transaction",
    "run_read",
    "validate_bundle",
]
