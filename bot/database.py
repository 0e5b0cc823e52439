"""Opening the database at start: migrate it, or say in one line why not."""

from __future__ import annotations

from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from bot.errors import ConfigError
from storage.db import Database
from storage.migrate import upgrade


def open_database(url: str) -> Database:
    """The migrated database at ``url``; a bad ``DATABASE_URL`` is a ConfigError."""
    try:
        upgrade(url)
        return Database(url)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            "DATABASE_URL: not a database paybot can use "
            "(use sqlite:///path.db or postgresql://user@host/db)"
        ) from exc
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0][:160] if exc.orig else ""
        raise ConfigError(f"DATABASE_URL: cannot open the database: {reason}") from exc
