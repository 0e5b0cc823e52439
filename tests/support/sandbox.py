"""A handle on a running sandbox: its API URL and its test-only controls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from bot.billing.sandbox import API_PREFIX
from bot.billing.wire import loads


@dataclass(frozen=True)
class RunningSandbox:
    root: str

    @property
    def api_url(self) -> str:
        return self.root + API_PREFIX

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, self.root + path, json=body, timeout=5)
        assert response.status_code < 400, response.text
        return loads(response.text)

    def state(self) -> dict[str, Any]:
        return self.control("GET", "/_sandbox/state")

    def pay(self, session_id: str) -> None:
        self.control("POST", f"/_sandbox/sessions/{session_id}/pay")

    def decline(self, session_id: str) -> None:
        self.control("POST", f"/_sandbox/sessions/{session_id}/decline")

    def expire(self, session_id: str) -> None:
        self.control("POST", f"/_sandbox/sessions/{session_id}/expire")

    def faults(self, *kinds: str) -> None:
        self.control("POST", "/_sandbox/faults", {"kinds": list(kinds)})

    def clear_faults(self) -> None:
        self.control("POST", "/_sandbox/faults", {"kinds": [], "clear": True})

    def configure(self, **values: Any) -> None:
        self.control("POST", "/_sandbox/config", values)

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [call for call in self.state()["requests"] if call["path"] == path]
