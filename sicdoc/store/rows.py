"""Rows of many creates held until the end of a bulk-load batch, then written one statement per table.

While a session holds rows (``holding``), the store's creates put their resource, history, search-index,
compartment and identifier rows here instead of inserting them one bundle at a time, and reads of those
resources are answered from here. ``write`` inserts them all, then projects the created resources (the
projections read resources and index rows back, so they come after). Each bundle marks where its rows
begin, so a bundle that fails takes back only its own rows (``undo``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import orjson
from psycopg import Pipeline
from sqlalchemy import JSON, Dialect, Table, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from sicdoc.models import BundleReceipt, Resource, ResourceVersion

if TYPE_CHECKING:
    from sicdoc.store.stored import Stored

_KEY = "sicdoc.held_rows"
_RESOURCE = Resource.__table__
_VERSION = ResourceVersion.__table__
_RECEIPT = BundleReceipt.__table__
FEW_ROWS = 20  # up to this many rows are inserted by executemany on PostgreSQL, more by COPY


@dataclass(frozen=True)
class Mark:
    created: int
    rows: dict[Table, int]
    identifiers: int
    receipts: int


class HeldRows:
    """The rows of one batch's creates, in the order they were made."""

    def __init__(self) -> None:
        self.created: dict[tuple[str, str], Stored] = {}
        # Current versions read while holding (the Organization every bundle matches): nothing held
        # changes a stored resource, so each is read once until the held rows are written.
        self.read: dict[tuple[str, str], Stored] = {}
        self.rows: dict[Table, list[dict[str, Any]]] = {}
        self.identifiers: dict[tuple[str, str, str], None] = {}  # (type, system, value): unique ones
        # (client id, key) -> receipt row, None when there is none: those read for the batch up front
        # (``read_receipts``) and those it adds (``new_receipts``)
        self.receipts: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.new_receipts: list[tuple[str, str]] = []

    def __bool__(self) -> bool:
        return bool(self.created or self.new_receipts)

    def add(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.rows.setdefault(table, []).extend(rows)

    def add_receipt(self, row: dict[str, Any]) -> None:
        key = (row["client_id"], row["key"])
        self.receipts[key] = row
        self.new_receipts.append(key)

    def read_receipts(self, session: Session, client_id: str, keys: list[str]) -> None:
        """Read the receipts of ``client_id`` under ``keys`` at once (None for those not found)."""
        wanted = [key for key in dict.fromkeys(keys) if (client_id, key) not in self.receipts]
        for key in wanted:
            self.receipts[(client_id, key)] = None
        table = BundleReceipt
        for start in range(0, len(wanted), 500):
            found = session.execute(
                select(table.client_id, table.key, table.body_hash, table.response).where(
                    table.client_id == client_id, table.key.in_(wanted[start : start + 500])
                )
            )
            for row in found:
                self.receipts[(row.client_id, row.key)] = dict(row._mapping)

    def mark(self) -> Mark:
        return Mark(
            len(self.created),
            {table: len(rows) for table, rows in self.rows.items()},
            len(self.identifiers),
            len(self.new_receipts),
        )

    def undo(self, mark: Mark) -> None:
        """Take back everything held since ``mark`` (a bundle that failed)."""
        for key in list(self.created)[mark.created :]:
            del self.created[key]
        for table, rows in self.rows.items():
            del rows[mark.rows.get(table, 0) :]
        for ident in list(self.identifiers)[mark.identifiers :]:
            del self.identifiers[ident]
        for key in self.new_receipts[mark.receipts :]:
            self.receipts[key] = None
        del self.new_receipts[mark.receipts :]

    def write(self, session: Session, project: Callable[[Session, list[Stored]], None]) -> None:
        """Insert every held row, resources first, then ``project`` the created resources; the
        rows are then no longer held (the receipts read stay known)."""
        created = list(self.created.values())
        if created:
            _insert_resources(session, created)
        for table, rows in self.rows.items():
            insert_rows(session, table, rows)
        if created:
            project(session, created)
        new = [row for key in self.new_receipts if (row := self.receipts[key]) is not None]
        self.created, self.rows, self.identifiers, self.new_receipts, self.read = {}, {}, {}, [], {}
        insert_rows(session, _RECEIPT, new)


def _insert_resources(session: Session, created: list[Stored]) -> None:
    """The current and history rows of version-1 creates; the body goes in the current row only, as
    ``Store`` writes it."""
    versions = [
        {
            "resource_type": s.resource_type,
            "id": s.id,
            "version_id": s.version_id,
            "last_updated": s.last_updated,
            "deleted": False,
        }
        for s in created
    ]
    current = [
        {**row, "content": Serialised(orjson.dumps(s.content).decode())}
        for row, s in zip(versions, created, strict=True)
    ]
    insert_rows(session, _RESOURCE, current)
    insert_rows(session, _VERSION, [{**row, "method": "POST"} for row in versions])


class Serialised(str):
    """A JSON document already serialised (as the engine's ``json_serializer`` would)."""


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` through the driver: PostgreSQL's COPY (executemany for a few), SQLite's executemany.

    Values are converted as the columns' types convert them for SQLAlchemy, so the rows are those an
    ``insert(table)`` would write; a refusal is raised as SQLAlchemy's error for it.
    """
    insert_tables(session, [(table, rows)])


def insert_tables(session: Session, parts: list[tuple[Table, list[dict[str, Any]]]]) -> None:
    """``insert_rows`` for each (table, rows) in turn. On PostgreSQL, when every part is a few rows,
    all of them go to the server in one round trip (a pipeline) rather than one per table."""
    connection = session.connection()
    dialect = connection.dialect
    inserts = [_prepared(table, rows, dialect) for table, rows in parts if rows]
    if not inserts:
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    if dialect.name == "postgresql" and len(inserts) > 1 and not any(c for _, _, c in inserts):
        with driver_errors(dialect, "; ".join(s for s, _, _ in inserts)), one_round_trip(driver):
            for statement, values, _ in inserts:
                _insert(driver, statement, values, copying=False)
        return
    for statement, values, copying in inserts:
        with driver_errors(dialect, statement):
            _insert(driver, statement, values, copying=copying)


def _insert(driver: Any, statement: str, values: list[Any], *, copying: bool) -> None:
    cursor = driver.cursor()
    try:
        if copying:
            with cursor.copy(statement) as copy:
                for row in values:
                    copy.write_row(row)
        else:
            cursor.executemany(statement, values)
    finally:
        cursor.close()


def _prepared(table: Table, rows: list[dict[str, Any]], dialect: Dialect) -> tuple[str, list[Any], bool]:
    """The statement, the driver's values and whether it is a COPY, for inserting ``rows``."""
    columns, values = _tuples(rows, [c.name for c in table.columns])
    defaults = {
        c.name: c.default.arg
        for c in table.columns
        if c.name not in columns and isinstance(c.default, ScalarElementColumnDefault)
    }
    names = [*columns, *defaults]
    values = _converted(values, [_converter(table.c[name].type, dialect) for name in columns])
    if defaults:
        fixed = tuple(defaults.values())
        values = [row + fixed for row in values]
    # COPY costs two round trips however few the rows; a pipelined executemany of a few is one.
    if dialect.name == "postgresql" and len(values) > FEW_ROWS:
        quote = dialect.identifier_preparer.quote
        return f"COPY {quote(table.name)} ({', '.join(map(quote, names))}) FROM STDIN", values, True
    return _insert_text(table, tuple(names), dialect), values, False


def one_round_trip(driver: Any) -> AbstractContextManager[object]:
    """Statements sent through PostgreSQL's driver within the block go to the server together and
    their results come back together (a pipeline, libpq 14 and later); with an older libpq they go
    one by one, as ever."""
    return driver.pipeline() if Pipeline.is_supported() else nullcontext()


@contextmanager
def driver_errors(dialect: Dialect, statement: str) -> Iterator[None]:
    """Within the block, an error of the driver is raised as SQLAlchemy's error for it, which is what
    callers of the store catch (``statement`` names what was being run)."""
    try:
        yield
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dialect.loaded_dbapi.Error) from None


@lru_cache(maxsize=256)
def _insert_text(table: Table, names: tuple[str, ...], dialect: Dialect) -> str:
    """``INSERT INTO table (names) VALUES (?, ...)`` with the driver's positional markers."""
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    columns, markers = ", ".join(map(quote, names)), ", ".join([marker] * len(names))
    return f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({markers})"  # noqa: S608 - the model's names


def _tuples(rows: list[dict[str, Any]], order: list[str]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The columns the rows name, in the table's ``order`` (the order of a compiled INSERT's
    parameters), and the rows as tuples in that order (a column some rows leave out is NULL in them)."""
    named = set(rows[0])
    columns = [name for name in order if name in named]
    pick = itemgetter(*columns)
    try:
        if any(len(row) != len(columns) for row in rows):
            raise KeyError(columns)
        if len(columns) == 1:
            return columns, [(pick(row),) for row in rows]
        return columns, [pick(row) for row in rows]
    except KeyError:
        named = {name for row in rows for name in row}
        columns = [name for name in order if name in named]
        return columns, [tuple(row.get(name) for name in columns) for row in rows]


def _converted(
    values: list[tuple[Any, ...]], convert: list[Callable[[Any], Any] | None]
) -> list[tuple[Any, ...]]:
    """Each value converted for the driver, as the column's type converts it."""
    converting = [(i, fn) for i, fn in enumerate(convert) if fn is not None]
    if not converting:
        return values
    out = []
    for row in values:
        cells = list(row)
        for i, fn in converting:
            if cells[i] is not None:
                cells[i] = fn(cells[i])
        out.append(tuple(cells))
    return out


def _converter(column_type: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """How SQLAlchemy turns a value of this column type into what the driver takes."""
    if isinstance(column_type.dialect_impl(dialect), JSON):
        return lambda value: value if isinstance(value, Serialised) else orjson.dumps(value).decode()
    if dialect.name == "postgresql":
        return None  # COPY formats dates, numbers and booleans itself
    processor: Callable[[Any], Any] | None = column_type.dialect_impl(dialect).bind_processor(dialect)
    return processor


def held_rows(session: Session) -> HeldRows | None:
    """The rows this session is holding, or None when writes go straight to the database."""
    held = session.info.get(_KEY)
    return held if isinstance(held, HeldRows) else None


@contextmanager
def holding(session: Session, held: HeldRows | None) -> Iterator[None]:
    """Within the block, the store's creates on ``session`` are held in ``held`` (None: written at once)."""
    before = session.info.get(_KEY)
    if held is None:
        session.info.pop(_KEY, None)
    else:
        session.info[_KEY] = held
    try:
        yield
    finally:
        if before is None:
            session.info.pop(_KEY, None)
        else:
            session.info[_KEY] = before
