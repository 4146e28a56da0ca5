"""``dynahate collect``: adversarial rounds. Annotators try to fool the served adapter from a page, write a
perturbation that flips each post's label, and validate each other's entries; every entry and vote is kept in a
database (SQLite by default, PostgreSQL by URL) through SQLAlchemy 2, its schema managed by Alembic.
"""
