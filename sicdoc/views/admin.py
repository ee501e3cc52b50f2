"""Administration: people, integration clients and the audit log. Every change is audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, Field, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import EqualTo, InputRequired, Length

from sicdoc.db import get_session
from sicdoc.errors import SicdocError
from sicdoc.fhir.dates import as_utc, utc_now
from sicdoc.security import audit
from sicdoc.security.audit import AuditUnavailable
from sicdoc.security.roles import ROLES
from sicdoc.services import accounts, practitioners
from sicdoc.views.guard import current_actor, error_response, unit

bp = Blueprint("admin", __name__, url_prefix="/admin")
_ROLE_CHOICES = list(ROLES)


class ProfileFields:
    """The person behind an account, as notes name them (all optional when adding a person)."""

    name = StringField("Full name", validators=[Length(max=200)])
    credentials = StringField("Credentials (e.g. MD, RN, NP)", validators=[Length(max=60)])
    npi = StringField("NPI (10 digits)", validators=[Length(max=20)])
    service = StringField("Service or department", validators=[Length(max=200)])

    def profile(self) -> practitioners.Profile:
        values = {k: getattr(self, k).data or "" for k in ("name", "credentials", "npi", "service")}
        return practitioners.Profile(**values).cleaned()


class NewUserForm(FlaskForm, ProfileFields):
    username = StringField("Username", validators=[InputRequired(), Length(max=80)])
    role = SelectField("Role", choices=_ROLE_CHOICES)
    password = PasswordField("Initial password", validators=[InputRequired(), Length(min=12, max=1024)])


class ProfileForm(FlaskForm, ProfileFields):
    pass


class PasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[InputRequired(), Length(max=1024)])
    confirm = PasswordField(
        "New password again", validators=[InputRequired(), EqualTo("password", "The two passwords differ.")]
    )


class ClientForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=120)])
    scopes = StringField("Scopes (e.g. system/*.read system/Patient.write)", validators=[InputRequired()])
    secret = BooleanField("Issue a client secret")
    jwks = TextAreaField("Public JWK set (JSON), for private_key_jwt", validators=[Length(max=20000)])


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=_ROLE_CHOICES)


class ConfirmForm(FlaskForm):
    """A button: only the CSRF token is posted."""


def _field_errors(form: FlaskForm, exc: SicdocError, default: str) -> None:
    """Put each issue beside the field it names (the services name fields in ``expression``)."""
    for issue in exc.issues:
        field: Field = getattr(form, issue.expression or "", None) or getattr(form, default)
        field.errors = [*field.errors, issue.diagnostics]


def _page(form: NewUserForm | None = None, status: int = 200) -> tuple[str, int]:
    session = get_session()
    users = accounts.list_users(session)
    names = practitioners.display_names(session, [u.username for u in users])
    body = render_template(
        "admin/users.html", users=users, names=names, form=form or NewUserForm(), roles=ROLES, user=g.user
    )
    return body, status


@bp.get("/users")
def users() -> tuple[str, int]:
    return _page()


@bp.post("/users")
def create_user() -> BaseResponse | tuple[str, int]:
    form = NewUserForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    profile = form.profile()
    if profile != practitioners.Profile(""):
        errors = practitioners.check_profile(profile)
        if errors:
            for key, message in errors.items():
                getattr(form, key).errors = [message]
            return _page(form, 400)
    try:
        accounts.create_user(
            get_session(), form.username.data or "", form.password.data or "", form.role.data, current_actor()
        )
        if profile.name:
            practitioners.save_profile(unit(), form.username.data or "", profile)
    except AuditUnavailable as exc:
        return error_response(exc)
    except SicdocError as exc:
        _field_errors(form, exc, "username")
        return _page(form, exc.status)
    flash(f"Created {form.username.data} ({form.role.data}).")
    return redirect(url_for("admin.users"))


def _person_page(username: str, status: int = 200, **forms: FlaskForm) -> BaseResponse | tuple[str, int]:
    session = get_session()
    person = next((u for u in accounts.list_users(session) if u.username == username), None)
    if person is None:
        return error_response(SicdocError(f"No user named '{username}'", code="not-found"), 404)
    profile = practitioners.profile_of(session, username)
    if "profile" not in forms:
        forms["profile"] = ProfileForm(data=profile.__dict__ if profile else None)
    locked = person.locked_until
    locked_now = locked is not None and as_utc(locked) > utc_now()
    body = render_template(
        "admin/person.html",
        person=person,
        locked=locked_now,
        shown=profile.shown() if profile else None,
        profile_form=forms["profile"],
        password_form=forms.get("password") or PasswordForm(formdata=None),
        user=g.user,
    )
    return body, status


@bp.get("/users/<username>")
def person(username: str) -> BaseResponse | tuple[str, int]:
    return _person_page(username)


@bp.post("/users/<username>/profile")
def set_profile(username: str) -> BaseResponse | tuple[str, int]:
    form = ProfileForm()
    if not form.validate_on_submit():
        return _person_page(username, 400, profile=form)
    try:
        shown = practitioners.save_profile(unit(), username, form.profile())
    except practitioners.ProfileRefused as exc:
        for key, message in exc.errors.items():
            getattr(form, key).errors = [message]
        return _person_page(username, 400, profile=form)
    except SicdocError as exc:
        return error_response(exc)
    flash(f"{username}'s notes now name them {shown}.")
    return redirect(url_for("admin.person", username=username))


@bp.post("/users/<username>/password")
def reset_password(username: str) -> BaseResponse | tuple[str, int]:
    form = PasswordForm()
    if not form.validate_on_submit():
        return _person_page(username, 400, password=form)
    try:
        accounts.set_password(get_session(), username, form.password.data or "", current_actor())
    except AuditUnavailable as exc:
        return error_response(exc)
    except SicdocError as exc:
        if exc.status == 404:
            return error_response(exc)
        _field_errors(form, exc, "password")
        return _person_page(username, exc.status, password=form)
    flash(f"{username}'s password was reset; their sessions were ended.")
    return redirect(url_for("admin.person", username=username))


def _change(action: Callable[[], object], done: str, to: str | None = None) -> BaseResponse:
    try:
        action()
    except AuditUnavailable as exc:
        return error_response(exc)
    except SicdocError as exc:
        return error_response(exc)
    flash(done)
    return redirect(to or url_for("admin.users"))


@bp.post("/users/<username>/enable")
def enable_user(username: str) -> BaseResponse:
    if not ConfirmForm().validate_on_submit():
        return error_response(SicdocError("The form was incomplete", code="invalid"))
    return _change(
        lambda: accounts.enable_user(get_session(), username, current_actor()),
        f"{username} may log in again.",
        url_for("admin.person", username=username),
    )


@bp.post("/users/<username>/role")
def set_role(username: str) -> BaseResponse:
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
def disable_user(username: str) -> BaseResponse:
    if not ConfirmForm().validate_on_submit():
        return error_response(SicdocError("The form was incomplete", code="invalid"))
    if username == g.user.username:
        return error_response(SicdocError("You cannot disable yourself", code="business-rule"), 409)
    return _change(
        lambda: accounts.disable_user(get_session(), username, current_actor()),
        f"{username} is disabled; their sessions were ended.",
    )


def _clients_page(
    form: ClientForm | None = None, status: int = 200, issued: dict[str, Any] | None = None
) -> tuple[str, int, dict[str, str]]:
    rows = accounts.list_clients(get_session())
    body = render_template(
        "admin/clients.html", clients=rows, form=form or ClientForm(formdata=None), issued=issued, user=g.user
    )
    # A secret is on this page once: no cache may keep it.
    return body, status, {"Cache-Control": "no-store"}


@bp.get("/clients")
def clients() -> tuple[str, int, dict[str, str]]:
    return _clients_page()


@bp.post("/clients")
def create_client() -> BaseResponse | tuple[str, int, dict[str, str]]:
    form = ClientForm()
    if not form.validate_on_submit():
        return _clients_page(form, 400)
    jwks = None
    if (form.jwks.data or "").strip():
        try:
            jwks = json.loads(form.jwks.data or "")
        except ValueError as exc:
            form.jwks.errors = [f"This is not JSON: {exc}"]
            return _clients_page(form, 400)
    try:
        client_id, secret = accounts.create_client(
            get_session(),
            form.name.data or "",
            form.scopes.data or "",
            jwks=jwks,
            with_secret=bool(form.secret.data),
            actor=current_actor(),
        )
    except AuditUnavailable as exc:
        return error_response(exc)
    except SicdocError as exc:
        _field_errors(form, exc, "scopes")
        return _clients_page(form, exc.status)
    issued = {"name": form.name.data, "client_id": client_id, "secret": secret}
    return _clients_page(issued=issued, status=201)


@bp.post("/clients/<client_id>/revoke")
def revoke_client(client_id: str) -> BaseResponse:
    if not ConfirmForm().validate_on_submit():
        return error_response(SicdocError("The form was incomplete", code="invalid"))
    try:
        accounts.revoke_client(get_session(), client_id, current_actor())
    except SicdocError as exc:
        return error_response(exc)
    flash(f"Revoked {client_id}; its tokens no longer work.")
    return redirect(url_for("admin.clients"))


@bp.get("/audit")
def audit_log() -> BaseResponse | tuple[str, int]:
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
