"""The ``sicdoc`` command as a test runs it: in-process, on the test database."""

from click.testing import CliRunner, Result

from sicdoc.cli import main


def sicdoc(database_url: str, *args: str, input: str | None = None) -> Result:
    """``sicdoc --database-url DATABASE_URL ARGS`` with ``input`` on its standard input."""
    return CliRunner().invoke(
        main, ["--database-url", database_url, *args], input=input, obj={"overrides": {"TESTING": True}}
    )
