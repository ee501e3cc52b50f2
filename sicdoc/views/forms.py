"""The clinician web forms: one blueprint, routes in ``forms_patients`` and ``forms_conversations``.

Views stay thin: they read the post, call a service, and redirect or re-render with field messages.
Everything the clinician typed is rendered back from the post itself, so a refused form loses nothing.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, overload
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, abort, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import MultiDict

from sicdoc.conversation import Answer
from sicdoc.conversation.form import OTHER_SUFFIX, form_fields, other_text
from sicdoc.errors import SicdocError
from sicdoc.views.guard import asks_again_in, retry_after

bp = Blueprint("forms", __name__)
# Flash category of a confirmed write: the page then tells forms.js to drop its copy of the typed text.
SAVED = "saved"


def init_app(app: Flask) -> None:
    # The route modules attach to ``bp`` on import; importing them here keeps one registration point.
    from sicdoc.views import forms_conversations, forms_patients, forms_withdraw  # noqa: F401

    app.register_blueprint(bp)


@bp.errorhandler(SicdocError)
def _refused(error: SicdocError) -> Response:
    body = render_template(
        "forms/error.html", message=str(error), status=error.status, retry_in=asks_again_in(error)
    )
    return retry_after(Response(body, error.status, mimetype="text/html"), error)


@bp.errorhandler(CSRFError)
def _expired(error: CSRFError) -> tuple[str, int]:
    message = (
        "This form could not be accepted because its security token is missing or has expired. "
        "Nothing was saved. Go back: your browser keeps what you typed, and the form offers it again."
    )
    return render_template("forms/error.html", message=message, status=400), 400


def zone() -> tzinfo:
    return ZoneInfo(current_app.config.get("TIME_ZONE") or "UTC")


def local_now() -> datetime:
    return datetime.now(zone())


@overload
def local(moment: datetime) -> datetime: ...
@overload
def local(moment: None) -> None: ...
def local(moment: datetime | None) -> datetime | None:
    return moment.astimezone(zone()) if moment else None


def require_same(field: str, expected: str) -> None:
    """A hidden field that disagrees with the URL was tampered with: refuse before storing anything."""
    if request.form.get(field) != expected:
        abort(400, description=f"The form's {field} does not match the page it was sent from.")


def raw_from_answers(answers: dict[str, Answer], when: datetime | None) -> MultiDict[str, str]:
    """Stored answers as the form fields they were typed into, so one template renders both."""
    raw: MultiDict[str, str] = MultiDict()
    for f in form_fields():
        value = answers.get(f.link_id)
        if value is None:
            continue
        if f.control == "checkboxes":
            values = value if isinstance(value, list) else [value]
            codes = {code for code, _ in f.options}
            for v in values:
                if v in codes:
                    raw.add(f.link_id, str(v))
            if f.open_choice and (text := other_text(f.link_id, value)):
                raw.add(f.link_id + OTHER_SUFFIX, text)
        elif f.control == "yesno":
            raw.add(f.link_id, "yes" if value is True else "no")
        else:
            raw.add(f.link_id, str(value))
    if when is not None:
        raw.add("performed_start", local(when).strftime("%Y-%m-%dT%H:%M"))
    return raw


def render_status(template: str, status: int, **context: Any) -> tuple[str, int]:
    return render_template(template, **context), status
