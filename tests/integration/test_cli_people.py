"""``sicdoc users add/create --name``, ``users set-name`` and ``users enable`` against the test database."""

from sqlalchemy import select

from sicdoc.db import session_scope
from sicdoc.models import AuditEvent, User
from sicdoc.services import practitioners
from tests.cli_runner import sicdoc
from tests.conftest import PASSWORD, login

ADA = ["--name", "Ada Okafor", "--credentials", "MD", "--npi", "1234567893", "--service", "Palliative care"]


def _identity(app, username):
    with session_scope(app) as s:
        return practitioners.identity(s, username)


def _user(app, username):
    with session_scope(app) as s:
        return s.scalar(select(User).where(User.username == username))


def test_users_add_with_a_name_links_a_practitioner(app, database_url):
    result = sicdoc(
        database_url,
        "users",
        "add",
        "dr.ada",
        "--role",
        "clinician",
        "--password-stdin",
        *ADA,
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "notes name them Ada Okafor, MD (Palliative care)" in result.output
    reference, shown = _identity(app, "dr.ada")
    assert reference.startswith("Practitioner/") and shown == "Ada Okafor, MD (Palliative care)"
    assert login(app.test_client(), "dr.ada").status_code == 302

    renamed = sicdoc(
        database_url, "users", "set-name", "dr.ada", "--name", "Ada Okafor-Reyes", "--credentials", "MD, PhD"
    )
    assert renamed.exit_code == 0, renamed.output
    assert _identity(app, "dr.ada") == (reference, "Ada Okafor-Reyes, MD, PhD")  # same Practitioner
    with session_scope(app) as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.action == "user-profile")).all()
    assert len(actions) == 2


def test_a_bad_npi_or_unknown_user_exits_non_zero_with_one_line_and_stores_nothing(app, database_url):
    bad = sicdoc(
        database_url,
        "users",
        "create",
        "bob",
        "--role",
        "clinician",
        "--password-stdin",
        "--name",
        "Bob Stone",
        "--npi",
        "1234567890",
        input=PASSWORD + "\n",
    )
    assert bad.exit_code == 1 and bad.output.count("\n") == 1 and "last digit must check out" in bad.output
    assert _user(app, "bob") is None
    nameless = sicdoc(
        database_url,
        "users",
        "create",
        "bob",
        "--role",
        "clinician",
        "--password-stdin",
        "--npi",
        "1234567893",
        input=PASSWORD + "\n",
    )
    assert nameless.exit_code == 1 and "full name" in nameless.output and _user(app, "bob") is None
    unknown = sicdoc(database_url, "users", "set-name", "nobody", "--name", "No One")
    assert unknown.exit_code == 1 and unknown.output.strip() == "Error: No user named 'nobody'"
    assert sicdoc(database_url, "users", "set-name", "nobody").exit_code == 2  # --name is required


def test_users_enable_lets_a_disabled_person_log_in_again(app, database_url):
    made = sicdoc(
        database_url, "users", "create", "carol", "--role", "admin", "--password-stdin", input=PASSWORD + "\n"
    )
    assert made.exit_code == 0, made.output
    assert _identity(app, "carol") == (None, "carol")  # no name recorded: notes use the login
    assert sicdoc(database_url, "users", "disable", "carol").exit_code == 0
    assert login(app.test_client(), "carol").status_code == 401
    enabled = sicdoc(database_url, "users", "enable", "carol")
    assert enabled.exit_code == 0 and "carol may log in again" in enabled.output
    assert login(app.test_client(), "carol").status_code == 302
    assert sicdoc(database_url, "users", "enable", "nobody").exit_code == 1
