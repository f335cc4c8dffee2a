"""Named, ordered schema migrations, recorded in the database they change (simonw/llm's habit).

Each database (the catalog, the search index) owns one `Migrations` list. Opening a database applies
the steps it has not recorded yet, oldest first, each in its own transaction together with its record,
so a crash leaves the schema either before or after a step. A database made before migrations existed
has no `_migrations` table: its first step is written with `IF NOT EXISTS`, so it is a no-op there
and merely recorded. A database recording a step this version does not know was written by a newer
podsearch, and is refused instead of being changed under it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from podsearch.core.errors import ConfigError

Step = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    """One named schema change."""

    name: str
    apply: Step


@dataclass
class Migrations:
    """The ordered schema changes of one database (`what` names it in errors)."""

    what: str
    steps: list[Migration] = field(default_factory=list)

    def __call__(self, fn: Step) -> Step:
        """Register `fn` as the next step, named after the function."""
        if any(step.name == fn.__name__ for step in self.steps):
            raise ValueError(f"migration {fn.__name__} registered twice")
        self.steps.append(Migration(fn.__name__, fn))
        return fn

    def sql(self, name: str, script: str) -> None:
        """Register a step made of SQL statements, run in order."""

        def run(db: sqlite3.Connection) -> None:
            for statement in split_sql(script):
                db.execute(statement)

        self.steps.append(Migration(name, run))

    def applied(self, db: sqlite3.Connection) -> list[str]:
        """Names of the steps recorded in `db`, in the order they were applied."""
        ensure_table(db)
        return [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY id")]

    def apply(self, db: sqlite3.Connection) -> list[str]:
        """Apply every step `db` has not recorded; returns the names applied now."""
        ensure_table(db)
        known = {step.name for step in self.steps}
        done_now: list[str] = []
        for step in self.steps:
            if step.name in self._recorded(db):
                continue
            db.execute("BEGIN IMMEDIATE")  # IMMEDIATE: a second process waits here, then sees the record
            try:
                if step.name not in self._recorded(db):
                    step.apply(db)
                    db.execute("INSERT INTO _migrations(name, applied_at) VALUES (?, ?)",
                               (step.name, datetime.now(timezone.utc).replace(microsecond=0).isoformat()))
                    done_now.append(step.name)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        unknown = [name for name in self._recorded(db) if name not in known]
        if unknown:
            raise ConfigError(f"the {self.what} was written by a newer podsearch (migration {unknown[0]!r} is "
                              "unknown here); upgrade podsearch to open this home")
        return done_now

    @staticmethod
    def _recorded(db: sqlite3.Connection) -> set[str]:
        return {row[0] for row in db.execute("SELECT name FROM _migrations")}


def ensure_table(db: sqlite3.Connection) -> None:
    """Create the record of applied migrations if the database has none yet."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
               " applied_at TEXT NOT NULL)")
    if db.in_transaction:
        db.commit()


def split_sql(script: str) -> list[str]:
    """The complete statements of `script` (triggers' inner `;` stay inside their statement)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:60]!r}")
    return statements


def open_database(path: str, migrations: Migrations, **connect: object) -> sqlite3.Connection:
    """Open `path` with WAL and foreign keys on, then bring its schema up to date."""
    db = sqlite3.connect(path, isolation_level=None, **connect)  # type: ignore[call-overload]
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys = ON")
    migrations.apply(db)
    db.isolation_level = ""  # back to Python's implicit transactions for the owner's `with db:` writes
    return db
