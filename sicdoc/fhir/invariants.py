"""The invariants (constraints) of the FHIR R4 core StructureDefinitions, checked on every write.

``r4_invariants.json`` holds every error-severity constraint that an R4 4.0.1 resource or complex
type defines (key, element path, FHIRPath expression, human text), extracted from ``hl7.fhir.r4.core``
4.0.1 by ``scripts/extract_r4_invariants.py`` (HL7 FHIR content, CC0). The validator's walk over a
resource (``sicdoc.fhir.validation``) notes each element that carries constraints; they are checked
once the resource is structurally valid, with these rules:

- a constraint holds unless its expression evaluates to ``false``: an empty result passes, as a
  comparison of dates of different precision does;
- the FHIRPath expressions are evaluated with ``fhirpathpy``, compiled once at first use;
- dom-2, dom-3, dom-4, dom-5 (contained resources), ref-1 (``#id`` references), ext-1 (an extension
  has a value or extensions, not both) and the date orders per-1, mdd-1 and Task's inv-1 are written
  out in Python: they apply to almost every resource, ``fhirpathpy`` cannot evaluate dom-3 as
  published, and it compares dateTimes without their time zones. Their published expressions are
  still in the extract, and tests compare the Python with them;
- an expression is evaluated only when its outcome can depend on the element: most constraints
  read ``a.empty() or ...`` or ``a.exists() implies ...`` and hold whenever ``a`` is absent; the
  others are evaluated on the elements they name, and the outcome is remembered for the same values;
- an expression that ``fhirpathpy`` fails to evaluate on some data is logged and not held against it.

ele-1 (no empty elements) is the validator's empty-value check; txt-1 and txt-2 are
``sicdoc.fhir.narrative``. Contained resources must also have distinct ids, or a ``#id``
reference to them could not be resolved (dom-3, ref-1).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources as package_files
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource as R4BResource
from pydantic import BaseModel

from sicdoc.errors import Issue
from sicdoc.fhir.invariant_checks import FULL_URL, HAND_CODED, HAND_CODED_AT, HAND_GUARDS, Failure, HandCheck
from sicdoc.fhir.structure import PRIMITIVE, plan_for

log = logging.getLogger(__name__)

# A node whose constraints are checked after the walk: (element, constraints, path, resource, root).
# ``resource`` is the resource the element is in (FHIRPath %resource), ``root`` the resource that is
# not contained in another (%rootResource).
Pending = tuple[Any, tuple["Invariant", ...], Any, dict[str, Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Invariant:
    key: str
    path: str  # the element path in the definition, e.g. Observation.referenceRange
    expression: str
    human: str
    # Evaluate on the values of these keys of the element (a constraint on a shared type's use, such
    # as Organization.telecom, or on a choice element), instead of on the element itself.
    sub: tuple[str, ...] = ()
    # The constraint holds when, for any of these key groups, the element has none of the keys.
    guards: tuple[frozenset[str], ...] = ()
    # Keys of the element the expression reads (for remembering outcomes), or None: it reads more.
    reads: frozenset[str] | None = None
    hand: HandCheck | None = None


@cache
def extract() -> dict[str, Any]:
    """The shipped extract of hl7.fhir.r4.core 4.0.1: {type: [[path, key, expression, human], ...]}."""
    text = package_files.files("sicdoc.fhir").joinpath("r4_invariants.json").read_text("utf-8")
    return json.loads(text)


# Constraints not checked: fhirpathpy has no resolve(), and sicdoc does not resolve references there.
UNCHECKED = {"ctm-1": "resolve() of CareTeam.participant.member"}


# --- FHIRPath expressions ------------------------------------------------------------------------

_STRING_RE = re.compile(r"'(?:[^'\\]|\\.)*'")
_NAME_RE = re.compile(r"(?<![\w.%$`])([A-Za-z_]\w*)\b(?!\s*\()")
# Elements read through %resource, or through the type's name (Appointment.status).
_RESOURCE_NAME_RE = re.compile(r"(?:%resource|(?<![\w.%$`])[A-Z]\w*)\.([A-Za-z_]\w*)")
_KEYWORDS = frozenset(
    {"and", "or", "xor", "implies", "is", "as", "in", "contains", "div", "mod", "true", "false"}
)
_CHAIN_FUNCTIONS = ("where(", "select(", "ofType(", "as(", "trace(")
# Comparisons that are empty or false when the left side is empty (not ~, which is true for two empties).
_COMPARISON_RE = re.compile(r"^(.*?)\s*(=|!=|<=|>=|<|>| in | is | contains )\s*(.+)$")


def _depth_split(expr: str, sep: str) -> list[str]:
    """``expr`` split at ``sep`` outside parentheses and string literals."""
    parts, depth, quote, start, i = [], 0, False, 0, 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == "'":
                quote = False
        elif ch == "'":
            quote = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and expr.startswith(sep, i):
            parts.append(expr[start:i].strip())
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(expr[start:].strip())
    return parts


def _unwrap(expr: str) -> str:
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")") and len(_depth_split(expr[1:-1], ")")) == 1:
        expr = expr[1:-1].strip()
    return expr


def _chain(expr: str) -> tuple[str, list[str]] | None:
    """(root element, the steps after it) of a path like ``a.b.where(x).c``; None for anything else."""
    steps = _depth_split(expr, ".")
    if steps[0][:1].isupper() and len(steps) > 1:
        steps = steps[1:]  # Appointment.status is status, on an Appointment
    if not re.fullmatch(r"[A-Za-z_]\w*", steps[0]) or steps[0] in _KEYWORDS or steps[0][:1].isupper():
        return None
    return steps[0], steps[1:]


def _is_path_step(step: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_]\w*", step)) or (
        step.startswith(_CHAIN_FUNCTIONS) and step.endswith(")")
    )


def _true_when_absent(term: str) -> str | None:
    """The element whose absence makes ``term`` true (``a.empty()``, ``a.x.where(..).all(..)``)."""
    parsed = _chain(_unwrap(term))
    if parsed is None:
        return None
    root, steps = parsed
    if steps[-2:] in (["exists()", "not()"], ["hasValue()", "not()"]):
        middle = steps[:-2]
    elif steps and (steps[-1] == "empty()" or (steps[-1].startswith("all(") and steps[-1].endswith(")"))):
        middle = steps[:-1]
    else:
        return None
    return root if all(_is_path_step(s) for s in middle) else None


def _false_when_absent(term: str) -> str | None:
    """The element whose absence makes ``term`` false or empty (``a.exists()``, ``a = 'x'``)."""
    term = _unwrap(term)
    if len(_depth_split(term, " or ")) > 1 or len(_depth_split(term, " xor ")) > 1:
        return None
    conjuncts = _depth_split(term, " and ")
    if len(conjuncts) > 1:
        return next((n for c in conjuncts if (n := _false_when_absent(c))), None)
    comparison = _COMPARISON_RE.match(term)
    left = comparison.group(1) if comparison and "(" not in comparison.group(3)[:1] else term
    parsed = _chain(_unwrap(left))
    if parsed is None:
        return None
    root, steps = parsed
    if comparison is None:
        if not steps or steps[-1] not in ("exists()", "hasValue()"):
            return None
        steps = steps[:-1]
    return root if all(_is_path_step(s) for s in steps) else None


def guard_names(expression: str) -> list[str]:
    """Elements such that the constraint holds whenever any one of them is absent."""
    implication = _depth_split(expression, " implies ")
    if len(implication) == 2:
        name = _false_when_absent(implication[0])
        return [name] if name else []
    if len(implication) > 2 or len(_depth_split(expression, " xor ")) > 1:
        return []
    names = []
    for term in _depth_split(_unwrap(expression), " or "):
        if len(_depth_split(_unwrap(term), " and ")) == 1 and (name := _true_when_absent(term)):
            names.append(name)
    return names


def read_names(expression: str, on_resource: bool) -> set[str] | None:
    """Every element name the expression may read from its context, or None if it reads further."""
    if any(
        s in expression for s in ("%rootResource", "%context", "descendants()", "children()", "resolve()")
    ):
        return None
    if "%resource" in expression and not on_resource:
        return None
    bare = _STRING_RE.sub("''", expression)
    names = set(_NAME_RE.findall(bare)) | set(_RESOURCE_NAME_RE.findall(bare))
    if re.search(r"%resource(?!\.)", bare) or "$this" in bare.replace("$this.", ""):
        return None
    return names - _KEYWORDS


def _keys(names: list[str] | set[str], model: type[BaseModel] | None) -> frozenset[str]:
    """The JSON keys of ``names`` on ``model``: the element, its primitive extension, choice members."""
    rules = plan_for(model).rules if model is not None else {}
    keys: set[str] = set()
    for name in names:
        keys.update((name, f"_{name}"))
        keys.update(k for k in rules if k.startswith(name) and k[len(name) : len(name) + 1].isupper())
    return frozenset(keys)


def _has_value(inputs: list[Any]) -> bool:
    return len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], (dict, list))


_OPTIONS = {"userInvocationTable": {"hasValue": {"fn": _has_value}}, "traceFn": lambda *_: None}
_compile_lock = threading.Lock()


@cache
def compiled(expression: str) -> Callable[..., list[Any]]:
    import fhirpathpy
    from fhirpathpy.models import models

    with _compile_lock:  # the ANTLR parser is not known to be thread-safe
        return fhirpathpy.compile(expression, models["r4"], _OPTIONS)


def evaluate(inv: Invariant, node: Any, resource: dict[str, Any], root: dict[str, Any], base: str) -> bool:
    """True unless the expression evaluates to false (an empty result passes)."""
    from fhirpathpy.engine.nodes import ResourceNode

    context = {
        "resource": ResourceNode.create_node(resource, resource.get("resourceType")),
        "rootResource": ResourceNode.create_node(root, root.get("resourceType")),
    }
    if type(node) is dict and node.get("resourceType") == base:
        target = node  # fhirpathpy reads a type-name prefix (Appointment.status) only on a plain resource
    else:
        target = ResourceNode.create_node(node, base)
    return compiled(inv.expression)(target, context) != [False]


_MEMO_SIZE = 20_000
_MEMO_VALUE_BYTES = 4096  # larger inputs (a Bundle's entries) are evaluated, not remembered
_memo: dict[tuple[str, str, bytes], bool] = {}


def _holds(inv: Invariant, node: Any, resource: dict[str, Any], root: dict[str, Any], base: str) -> bool:
    if inv.reads is None or type(node) is not dict:
        return evaluate(inv, node, resource, root, base)
    reduced = {k: v for k, v in node.items() if k in inv.reads}
    if "resourceType" in node:
        reduced["resourceType"] = node["resourceType"]
    values = orjson.dumps(reduced)
    if len(values) > _MEMO_VALUE_BYTES:
        return evaluate(inv, reduced, reduced if node is resource else resource, root, base)
    memo_key = (inv.expression, base, values)
    held = _memo.get(memo_key)
    if held is None:
        held = evaluate(inv, reduced, reduced if node is resource else resource, root, base)
        if len(_memo) >= _MEMO_SIZE:
            _memo.clear()
        _memo[memo_key] = held
    return held


# --- which constraints apply where ----------------------------------------------------------------


def _model(type_name: str) -> type[BaseModel] | None:
    try:
        return get_fhir_model_class(type_name)
    except (KeyError, ValueError):
        return None


def _make(
    path: str, key: str, expression: str, human: str, model: type[BaseModel] | None, sub: tuple[str, ...] = ()
) -> Invariant:
    """``model`` is the class of the nodes the expression is evaluated on (None: not known)."""
    on_resource = model is not None and issubclass(model, R4BResource)
    reads = read_names(expression, on_resource) if model is not None else None
    names = guard_names(expression) + ([HAND_GUARDS[key]] if key in HAND_GUARDS else [])
    return Invariant(
        key,
        path,
        expression,
        human,
        sub=tuple(sub),
        guards=tuple(_keys([n], model) for n in names) if model is not None else (),
        reads=_keys(reads, model) if reads is not None else None,
        hand=HAND_CODED.get(key) or HAND_CODED_AT.get((key, path)),
    )


@cache
def _by_model() -> dict[type, tuple[Invariant, ...]]:
    """Constraints on elements of a resource or type: backbone elements by their model class, uses
    of shared types (Organization.telecom) and choice elements on their parent's class."""
    found: dict[type, list[Invariant]] = {}
    for type_name, rows in extract()["constraints"].items():
        top = _model(type_name)
        if top is None:  # R4-only types that sicdoc declines
            continue
        for path, key, expression, human in rows:
            steps = path.split(".")[1:]
            if not steps or key in UNCHECKED:
                continue
            model, parent = top, top
            sub: tuple[str, ...] = ()
            item_model: type[BaseModel] | None = None
            for step in steps:
                rules = plan_for(model).rules
                rule = rules.get(step.removesuffix("[x]")) if not step.endswith("[x]") else None
                parent = model
                if rule is None:  # a choice element: evaluate on each of its members
                    stem = step.removesuffix("[x]")
                    sub = tuple(
                        k for k in rules if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper()
                    )
                    break
                if (
                    rule.kind == PRIMITIVE
                    or rule.model is None
                    or not rule.model.__name__.startswith(type_name)
                ):
                    sub = (step,)  # a primitive or a shared type: evaluate on the values of ``step``
                    item_model = rule.model if rule.kind != PRIMITIVE else None
                    break
                model = rule.model
            if sub:
                found.setdefault(parent, []).append(_make(path, key, expression, human, item_model, sub))
            else:
                found.setdefault(model, []).append(_make(path, key, expression, human, model))
    entry = plan_for(get_fhir_model_class("Bundle")).rules["entry"].model
    assert entry is not None  # a backbone element: it has its own class
    human = "fullUrl SHALL be an absolute URL consistent with the resource's id, or a urn:uuid or urn:oid"
    found.setdefault(entry, []).append(Invariant(FULL_URL, FULL_URL, "", human, hand=HAND_CODED[FULL_URL]))
    return {model: tuple(invs) for model, invs in found.items()}


@cache
def invariants_for(model: type) -> tuple[Invariant, ...]:
    """Every constraint checked on an element of this model class (its own, its bases', nested)."""
    constraints = extract()["constraints"]
    own: list[Invariant] = []
    for base in model.__mro__:
        for path, key, expression, human in constraints.get(base.__name__, ()):
            if path == base.__name__ and key not in UNCHECKED:
                own.append(_make(path, key, expression, human, model))
    own.extend(_by_model().get(model, ()))
    return tuple(own)


def _base(inv: Invariant, node: Any, key: str | None = None) -> str:
    """The element path or type the expression is evaluated at (FHIRPath type information)."""
    if key is not None and inv.path.endswith("[x]"):
        return key[len(inv.path.rsplit(".", 1)[1]) - 3 :]  # probabilityRange -> Range
    if "." not in inv.path and type(node) is dict and "resourceType" in node:
        return node["resourceType"]
    return inv.path


def _violated(
    inv: Invariant, node: Any, resource: dict[str, Any], root: dict[str, Any], key: str | None = None
) -> Failure | None:
    """None when the constraint holds on ``node``; else why, and where below ``node``."""
    if type(node) is dict:
        for keys in inv.guards:
            if keys.isdisjoint(node):
                return None
    if inv.hand is not None:
        return inv.hand(node, resource, root)
    try:
        return None if _holds(inv, node, resource, root, _base(inv, node, key)) else ("", ())
    except Exception:  # an expression fhirpathpy cannot evaluate on this data: not a refusal
        log.debug("could not evaluate %s on %s", inv.key, inv.path, exc_info=True)
        return None


def check(pending: list[Pending], where: Callable[[Any], str]) -> list[Issue]:
    """The issues for every constraint that does not hold; ``where`` turns a path into FHIRPath."""
    issues: list[Issue] = []
    for node, invariants, path, resource, root in pending:
        for inv in invariants:
            if not inv.sub:
                failure = _violated(inv, node, resource, root)
                if failure is not None:
                    issues.append(_issue(inv, failure, path, where))
                continue
            for key in inv.sub:
                value = node.get(key)
                items = value if type(value) is list else () if value is None else (value,)
                for i, item in enumerate(items):
                    failure = _violated(inv, item, resource, root, key)
                    if failure is not None:
                        at = (path, key) if type(value) is not list else ((path, key), i)
                        issues.append(_issue(inv, failure, at, where))
    return issues


def _issue(inv: Invariant, failure: Failure, path: Any, where: Callable[[Any], str]) -> Issue:
    detail, below = failure
    for step in below:
        path = (path, step)
    at = where(path)
    text = f"{inv.key}: {inv.human.strip()}" + (f" ({detail})" if detail else "")
    return Issue("invariant", f"{text} at {at}", at)
