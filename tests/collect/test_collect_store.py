"""Opening a collect database: the URL, SQLite's settings, and the schema revision (Alembic)."""

import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from dynahate.collect.migrate import head_revision, upgrade
from dynahate.collect.schema import Base
from dynahate.collect.store import create_db_engine, database_url, open_store, redacted
from dynahate.core.errors import DynahateError
from dynahate.testing.cli import run_main


def test_a_new_database_is_created_at_the_head_revision_and_matches_the_tables_of_the_code(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    try:
        with store.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head_revision()
            # what the migrations created is what schema.py declares, column for column, index for index
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        store.close()
    open_store(f"sqlite:///{tmp_path / 'c.sqlite3'}").close()  # opened again as it is


def test_a_new_sqlite_file_and_its_wal_are_readable_by_their_owner_alone(tmp_path):
    store = open_store(str(tmp_path / "c.sqlite3"))
    try:
        with store.transaction() as session:
            session.execute(text("SELECT 1"))
        files = {path.name: path.stat().st_mode & 0o777 for path in tmp_path.iterdir()}
    finally:
        store.close()
    assert files["c.sqlite3"] == 0o600 and set(files.values()) == {0o600}, files


def test_sqlite_is_opened_in_wal_mode_with_full_sync_foreign_keys_and_a_busy_timeout(tmp_path):
    store = open_store(str(tmp_path / "c.sqlite3"))  # a plain path is an SQLite file
    try:
        with store.engine.connect() as connection:
            pragma = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                      for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}
    finally:
        store.close()
    assert pragma == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 30000}


def test_a_database_of_a_newer_dynahate_is_refused_and_not_upgraded(tmp_path):
    path = tmp_path / "c.sqlite3"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(DynahateError, match="revision 0099, which this dynahate .* does not know: it was written "
                                            "by a newer dynahate"):
        open_store(f"sqlite:///{path}")
    proc = run_main(["collect", "upgrade", "--db", str(path)], check=False)
    assert proc.returncode == 2 and "written by a newer dynahate" in proc.stderr
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [("0099",)]


def test_a_database_of_something_else_is_refused_and_upgrade_leaves_it_alone(tmp_path):
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(DynahateError, match=r"holds tables \(invoices\) but no collect schema revision"):
        open_store(str(path))
    proc = run_main(["collect", "upgrade", "--db", str(path)], check=False)
    assert proc.returncode == 2 and "not a dynahate collect database" in proc.stderr
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == [("invoices",)]


def test_a_db_flag_that_cannot_work_is_argparse_s_one_line_error(tmp_path):
    proc = run_main(["collect", "stats", "--db", "mysql://u@h/db"], check=False)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == (
        "dynahate collect stats: error: argument --db: mysql is not supported; use sqlite:///FILE or "
        "postgresql+psycopg://USER@HOST/NAME")


def test_upgrade_creates_a_new_database_and_says_when_there_is_nothing_to_do(tmp_path):
    path = tmp_path / "c.sqlite3"
    first = run_main(["collect", "upgrade", "--db", str(path)])
    assert first.returncode == 0, first.stderr
    assert f"upgraded from schema revision (new database) to {head_revision()}" in first.stdout
    again = run_main(["collect", "upgrade", "--db", f"sqlite:///{path}"])
    assert again.returncode == 0 and f"already at schema revision {head_revision()}" in again.stdout


def test_upgrade_after_a_downgrade_to_nothing_brings_every_table_back(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    try:
        upgrade(engine)
        from alembic import command

        from dynahate.collect.migrate import alembic_config

        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM sqlite_master WHERE name = 'entries'")).scalar() == 0
        assert upgrade(engine) == (None, head_revision())
    finally:
        engine.dispose()


@pytest.mark.parametrize("url, message", [
    ("mysql://u@h/db", "mysql is not supported"),
    ("sqlite://", "must be a file"),
    ("sqlite:///:memory:", "must be a file"),
    ("sqlite:////nonexistent-folder/c.sqlite3", "folder /nonexistent-folder does not exist"),
    ("postgresql+nodriver://u@h/db", "no driver 'postgresql\\+nodriver'"),
])
def test_a_database_url_that_cannot_work_is_one_line(url, message):
    with pytest.raises(DynahateError, match=message):
        open_store(database_url(url))


def test_a_password_in_the_url_is_never_printed():
    assert redacted("postgresql+psycopg://user:s3cret@db.example/collect") == \
        "postgresql+psycopg://user:***@db.example/collect"


def test_a_database_of_the_first_release_is_refused_until_upgrade_migrates_it_keeping_its_rows(tmp_path):
    from alembic import command

    from dynahate.collect.migrate import alembic_config
    from dynahate.collect.tokens import add_annotator, authenticate

    path = tmp_path / "c.sqlite3"
    engine = create_db_engine(str(path))
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")  # as the first release left it
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO annotators (name, is_owner, created_at) VALUES ('alice', 0, "
                                "'2026-12-01 00:00:00')"))
    engine.dispose()
    with pytest.raises(DynahateError, match=f"at schema revision 0001, older than this dynahate's {head_revision()}: "
                                            "back it up, then run `dynahate collect upgrade --db URL`"):
        open_store(str(path))
    proc = run_main(["collect", "upgrade", "--db", str(path)])
    assert f"upgraded from schema revision 0001 to {head_revision()}" in proc.stdout
    store = open_store(str(path))
    try:
        token = add_annotator(store, "alice", new_token=True)  # the row kept through the migration
        assert authenticate(store, f"Bearer {token}").name == "alice"
        with store.reading() as session:
            key = session.execute(text("SELECT value FROM settings WHERE key = 'pseudonym_key'")).scalar_one()
        assert len(key) == 64
    finally:
        store.close()
