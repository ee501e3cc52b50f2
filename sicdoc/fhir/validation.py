"""Validate R4 resources: ``fhir.resources.R4B`` for structure, plus the checks it lacks.

R4B is structurally identical to R4 for the resource types sicdoc cares about. On top of it we
check empty values (FHIR JSON forbids null, "", [] and {}), ids, required code bindings, reference
syntax and reference target types, and refuse types that exist only in R4B.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import typing
from functools import cache
from typing import Any

import pydantic
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource as R4BResource

from sicdoc.errors import InvalidInput, Issue

# Types introduced in R4B: an R4 client must never send or receive them.
R4B_ONLY = frozenset(
    {
        "AdministrableProductDefinition",
        "Citation",
        "ClinicalUseDefinition",
        "EvidenceReport",
        "Ingredient",
        "ManufacturedItemDefinition",
        "MedicinalProductDefinition",
        "NutritionProduct",
        "PackagedProductDefinition",
        "RegulatedAuthorization",
        "SubscriptionStatus",
        "SubscriptionTopic",
        "SubstanceDefinition",
    }
)
# Types of R4 that R4B dropped; sicdoc cannot validate them, so it declines them plainly.
R4_ONLY = frozenset(
    {
        "EffectEvidenceSynthesis",
        "MedicinalProduct",
        "MedicinalProductAuthorization",
        "MedicinalProductContraindication",
        "MedicinalProductIndication",
        "MedicinalProductIngredient",
        "MedicinalProductInteraction",
        "MedicinalProductManufactured",
        "MedicinalProductPackaged",
        "MedicinalProductPharmaceutical",
        "MedicinalProductUndesirableEffect",
        "RiskEvidenceSynthesis",
        "SubstanceNucleicAcid",
        "SubstancePolymer",
        "SubstanceProtein",
        "SubstanceReferenceInformation",
        "SubstanceSourceMaterial",
        "SubstanceSpecification",
    }
)
ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TYPE_RE = r"[A-Z][A-Za-z]+"
_ID_RE = r"[A-Za-z0-9\-.]{1,64}"
RELATIVE_REF_RE = re.compile(rf"^({_TYPE_RE})/({_ID_RE})(/_history/({_ID_RE}))?$")
ABSOLUTE_REF_RE = re.compile(rf"^https?://\S+/({_TYPE_RE})/({_ID_RE})(/_history/({_ID_RE}))?$")
CONDITIONAL_REF_RE = re.compile(rf"^({_TYPE_RE})\?\S+$")
URN_RE = re.compile(
    r"^urn:(uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|oid:[0-2](\.\d+)+)$"
)


def resource_class(resource_type: Any) -> type[R4BResource]:
    """The R4B model of an R4 resource type, or ``InvalidInput`` naming the problem."""
    if not isinstance(resource_type, str) or not resource_type:
        raise InvalidInput("resourceType is missing", code="required", expression="resourceType")
    if resource_type in R4_ONLY:
        raise InvalidInput(
            f"Resource type {resource_type} is not supported by this server", code="not-supported"
        )
    return _model(resource_type)


@cache
def _model(resource_type: str) -> type[R4BResource]:
    try:
        cls = get_fhir_model_class(resource_type)
    except (ValueError, KeyError):
        cls = None
    if resource_type in R4B_ONLY or cls is None or not issubclass(cls, R4BResource):
        raise InvalidInput(f"'{resource_type}' is not an R4 resource type", code="not-supported")
    return cls


def is_resource_type(name: str) -> bool:
    try:
        resource_class(name)
    except InvalidInput:
        return False
    return True


def reference_parts(reference: str) -> tuple[str, str] | None:
    """(type, id) of a literal relative or absolute reference, else None."""
    match = RELATIVE_REF_RE.match(reference) or ABSOLUTE_REF_RE.match(reference)
    return (match.group(1), match.group(2)) if match else None


def validate_resource(data: Any, path: str | None = None) -> None:
    """Raise ``InvalidInput`` listing every problem found in one resource; ``path`` prefixes expressions."""
    if not isinstance(data, dict):
        raise InvalidInput("A resource must be a JSON object", code="structure", expression=path)
    cls = resource_class(data.get("resourceType"))
    root = path or data["resourceType"]
    issues: list[Issue] = []
    _check_raw(data, cls, root, issues, top=True)
    rid = data.get("id")
    if rid is not None and (not isinstance(rid, str) or not ID_RE.match(rid)):
        issues.append(Issue("value", "id must be 1-64 letters, digits, '-' or '.'", f"{root}.id"))
    if issues:
        raise InvalidInput(issues)
    try:
        model = cls.model_validate(data)
    except pydantic.ValidationError as exc:
        raise InvalidInput([_pydantic_issue(err, root) for err in exc.errors()]) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(f"Invalid resource content: {exc}", code="structure", expression=root) from None
    _check_model(model, root, issues)
    if issues:
        raise InvalidInput(issues)


def _pydantic_issue(err: Any, root: str) -> Issue:
    loc = [p for p in err.get("loc", ()) if p != "__root__"]
    expression = root
    for part in loc:
        if isinstance(part, int):
            expression += f"[{part}]"
        else:
            name = str(part)
            expression += "._" + name[:-5] if name.endswith("__ext") else "." + name
    kind = err.get("type", "")
    code = {"extra_forbidden": "structure", "missing": "required"}.get(kind, "value")
    if code == "value" and "required" in str(err.get("msg", "")).lower():
        code = "required"
    message = {"extra_forbidden": "Unknown element", "missing": "Missing required element"}.get(
        kind, err.get("msg", "Invalid value").removeprefix("Value error, ")
    )
    return Issue(code, f"{message} at {expression}", expression)


# JSON kinds FHIR primitives must have; pydantic alone would coerce "yes" into true or "3" into 3.
_PRIMITIVE_KINDS: dict[type, tuple[type, ...]] = {
    bool: (bool,),
    int: (int,),
    decimal.Decimal: (int, float),
    str: (str,),
    dt.date: (str,),
    dt.datetime: (str,),
    dt.time: (str,),
}


@cache
def _field_kinds(cls: type) -> dict[str, tuple[tuple[type, ...] | None, type | None]]:
    """field name -> (allowed JSON types for a primitive, or None; model class for a complex element)."""
    kinds: dict[str, tuple[tuple[type, ...] | None, type | None]] = {}
    for name, field in cls.model_fields.items():
        base = field.annotation
        while typing.get_args(base) and typing.get_origin(base) is not None:
            args = [a for a in typing.get_args(base) if a is not type(None)]
            if typing.get_origin(base) is typing.Annotated:
                base = typing.get_args(base)[0]
            elif not args:
                break
            else:
                base = args[0]
        if isinstance(base, type) and base in _PRIMITIVE_KINDS:
            kinds[name] = (_PRIMITIVE_KINDS[base], None)
        elif hasattr(base, "get_model_klass"):
            try:
                kinds[name] = (None, base.get_model_klass())
            except Exception:
                kinds[name] = (None, None)
    return kinds


def _check_raw(node: Any, cls: type | None, path: str, issues: list[Issue], top: bool = False) -> None:
    """Empty values, JSON types of primitives and private keys, walking the raw JSON with its model."""
    if isinstance(node, list):
        if not node:
            issues.append(Issue("value", f"Empty array at {path}", path))
        for i, item in enumerate(node):
            if item is None and not path.rsplit(".", 1)[-1].startswith("_"):
                issues.append(Issue("value", f"null at {path}[{i}]", f"{path}[{i}]"))
            else:
                _check_raw(item, cls, f"{path}[{i}]", issues, top)
        return
    if not isinstance(node, dict):
        if node is None:
            issues.append(Issue("value", f"null at {path}", path))
        elif isinstance(node, str) and not node.strip():
            issues.append(Issue("value", f"Empty or blank string at {path}", path))
        return
    if not node and not top:
        issues.append(Issue("value", f"Empty object at {path}", path))
    if "resourceType" in node and isinstance(node["resourceType"], str):
        try:
            cls = resource_class(node["resourceType"])
        except InvalidInput:
            cls = None
    kinds = _field_kinds(cls) if cls is not None else {}
    for key, value in node.items():
        child = f"{path}.{key}"
        if key == "fhir_comments" or "__" in key:
            issues.append(Issue("structure", f"Unknown element '{key}' at {path}", child))
            continue
        allowed, sub = kinds.get(key, (None, None))
        if allowed is not None:
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                if item is not None and (
                    not isinstance(item, allowed) or (bool not in allowed and isinstance(item, bool))
                ):
                    kind = {bool: "boolean", str: "string"}.get(allowed[0], "number")
                    where = f"{child}[{i}]" if isinstance(value, list) else child
                    issues.append(Issue("value", f"{where} must be a JSON {kind}", where))
                    break
        _check_raw(value, sub, child, issues, top=key in ("contained", "resource"))


# Required bindings whose code lists fhir.resources truncates (its lists end in "+").
_FULL_BINDINGS: dict[tuple[str, str], tuple[str, ...]] = {
    ("Encounter", "status"): (
        "planned",
        "arrived",
        "triaged",
        "in-progress",
        "onleave",
        "finished",
        "cancelled",
        "entered-in-error",
        "unknown",
    ),
    ("Observation", "status"): (
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    ),
    ("DiagnosticReport", "status"): (
        "registered",
        "partial",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "appended",
        "cancelled",
        "entered-in-error",
        "unknown",
    ),
}


@cache
def _field_plan(cls: type) -> tuple[tuple[str, str, tuple[str, ...] | None], ...]:
    """For a model class: (field, kind, allowed) for fields that need a look after parsing."""
    plan = []
    for name, field in cls.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        enum = extra.get("enum_values")
        refs = extra.get("enum_reference_types")
        full = _FULL_BINDINGS.get((cls.__name__, name))
        if full:
            plan.append((name, "enum", full))
        elif enum and "+" not in enum:
            plan.append((name, "enum", tuple(enum)))
        elif refs:
            plan.append((name, "ref", tuple(refs)))
        elif not name.endswith("__ext") and name != "fhir_comments":
            plan.append((name, "walk", None))
    return tuple(plan)


def _check_model(model: Any, path: str, issues: list[Issue]) -> None:
    for name, kind, allowed in _field_plan(type(model)):
        value = getattr(model, name, None)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        for i, item in enumerate(values):
            where = f"{path}.{name}" + (f"[{i}]" if isinstance(value, list) else "")
            if kind == "enum":
                if isinstance(item, str) and item not in allowed:
                    issues.append(Issue("code-invalid", f"'{item}' is not an allowed code at {where}", where))
            elif kind == "ref":
                _check_reference(item, allowed, where, issues)
            elif isinstance(item, pydantic.BaseModel):
                _check_model(item, where, issues)


def _check_reference(ref: Any, allowed: tuple[str, ...], where: str, issues: list[Issue]) -> None:
    target = getattr(ref, "reference", None)
    if target is None:
        return
    if target.startswith("#") or URN_RE.match(target):
        return
    parts = reference_parts(target)
    if parts is None:
        cond = CONDITIONAL_REF_RE.match(target)
        if cond is None:
            issues.append(
                Issue("value", f"'{target}' is not a valid reference at {where}", f"{where}.reference")
            )
            return
        parts = (cond.group(1), "")
    if "Resource" not in allowed and parts[0] not in allowed:
        issues.append(
            Issue(
                "value",
                f"A reference to {parts[0]} is not allowed at {where} (expected {', '.join(allowed)})",
                f"{where}.reference",
            )
        )
