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
from sicdoc.security.audit import Actor
from sicdoc.services import accounts
from sicdoc.views.guard import cookie_name, current_actor, safe_next
from sicdoc.views.limits import limited

bp = Blueprint("auth", __name__)

FAILED = "Wrong username or password, or the account is disabled."
# Why the login page is shown, by the ``reason`` the guard puts in the URL.
REASONS = {
    "expired": (
        "Your session has ended, so you were logged out. Log in again to go back to the page you were on; "
        "text typed into a form is kept in this browser and put back."
    ),
}
SIGN_IN_FIRST = "Log in to open that page; you will be taken there afterwards."
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
    target = safe_next(request.values.get("next"))
    reason = REASONS.get(request.args.get("reason", ""), SIGN_IN_FIRST if target else None)

    def page(status: int = 200, error: str | None = None) -> tuple[str, int]:
        return render_template("auth/login.html", form=form, error=error, reason=reason, next=target), status

    if request.method == "GET":
        return page()
    if not form.validate_on_submit():
        return page(400)
    username = form.username.data or ""
    attempt = Actor(username, "anonymous", request.remote_addr, g.request_id)
    session = get_session()
    old = request.cookies.get(cookie_name())
    try:
        if old:
            accounts.forget_session(session, old)  # a cookie from before the login never survives it
        user, raw = accounts.login(session, username, form.password.data or "", attempt, _lockout())
    except accounts.AccountLocked as exc:
        return page(401, LOCKED.format(until=_clock(exc.until)))
    except accounts.LoginFailed:
        return page(401, FAILED)
    resp = redirect(request.script_root + target if target else url_for("home.index"))
    _set_cookie(resp, raw)
    current_app.logger.info("login %s (%s)", user.username, user.role)
    return resp


@bp.post("/logout")
def logout() -> Response | BaseResponse:
    raw = request.cookies.get(cookie_name())
    if raw:
        accounts.logout(get_session(), raw, current_actor())  # AuditUnavailable: views/errors.py
    resp = redirect(url_for("auth.login"))
    resp.delete_cookie(
        cookie_name(), path="/", secure=current_app.config["SECURE_COOKIES"], httponly=True, samesite="Lax"
    )
    return resp


def _lockout() -> accounts.Lockout:
    cfg = current_app.config
    return accounts.Lockout(int(cfg["LOCKOUT_FAILURES"]), timedelta(minutes=int(cfg["LOCKOUT_MINUTES"])))


def _clock(when: datetime) -> str:
    return clock_time(when, ZoneInfo(str(current_app.config["TIME_ZONE"])))


def clock_time(when: datetime, zone: ZoneInfo, now: datetime | None = None) -> str:
    """``when`` as the site's wall clock shows it: HH:MM today, with the date on any other day
    (a lock taken at 23:55 ends tomorrow), rounded up so nobody is told a minute already past."""
    local = when.astimezone(zone)
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    today = (now or datetime.now(zone)).astimezone(zone).date()
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
