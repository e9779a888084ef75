"""The archive's tables: runs, block attempts, their Events and their logs.

One definition of the schema for both backends; the Alembic migrations create
exactly these tables and indexes (a unit test compares them). Times are stored
as UTC on both backends (see `UtcDateTime`), JSON as the dialect's JSON type.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAME = String(253)  # a Kubernetes object name (DNS-1123 subdomain) at most


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both backends.

    PostgreSQL keeps `timestamptz`; SQLite has no time zone, so the value is
    stored as naive UTC text (whose lexical order is the time order the indexes
    rely on) and given its UTC zone back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the archive stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The declarative base; constraint names are fixed so migrations can name them."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: dict[Any, Any] = {datetime: UtcDateTime}


class Run(Base):
    """One PipelineRun, keyed by its uid: the row is rewritten as the run's phase changes."""

    __tablename__ = "runs"

    uid: Mapped[str] = mapped_column(String(64), primary_key=True)
    namespace: Mapped[str] = mapped_column(NAME)
    name: Mapped[str] = mapped_column(NAME)
    pipeline: Mapped[str] = mapped_column(NAME)
    pipeline_generation: Mapped[int | None] = mapped_column(BigInteger)
    trigger: Mapped[str | None] = mapped_column(NAME)
    triggered_by: Mapped[str] = mapped_column(String(32))
    phase: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    #: Space-separated block names (with a space at each end), for the text filter.
    block_names: Mapped[str] = mapped_column(Text, default="")
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Block name to the outputs it reported.
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: status.metrics: sums of the numeric block metrics.
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The three metrics users sort and total by, when blocks report them (else NULL).
    items_processed: Mapped[float | None] = mapped_column(Float)
    cost: Mapped[float | None] = mapped_column(Float)
    tokens: Mapped[float | None] = mapped_column(Float)
    execution_date: Mapped[datetime | None]
    created_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    archived_at: Mapped[datetime]

    __table_args__ = (
        # Every sort key ends in uid: keyset pages are stable under ties.
        Index(None, "started_at", "uid"),
        Index(None, "completed_at", "uid"),
        Index(None, "duration_seconds", "uid"),
        Index(None, "items_processed", "uid"),
        Index(None, "cost", "uid"),
        Index(None, "phase", "uid"),
        # The common filters, each ordered by the default sort (newest started first).
        Index(None, "namespace", "started_at", "uid"),
        Index(None, "namespace", "pipeline", "started_at", "uid"),
        Index(None, "namespace", "trigger", "started_at", "uid"),
        Index(None, "phase", "started_at", "uid"),
        # Retention: finished runs of a phase older than a cutoff.
        Index(None, "phase", "completed_at", "uid"),
        # The same sorts inside one namespace: a list over the allowed namespaces is
        # one short range per namespace, merged (see runwright.archive.query).
        Index(None, "namespace", "completed_at", "uid"),
        # Covering for the duration sort of a time range: started_at is checked on
        # the index entries, read in (duration, uid) order.
        Index(None, "namespace", "duration_seconds", "uid", "started_at"),
        Index(None, "namespace", "items_processed", "uid"),
        Index(None, "namespace", "cost", "uid"),
        # The phase sort per namespace; counts by phase read it alone.
        Index(None, "namespace", "phase", "uid"),
    )


#: Text search objects the migrations create outside the models (backend-specific, and
#: on PostgreSQL only when pg_trgm could be created): SQLite's FTS5 table (and the
#: shadow tables FTS5 keeps beside it), PostgreSQL's trigram indexes.
SEARCH_TABLE = "runs_fts"
TRIGRAM_INDEXES = frozenset(f"ix_runs_{c}_trgm" for c in ("name", "message", "block_names"))


def is_modelled(name: str | None, type_: str, _parent: Any = None) -> bool:
    """Alembic's include_name hook: False for the text search objects above."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(SEARCH_TABLE)
    return not (type_ == "index" and name in TRIGRAM_INDEXES)


class Attempt(Base):
    """One attempt of one block: every attempt is kept, not only the last."""

    __tablename__ = "attempts"

    run_uid: Mapped[str] = mapped_column(
        String(64), ForeignKey("runs.uid", ondelete="CASCADE"), primary_key=True
    )
    block: Mapped[str] = mapped_column(String(63), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    phase: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    exit_code: Mapped[int | None] = mapped_column(Integer)
    job: Mapped[str | None] = mapped_column(NAME)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Event(Base):
    """A Kubernetes Event about the run, kept after the API server expires it (1 hour)."""

    __tablename__ = "events"

    run_uid: Mapped[str] = mapped_column(
        String(64), ForeignKey("runs.uid", ondelete="CASCADE"), primary_key=True
    )
    #: The Event's own uid, or a digest of its content: a repeated write is a no-op.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    time: Mapped[datetime | None]
    type: Mapped[str] = mapped_column(String(16), default="Normal")
    reason: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    count: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (Index(None, "run_uid", "time"),)


class Log(Base):
    """The tail of one attempt's log, up to the archive's cap."""

    __tablename__ = "logs"

    run_uid: Mapped[str] = mapped_column(
        String(64), ForeignKey("runs.uid", ondelete="CASCADE"), primary_key=True
    )
    block: Mapped[str] = mapped_column(String(63), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text, default="")
    #: True when the head of the log was cut to keep the tail under the cap.
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The log's full size in bytes before the cut.
    size: Mapped[int] = mapped_column(BigInteger, default=0)


class ItemAttempt(Base):
    """One attempt of one item of a fan-out (forEach) block: every item, every attempt.

    The run's status keeps per-item detail only for the items in flight and the first
    failed ones; this table is where each item's whole attempt chain outlives the run.
    A table of its own (not an item column in `attempts`): plain blocks' rows and
    readers stay as they were, and the migration only adds.
    """

    __tablename__ = "item_attempts"

    run_uid: Mapped[str] = mapped_column(
        String(64), ForeignKey("runs.uid", ondelete="CASCADE"), primary_key=True
    )
    block: Mapped[str] = mapped_column(String(63), primary_key=True)
    item: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    phase: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    exit_code: Mapped[int | None] = mapped_column(Integer)
    #: The attempt's pod (or Job) name: `<run>-<block>-<item>-<attempt>`.
    job: Mapped[str | None] = mapped_column(NAME)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ItemLog(Base):
    """The tail of one item attempt's log, up to the archive's cap (as `Log`)."""

    __tablename__ = "item_logs"

    run_uid: Mapped[str] = mapped_column(
        String(64), ForeignKey("runs.uid", ondelete="CASCADE"), primary_key=True
    )
    block: Mapped[str] = mapped_column(String(63), primary_key=True)
    item: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text, default="")
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
