"""OperationOutcome resources built from sicdoc's error issues."""

from __future__ import annotations

from typing import Any

from sicdoc.errors import Issue


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    out = []
    for issue in issues:
        entry: dict[str, Any] = {"severity": issue.severity, "code": issue.code}
        if issue.diagnostics:
            entry["diagnostics"] = issue.diagnostics
        if issue.expression:
            entry["expression"] = [issue.expression]
        out.append(entry)
    return {"resourceType": "OperationOutcome", "issue": out}


def information(message: str) -> dict[str, Any]:
    return operation_outcome([Issue("informational", message, severity="information")])
