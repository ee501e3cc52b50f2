"""One exception hierarchy: every error sicdoc raises on purpose is a SicdocError, and the command
line renders any of them as one line."""

import importlib
import inspect
import pkgutil

import click
from click.testing import CliRunner

import sicdoc
from sicdoc.errors import ConfigurationError, InvalidInput, SicdocError, Unauthorized

# Control flow inside one module, never raised out of it.
PRIVATE = {
    "sicdoc.fhir.narrative._Refused",
    "sicdoc.services.bulk._Redo",
}


def _sicdoc_exceptions() -> dict[str, type]:
    found = {}
    for module in pkgutil.walk_packages(sicdoc.__path__, "sicdoc."):
        if module.name.startswith(("sicdoc.cli.__main__", "sicdoc.serve")):
            continue
        mod = importlib.import_module(module.name)
        for name, obj in vars(mod).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.name:
                found[f"{module.name}.{name}"] = obj
    return found


def test_every_sicdoc_exception_is_a_sicdoc_error():
    exceptions = _sicdoc_exceptions()
    assert "sicdoc.analytics.scope.ScopeError" in exceptions
    roots = {name for name, cls in exceptions.items() if not issubclass(cls, SicdocError)} - PRIVATE
    assert roots == set()


def test_the_former_roots_keep_their_status_and_message():
    from sicdoc.analytics.scope import ScopeError
    from sicdoc.conversation.answers import InvalidAnswers
    from sicdoc.dashboards.definitions import DefinitionError
    from sicdoc.security.audit import AuditKeyMissing
    from sicdoc.security.passwords import WeakPassword
    from sicdoc.security.scopes import InvalidScope
    from sicdoc.security.tokens import OAuthError
    from sicdoc.services.accounts import AccountLocked, LoginFailed

    for error in (ScopeError("x"), WeakPassword("x"), InvalidScope("x"), InvalidAnswers({"a": "x"})):
        assert isinstance(error, InvalidInput) and error.status == 400
    assert str(InvalidAnswers({"a": "too long", "b": "missing"})) == "a: too long; b: missing"
    assert [i.expression for i in InvalidAnswers({"a": "x"}).issues] == ["a"]
    assert isinstance(LoginFailed(), Unauthorized) and LoginFailed().status == 401
    assert issubclass(AccountLocked, LoginFailed)
    oauth = OAuthError("invalid_client", "no such client", 401)
    assert oauth.status == 401 and str(oauth) == "invalid_client: no such client"
    assert OAuthError("temporarily_unavailable", "down", 503).status == 503
    for error in (DefinitionError("x"), AuditKeyMissing()):
        assert isinstance(error, ConfigurationError) and error.status == 500


def test_the_command_line_renders_any_sicdoc_error_as_one_line():
    from sicdoc.cli import SicdocGroup

    @click.group(cls=SicdocGroup)
    def cli() -> None:
        pass

    @cli.command()
    def fail() -> None:
        raise InvalidInput("the period is upside down")

    result = CliRunner().invoke(cli, ["fail"])
    assert result.exit_code == 1
    assert result.output == "Error: the period is upside down\n"
