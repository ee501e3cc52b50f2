"""Administration: people, integration clients and the audit log. Every change is audited."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import InputRequired, Length

from sicdoc.db import get_session
from sicdoc.errors import SicdocError
from sicdoc.models.security import ROLES
from sicdoc.security import audit
from sicdoc.security.audit import AuditUnavailable
from sicdoc.services import accounts
from sicdoc.views.guard import current_actor, error_response

bp = Blueprint("admin", __name__, url_prefix="/admin")
_ROLE_CHOICES = list(ROLES)


class NewUserForm(FlaskForm):
    username = StringField("Username", validators=[InputRequired(), Length(max=80)])
    role = SelectField("Role", choices=_ROLE_CHOICES)
    password = PasswordField("Initial password", validators=[InputRequired(), Length(min=12, max=1024)])


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=_ROLE_CHOICES)


class ConfirmForm(FlaskForm):
    """A button: only the CSRF token is posted."""


def _page(form: NewUserForm | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    users = accounts.list_users(get_session())
    body = render_template(
        "admin/users.html", users=users, form=form or NewUserForm(), roles=ROLES, user=g.user
    )
    return body, status


@bp.get("/users")
def users():  # type: ignore[no-untyped-def]
    return _page()


@bp.post("/users")
def create_user():  # type: ignore[no-untyped-def]
    form = NewUserForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        accounts.create_user(
            get_session(), form.username.data or "", form.password.data or "", form.role.data, current_actor()
        )
    except SicdocError as exc:
        form.username.errors = [*form.username.errors, str(exc)]
        return _page(form, exc.status)
    flash(f"Created {form.username.data} ({form.role.data}).")
    return redirect(url_for("admin.users"))


def _change(action, done: str) -> BaseResponse | tuple[str, int]:  # type: ignore[no-untyped-def]
    try:
        action()
    except AuditUnavailable as exc:
        return error_response(exc)
    except SicdocError as exc:
        return error_response(exc)
    flash(done)
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>/role")
def set_role(username: str):  # type: ignore[no-untyped-def]
    form = RoleForm()
    if not form.validate_on_submit():
        return error_response(SicdocError("Choose one of the roles", code="value"))
    if username == g.user.username:
        return error_response(SicdocError("You cannot change your own role", code="business-rule"), 409)
    return _change(
        lambda: accounts.set_role(get_session(), username, form.role.data, current_actor()),
        f"{username} is now {form.role.data}; their sessions were ended.",
    )


@bp.post("/users/<username>/disable")
def disable_user(username: str):  # type: ignore[no-untyped-def]
    if not ConfirmForm().validate_on_submit():
        return error_response(SicdocError("The form was incomplete", code="invalid"))
    if username == g.user.username:
        return error_response(SicdocError("You cannot disable yourself", code="business-rule"), 409)
    return _change(
        lambda: accounts.disable_user(get_session(), username, current_actor()),
        f"{username} is disabled; their sessions were ended.",
    )


@bp.get("/clients")
def clients():  # type: ignore[no-untyped-def]
    rows = accounts.list_clients(get_session())
    return render_template("admin/clients.html", clients=rows, user=g.user)


@bp.post("/clients/<client_id>/revoke")
def revoke_client(client_id: str):  # type: ignore[no-untyped-def]
    if not ConfirmForm().validate_on_submit():
        return error_response(SicdocError("The form was incomplete", code="invalid"))
    try:
        accounts.revoke_client(get_session(), client_id, current_actor())
    except SicdocError as exc:
        return error_response(exc)
    flash(f"Revoked {client_id}; its tokens no longer work.")
    return redirect(url_for("admin.clients"))


@bp.get("/audit")
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
