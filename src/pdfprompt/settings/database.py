"""Settings of `pdfprompt.db`: which database, and its connection pool."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, Field, field_validator


class DatabaseSettings(BaseModel):
    """The job table and everything else live in one database: a SQLite file by default,
    PostgreSQL when several machines share the queue."""

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL"),
        description=(
            "`sqlite:///path` or `postgresql://user@host/db` (`postgres://` is accepted). "
            "Unset: the SQLite file `pdfprompt.sqlite3` in the data directory. SQLite needs a "
            "file: `:memory:` is refused, since every connection would get a database of its "
            "own."
        ),
    )
    database_max_connections: int = Field(
        default=10,
        ge=1,
        validation_alias=AliasChoices("DATABASE_MAX_CONNECTIONS"),
        description="Connections in each process's pool, at most (no overflow beyond it).",
    )
    database_idle_timeout_s: float = Field(
        default=300.0,
        gt=0,
        validation_alias=AliasChoices("DATABASE_IDLE_TIMEOUT"),
        description=(
            "Seconds after which a pooled connection is replaced by a new one the next time it "
            "is taken from the pool."
        ),
    )
    database_connect_timeout_s: float = Field(
        default=10.0,
        gt=0,
        validation_alias=AliasChoices("DATABASE_CONNECT_TIMEOUT"),
        description=(
            "Seconds to wait for a connection: to open one, for a free one in the pool, and, "
            "on SQLite, for the database's write lock."
        ),
    )

    database_slow_ms: int = Field(
        default=250,
        ge=0,
        le=600_000,
        validation_alias=AliasChoices("PDFPROMPT_DATABASE_SLOW_MS"),
        description=(
            "On SQLite (the embedded default): a read or a transaction on the driver's own "
            "threads (the queue's hot path, the polls) that takes longer is logged as a "
            "warning (`pdfprompt.db`) with its parts: the wait for the write lock, the "
            "statements, the durable commit. 0: never. On PostgreSQL the server's "
            "`log_min_duration_statement` does this."
        ),
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("DATABASE_URL must start with sqlite:// or postgresql://")
        if value.startswith("sqlite") and (":memory:" in value or value.rstrip("/") == "sqlite:"):
            # Every connection to an in-memory database gets a database of its own.
            raise ValueError("DATABASE_URL: SQLite needs a file (sqlite:///path), not :memory:")
        return value
