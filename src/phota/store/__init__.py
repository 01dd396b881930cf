"""Persistence: SQLAlchemy models and repositories, migrations, blob stores, URL signing."""
