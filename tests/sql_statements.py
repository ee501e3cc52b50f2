"""The SQL statements a block of test code sends, for tests that hold a query count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event


@contextmanager
def sent(engine: Engine) -> Iterator[list[str]]:
    """Collects the statements ``engine`` executes inside the block."""
    statements: list[str] = []

    def note(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def selects(statements: list[str]) -> int:
    return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])
