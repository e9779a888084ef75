"""Alembic environment, run by `runwright.archive.migrate` on the connection it passes in."""

from __future__ import annotations

from alembic import context

from runwright.archive.schema import Base, is_modelled

connection = context.config.attributes["connection"]
if connection is None:
    raise RuntimeError("run archive migrations with runwright.archive.migrate(url)")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_name=is_modelled,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
