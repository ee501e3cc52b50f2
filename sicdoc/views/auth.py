"""Logging in and out: server-side sessions behind a random cookie, rotated at every login."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from sicdoc.db import get_session
from sicdoc.security.audit import Actor, AuditUnavailable
from sicdoc.services import accounts
from sicdoc.views.guard import cookie_name, current_actor, error_response
from sicdoc.views.limits import limiter, login_limit

bp = Blueprint("auth", __name__)

FAILED = "Wrong username or password, or the account is disabled."


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[InputRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=1024)])


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
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
        user, raw = accounts.login(session, username, form.password.data or "", attempt)
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
