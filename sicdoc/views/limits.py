"""Rate limits (Flask-Limiter); storage from ``SICDOC_RATELIMIT_STORAGE_URI`` (shared Redis for many workers)."""

from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)


def login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def token_limit() -> str:
    return str(current_app.config["TOKEN_RATE_LIMIT"])
