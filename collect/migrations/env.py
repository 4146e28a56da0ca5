"""Alembic's environment for the collect database: runs on the connection :mod:`dynahate.collect.migrate` hands it
(``config.attributes["connection"]``), against the tables of :mod:`dynahate.collect.schema`."""

from alembic import context

from dynahate.collect.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
