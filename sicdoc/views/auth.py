"""Logging in and out: server-side sessions behind a random cookie, rotated at every login."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import Field, PasswordField, StringField
from wtforms.validators import InputRequired, Length, ValidationError

from sicdoc.db import get_session
from sicdoc.security.audit import Actor, AuditUnavailable
from sicdoc.services import accounts
from sicdoc.views.guard import cookie_name, current_actor, error_response
from sicdoc.views.limits import limited

bp = Blueprint("auth", __name__)

FAILED = "Wrong username or password, or the account is disabled."
LOCKED = (
    "This account is locked after repeated failed log-ins; try again after {until} or ask an administrator."
)


def _no_nul(_form: FlaskForm, field: Field) -> None:
    """NUL cannot be stored or looked up (PostgreSQL refuses it in text): an ordinary form error."""
    if "\x00" in (field.data or ""):
        raise ValidationError("This field may not contain a NUL character.")


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[InputRequired(), Length(max=80), _no_nul])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=1024), _no_nul])


@bp.route("/login", methods=["GET", "POST"])
@limited("LOGIN_RATE_LIMIT", methods=("POST",))
def login() -> Response | BaseResponse | tuple[str, int]:
    form = LoginForm()
    if request.method == "GET":
        return render_template("auth/login.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 400
    username = form.username.data or ""
    attempt = Actor(username, "anonymous", request.remote_addr, g.request_id)
    session = get_session()
    old = request.cookies.get(cookie_name())
    try:
        if old:
            accounts.forget_session(session, old)  # a cookie from before the login never survives it
        user, raw = accounts.login(session, username, form.password.data or "", attempt, _lockout())
    except accounts.AccountLocked as exc:
        return render_template(
            "auth/login.html", form=form, error=LOCKED.format(until=_clock(exc.until))
        ), 401
    except accounts.LoginFailed:
        return render_template("auth/login.html", form=form, error=FAILED), 401
    except AuditUnavailable as exc:
        return error_response(exc)
    resp = redirect(url_for("home.index"))
    _set_cookie(resp, raw)
    current_app.logger.info("login %s (%s)", user.username, user.role)
    return resp


@bp.post("/logout")
def logout() -> Response | BaseResponse:
    raw = request.cookies.get(cookie_name())
    try:
        if raw:
            accounts.logout(get_session(), raw, current_actor())
    except AuditUnavailable as exc:
        return error_response(exc)
    resp = redirect(url_for("auth.login"))
    resp.delete_cookie(
        cookie_name(), path="/", secure=current_app.config["SECURE_COOKIES"], httponly=True, samesite="Lax"
    )
    return resp


def _lockout() -> accounts.Lockout:
    cfg = current_app.config
    return accounts.Lockout(int(cfg["LOCKOUT_FAILURES"]), timedelta(minutes=int(cfg["LOCKOUT_MINUTES"])))


def _clock(when: datetime) -> str:
    """HH:MM in the site's time zone (with the date if not today), rounded up to the minute."""
    zone = ZoneInfo(str(current_app.config["TIME_ZONE"]))
    local = when.astimezone(zone)
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    today = datetime.now(zone).date()
    return local.strftime("%H:%M" if local.date() == today else "%Y-%m-%d %H:%M")


def _set_cookie(resp: BaseResponse, raw: str) -> None:
    cfg = current_app.config
    resp.set_cookie(
        cookie_name(),
        raw,
        max_age=int(float(cfg["SESSION_MAX_HOURS"]) * 3600),
        path="/",
        secure=cfg["SECURE_COOKIES"],
        httponly=True,
        samesite="Lax",
    )
