"""The signed-in pages: the start page (links by role) and the administrators' audit log search."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, g, render_template, request

from sicdoc.db import get_session
from sicdoc.security import audit
from sicdoc.security.audit import AuditUnavailable
from sicdoc.views.guard import current_actor, error_response

bp = Blueprint("home", __name__)
admin_bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
def index() -> str:
    return render_template("home.html", user=g.user)


@admin_bp.get("/audit")
def audit_log():  # type: ignore[no-untyped-def]
    args = request.args
    filters = {k: (args.get(k) or "").strip() or None for k in ("person", "patient", "action")}
    day, error = None, None
    if args.get("date"):
        try:
            day = date.fromisoformat(args["date"])
        except ValueError:
            error = "The date must look like 2026-11-20."
    session = get_session()
    rows = (
        [] if error else audit.search(session, filters["person"], filters["patient"], day, filters["action"])
    )
    try:
        # Reading the audit log is itself audited.
        audit.record(
            session,
            current_actor(),
            "audit-search",
            "success",
            detail=str({**filters, "date": args.get("date")}),
        )
    except AuditUnavailable as exc:
        return error_response(exc)
    status = 400 if error else 200
    return render_template("admin/audit.html", rows=rows, args=args, error=error, user=g.user), status
