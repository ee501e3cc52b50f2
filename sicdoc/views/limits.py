"""Rate limits per client address, counted where every worker and server sees the same numbers.

Storage from ``SICDOC_RATELIMIT_STORAGE_URI``: ``database://`` (the default) keeps fixed-window
counters in the application's own database; ``redis://...`` uses Redis; ``memory://`` counts in
each process alone (one process only). Each app has its own limiter, so two apps in one process
(or two workers, or two servers) share counts only through the storage.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import ParamSpec, TypeVar

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItem, parse
from limits.errors import ConfigurationError
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from sicdoc.security.ratelimits import DatabaseStorage

EXTENSION = "sicdoc.ratelimiter"
DATABASE = "database://"

P = ParamSpec("P")
R = TypeVar("R")


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = FixedWindowRateLimiter(_storage(app))
    app.after_request(_headers)


def _storage(app: Flask) -> Storage:
    uri = str(app.config.get("RATELIMIT_STORAGE_URI") or DATABASE)
    if uri == DATABASE:
        return DatabaseStorage(app.extensions["sicdoc.engine"])
    try:
        found = storage_from_string(uri)
    except ConfigurationError as exc:
        raise RuntimeError(f"SICDOC_RATELIMIT_STORAGE_URI '{uri}': {exc}") from None
    if not isinstance(found, Storage):  # the async:// schemes
        raise RuntimeError(
            f"SICDOC_RATELIMIT_STORAGE_URI '{uri}': an asynchronous storage cannot be used here"
        )
    return found


def storage(app: Flask) -> Storage:
    return app.extensions[EXTENSION].storage


def limited(
    config_key: str, methods: Iterable[str] = ("POST",)
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Count each request (of ``methods``) against the limit named by ``config_key``; 429 past it."""
    counted = frozenset(methods)

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if request.method in counted:
                hit(str(current_app.config[config_key]))
            return view(*args, **kwargs)

        return wrapper

    return decorate


def hit(limit: str) -> None:
    """One hit on this endpoint's limit for the client address; raise TooManyRequests past it."""
    item: RateLimitItem = parse(limit)
    strategy: FixedWindowRateLimiter = current_app.extensions[EXTENSION]
    who = (str(current_app.config["RATELIMIT_KEY_PREFIX"]), request.endpoint or "", client_address())
    try:
        allowed = strategy.hit(item, *who)
        stats = strategy.get_window_stats(item, *who)
    except Exception as exc:  # any storage failure: refuse rather than let attempts through uncounted
        current_app.logger.warning("rate-limit storage unavailable: %s", exc)
        raise ServiceUnavailable("The rate-limit storage is unavailable; try again shortly") from exc
    g.rate_limit = (item.amount, stats.remaining, stats.reset_time)
    if not allowed:
        raise TooManyRequests(str(item))


def client_address() -> str:
    """The client's address: the socket peer, or the forwarded one when trusted proxies are configured."""
    return request.remote_addr or "unknown"


def _headers(resp: Response) -> Response:
    state = g.get("rate_limit")
    if state is None or not current_app.config.get("RATELIMIT_HEADERS_ENABLED"):
        return resp
    amount, remaining, reset = state
    resp.headers["X-RateLimit-Limit"] = str(amount)
    resp.headers["X-RateLimit-Remaining"] = str(remaining)
    resp.headers["X-RateLimit-Reset"] = str(int(reset))
    if resp.status_code == 429:
        resp.headers["Retry-After"] = str(max(1, int(reset - time.time()) + 1))
    return resp
