"""Shared fixtures: the sandbox over loopback HTTP, databases, a wired bot."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import create_engine, text

from bot.billing.sandbox import SandboxConfig, create_sandbox_app
from storage.db import normalise_url
from tests.support.harness import Harness, make_settings
from tests.support.sandbox import RunningSandbox
from tests.support.servers import serve_in_thread

POSTGRES_URL = os.environ.get("PAYBOT_TEST_POSTGRES_URL")
TABLES = (
    "vote",
    "checkout",
    "outbox_message",
    "audit_event",
    "processed_inbound",
    "payment_request",
    "alembic_version",
)


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    config = SandboxConfig(rate_limits=False)
    with serve_in_thread(create_sandbox_app(config)) as root:
        yield RunningSandbox(root)


def reset_postgres(url: str) -> None:
    engine = create_engine(normalise_url(url))
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """Each test using it runs on SQLite, and on PostgreSQL when available."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/paybot.db"
    if not POSTGRES_URL:
        pytest.skip("PAYBOT_TEST_POSTGRES_URL is not set")
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/paybot.db"


@pytest.fixture
async def bot(sandbox: RunningSandbox, database_url: str) -> AsyncIterator[Harness]:
    harness = Harness.start(make_settings(sandbox, database_url), sandbox)
    yield harness
    await harness.aclose()
