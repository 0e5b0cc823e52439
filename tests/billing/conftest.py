"""Fixtures: a real simulator over loopback HTTP, and clients that never sleep."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bot.billing.client import BillingClient
from bot.billing.sandbox import SandboxConfig, create_sandbox_app
from tests.support.sandbox import RunningSandbox
from tests.support.servers import serve_in_thread

TOKEN = "sandbox-token"


@dataclass
class SleepRecorder:
    """Stands in for asyncio.sleep: records the waits, returns at once."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., RunningSandbox]]:
    """Start simulators built from plain config values; stopped after the test."""
    with ExitStack() as stack:

        def start(**values: Any) -> RunningSandbox:
            config = SandboxConfig.from_mapping(values)
            root = stack.enter_context(serve_in_thread(create_sandbox_app(config)))
            return RunningSandbox(root)

        yield start


@pytest.fixture
def sandbox(start_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    return start_sandbox()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., BillingClient]]:
    clients: list[BillingClient] = []

    def make(base_url: str, token: str = TOKEN, **options: Any) -> BillingClient:
        options.setdefault("sleep", SleepRecorder())
        client = BillingClient(base_url, token, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(
    sandbox: RunningSandbox, make_client: Callable[..., BillingClient]
) -> BillingClient:
    return make_client(sandbox.api_url)


def mock_transport(
    *answers: httpx.Response | Exception,
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport that answers in order (repeating the last) and keeps requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handler), seen
