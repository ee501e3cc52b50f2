"""The start page after login, with links by role."""

from __future__ import annotations

from flask import Blueprint, g, render_template

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> str:
    return render_template("home.html", user=g.user)
