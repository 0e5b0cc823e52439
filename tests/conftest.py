"""Shared fixtures: the sandbox over loopback HTTP, databases, a wired bot."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import create_engine, make_url, text

from bot.billing.sandbox import SandboxConfig, create_sandbox_app
from storage.db import normalise_url
from tests.support.harness import Harness, make_settings
from tests.support.sandbox import RunningSandbox
from tests.support.servers import serve_in_thread

POSTGRES_URL = os.environ.get("PAYBOT_TEST_POSTGRES_URL")


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    config = SandboxConfig(rate_limits=False)
    with serve_in_thread(create_sandbox_app(config)) as root:
        yield RunningSandbox(root)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test run's own, so concurrent runs never collide."""
    if not POSTGRES_URL:
        pytest.skip("PAYBOT_TEST_POSTGRES_URL is not set")
    name = f"paybot_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalise_url(POSTGRES_URL)).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def reset_postgres(url: str) -> None:
    engine = create_engine(normalise_url(url))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """Each test using it runs on SQLite, and on PostgreSQL when available."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/paybot.db"
    url: str = request.getfixturevalue("postgres_url")
    reset_postgres(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/paybot.db"


@pytest.fixture
async def bot(sandbox: RunningSandbox, database_url: str) -> AsyncIterator[Harness]:
    harness = Harness.start(make_settings(sandbox, database_url), sandbox)
    yield harness
    await harness.aclose()
