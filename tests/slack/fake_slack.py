"""A fake Slack Web API over real HTTP.

It answers the methods paybot calls the way Slack does, records every call,
and can be told to refuse the next calls of a method: ``ratelimited`` with
HTTP 429 and ``Retry-After``, or an error such as ``not_in_channel``.
Message ``ts`` values count up from ``1700000000.000100``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
BOT_USER = "UBOT"
TEAM = "T0TEAM"
USERS = {
    "U0AAA": "alice",
    "U0BBB": "bob",
    "U0CCC": "carol",
    "U0DDD": "dave",
    "U0EEE": "erin",
}

Answer = tuple[int, dict[str, Any]]


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    status: int
    error: str | None
    answer: dict[str, Any]
    at: float = field(default_factory=time.monotonic)

    @property
    def answer_ts(self) -> str:
        """The ts Slack gave the message this call posted."""
        return str(self.answer.get("ts") or self.answer.get("message_ts") or "")

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def channel(self) -> str:
        return str(self.args.get("channel", ""))

    @property
    def text(self) -> str:
        return str(self.args.get("text", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.args.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else list(blocks)

    @property
    def rendered(self) -> str:
        """Every text of the message, as Slack would receive it."""
        return self.text + "\n" + json.dumps(self.blocks)

    @property
    def action_ids(self) -> list[str]:
        return [
            element["action_id"]
            for block in self.blocks
            if block.get("type") == "actions"
            for element in block["elements"]
        ]


@dataclass
class Refusal:
    method: str
    error: str
    status: int = 200
    channel: str | None = None
    retry_after: int | None = None
    times: int = 1

    def matches(self, method: str, args: dict[str, Any]) -> bool:
        wanted_channel = self.channel is None or args.get("channel") == self.channel
        return self.times > 0 and method == self.method and wanted_channel


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.refusals: list[Refusal] = []
        self.socket_url: str | None = None
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.posted: set[tuple[str, str]] = set()
        self.methods: dict[str, Callable[[dict[str, Any]], Answer]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.delete": self._delete,
            "conversations.open": self._open,
            "users.info": self._user_info,
            "apps.connections.open": self._connections_open,
        }

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/api/{method}", self._endpoint, methods=["GET", "POST"])]
        )

    # -- what tests use -------------------------------------------------------

    def refuse(
        self,
        method: str,
        error: str,
        *,
        channel: str | None = None,
        times: int = 1,
    ) -> None:
        with self.lock:
            self.refusals.append(Refusal(method, error, channel=channel, times=times))

    def rate_limit(
        self, method: str, retry_after: int, *, channel: str | None = None
    ) -> None:
        refusal = Refusal(method, "ratelimited", 429, channel, retry_after)
        with self.lock:
            self.refusals.append(refusal)

    def calls_to(self, method: str, **args: Any) -> list[Call]:
        """Calls of ``method`` whose arguments include ``args``."""
        with self.lock:
            calls = list(self.calls)
        return [
            call
            for call in calls
            if call.method == method
            and all(call.args.get(name) == value for name, value in args.items())
        ]

    def posts(self, **args: Any) -> list[Call]:
        """Messages Slack accepted, in order."""
        return [call for call in self.calls_to("chat.postMessage", **args) if call.ok]

    def cards(self, channel: str) -> list[Call]:
        """Posted messages with paybot buttons: request cards."""
        return [call for call in self.posts(channel=channel) if call.action_ids]

    def updates(self, ts: str) -> list[Call]:
        return [call for call in self.calls_to("chat.update", ts=ts) if call.ok]

    def ephemerals(self, user: str) -> list[Call]:
        return [c for c in self.calls_to("chat.postEphemeral", user=user) if c.ok]

    # -- the HTTP side --------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        args = await _arguments(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self.lock:
            status, body, headers = self._answer(method, args, token)
            error = None if body.get("ok") else str(body.get("error"))
            self.calls.append(Call(method, args, status, error, body))
        return JSONResponse(body, status_code=status, headers=headers)

    def _answer(
        self, method: str, args: dict[str, Any], token: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if token != expected:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        for refusal in self.refusals:
            if refusal.matches(method, args):
                refusal.times -= 1
                headers = {}
                if refusal.retry_after is not None:
                    headers["Retry-After"] = str(refusal.retry_after)
                return refusal.status, {"ok": False, "error": refusal.error}, headers
        answer = self.methods.get(method, _unknown_method)
        status, body = answer(args)
        return status, body, {}

    def _next_ts(self) -> str:
        return f"1700000000.{next(self.counter) * 100:06d}"

    def _auth_test(self, args: dict[str, Any]) -> Answer:
        return 200, {
            "ok": True,
            "url": "https://acme.example.slack.com/",
            "team": "Acme",
            "user": "paybot",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": "B0BOT",
        }

    def _post_message(self, args: dict[str, Any]) -> Answer:
        channel = str(args.get("channel", ""))
        if not channel:
            return 200, {"ok": False, "error": "channel_not_found"}
        ts = self._next_ts()
        self.posted.add((channel, ts))
        message = {"type": "message", "text": args.get("text", ""), "ts": ts}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        return 200, {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, args: dict[str, Any]) -> Answer:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        if (channel, ts) not in self.posted:
            return 200, {"ok": False, "error": "message_not_found"}
        return 200, {"ok": True, "channel": channel, "ts": ts, "text": args.get("text")}

    def _post_ephemeral(self, args: dict[str, Any]) -> Answer:
        if not args.get("user"):
            return 200, {"ok": False, "error": "user_not_in_channel"}
        return 200, {"ok": True, "message_ts": self._next_ts()}

    def _delete(self, args: dict[str, Any]) -> Answer:
        return 200, {"ok": False, "error": "cant_delete_message"}

    def _open(self, args: dict[str, Any]) -> Answer:
        user = str(args.get("users", ""))
        if user not in USERS:
            return 200, {"ok": False, "error": "user_not_found"}
        return 200, {"ok": True, "channel": {"id": "D" + user}}

    def _user_info(self, args: dict[str, Any]) -> Answer:
        user_id = str(args.get("user", ""))
        name = USERS.get(user_id)
        if name is None:
            return 200, {"ok": False, "error": "user_not_found"}
        profile = {"display_name": name.title(), "real_name": f"{name.title()} Doe"}
        user = {"id": user_id, "name": name, "profile": profile}
        return 200, {"ok": True, "user": user}

    def _connections_open(self, args: dict[str, Any]) -> Answer:
        if self.socket_url is None:
            return 200, {"ok": False, "error": "not_allowed_token_type"}
        return 200, {"ok": True, "url": self.socket_url}


def _unknown_method(args: dict[str, Any]) -> Answer:
    return 404, {"ok": False, "error": "unknown_method"}


async def _arguments(request: Request) -> dict[str, Any]:
    """Query, form and JSON arguments merged, as Slack accepts all three."""
    args: dict[str, Any] = dict(request.query_params)
    body = (await request.body()).decode()
    if request.headers.get("content-type", "").startswith("application/json"):
        args.update(json.loads(body) if body else {})
    else:
        args.update(parse_qsl(body))
    return args
