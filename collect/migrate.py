"""The collect database's schema revisions, managed by Alembic (``collect/migrations``).

:func:`check_schema` is what every command runs on opening a database: an empty database is created at the head
revision; one at the head is used; an older one is refused with the command that upgrades it
(``dynahate collect upgrade``, :func:`upgrade`); one at a revision this release does not know was written by a
newer dynahate and is refused.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from dynahate.core.errors import DynahateError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection, Engine


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("dynahate.collect").joinpath("migrations")))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = scripts().get_current_head()
    assert head is not None  # the package ships its migrations
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at: None when it has no ``alembic_version`` table (a new database)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _table_names(connection: Connection) -> list[str]:
    from sqlalchemy import inspect

    return inspect(connection).get_table_names()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate the database to ``revision``; returns (revision before, revision after)."""
    from alembic import command

    with engine.begin() as connection:
        before = current_revision(connection)
        if before is not None and before not in _known():
            raise DynahateError(_newer(before))
        if before is None:
            _refuse_foreign_tables(connection)
        command.upgrade(alembic_config(connection), revision)
        return before, current_revision(connection) or "base"


def _known() -> set[str]:
    return {script.revision for script in scripts().walk_revisions()}


def _newer(revision: str) -> str:
    return (f"the database is at schema revision {revision}, which this dynahate ({head_revision()} is its newest) "
            "does not know: it was written by a newer dynahate; upgrade dynahate-qlora to use it")


def _refuse_foreign_tables(connection: Connection) -> None:
    tables = [name for name in _table_names(connection) if name != "alembic_version"]
    if tables:
        raise DynahateError(f"the database holds tables ({', '.join(sorted(tables)[:5])}) but no collect schema "
                            "revision: it is not a dynahate collect database; give another --db")


def check_schema(engine: Engine, *, create: bool = True) -> None:
    """Refuse a database this release cannot use; create an empty one at the head revision when ``create``."""
    head = head_revision()
    with engine.connect() as connection:
        current = current_revision(connection)
        if current is None:
            _refuse_foreign_tables(connection)
        connection.rollback()
    if current == head:
        return
    if current is None:
        if not create:
            raise DynahateError("the database is empty: start `dynahate collect serve` or add an annotator first")
        upgrade(engine)
        return
    if current not in _known():
        raise DynahateError(_newer(current))
    raise DynahateError(f"the database is at schema revision {current}, older than this dynahate's {head}: back it up, "
                        "then run `dynahate collect upgrade --db URL`")
