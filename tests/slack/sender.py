"""Sends what Slack sends to ``POST /slack/events``, signed with the v0 scheme."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.slack.fake_slack import BOT_USER, TEAM, USERS

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def signature(body: bytes, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Sent:
    response: httpx.Response
    seconds: float


@dataclass
class SlackSender:
    url: str
    secret: str = SIGNING_SECRET
    sent: list[Sent] = field(default_factory=list)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        stamp = int(time.time()) if timestamp is None else timestamp
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": signature(body, stamp, secret or self.secret),
            **(headers or {}),
        }
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(self.url, content=body, headers=all_headers)
        self.sent.append(Sent(response, time.monotonic() - started))
        return response

    async def command(
        self,
        command: str,
        text: str = "",
        *,
        user: str = "U0AAA",
        channel: str = "C0BBB",
        **options: Any,
    ) -> httpx.Response:
        fields = command_fields(command, text, user, channel, next(self.counter))
        body = urlencode(fields).encode()
        return await self.post(body, "application/x-www-form-urlencoded", **options)

    async def click(
        self,
        action: str,
        value: str,
        *,
        user: str,
        message_ts: str,
        channel: str = "C0BBB",
        thread_ts: str | None = None,
    ) -> httpx.Response:
        payload = block_actions(action, value, user, channel, message_ts, thread_ts)
        payload["actions"][0]["action_ts"] = f"1700009999.{next(self.counter):06d}"
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self.post(body, "application/x-www-form-urlencoded")

    async def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> httpx.Response:
        body = event_callback(event, event_id or f"Ev{next(self.counter):06d}")
        headers = {}
        if retry_num is not None:
            headers = {
                "X-Slack-Retry-Num": str(retry_num),
                "X-Slack-Retry-Reason": "http_timeout",
            }
        return await self.post(
            json.dumps(body).encode(), "application/json", headers=headers
        )

    async def mention(
        self,
        text: str,
        *,
        ts: str | None,
        user: str = "U0AAA",
        channel: str = "C0BBB",
        thread_ts: str | None = None,
        **options: Any,
    ) -> httpx.Response:
        event: dict[str, Any] = {
            "type": "app_mention",
            "user": user,
            "text": f"<@{BOT_USER}> {text}",
            "channel": channel,
        }
        if ts is not None:
            event["ts"] = ts
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        return await self.event(event, **options)


def command_fields(
    command: str, text: str, user: str, channel: str, serial: int
) -> dict[str, str]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "channel_id": channel,
        "channel_name": "payments",
        "user_id": user,
        "user_name": USERS.get(user, user),
        "command": command,
        "text": text,
        "api_app_id": "A0APP",
        "response_url": "http://127.0.0.1:9/unused-response-url",
        "trigger_id": f"{serial}.1700000000.trigger",
    }


def block_actions(
    action: str,
    value: str,
    user: str,
    channel: str,
    message_ts: str,
    thread_ts: str | None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "message", "ts": message_ts, "bot_id": "B0BOT"}
    if thread_ts:
        message["thread_ts"] = thread_ts
    name = USERS.get(user, user)
    return {
        "type": "block_actions",
        "user": {"id": user, "username": name, "name": name, "team_id": TEAM},
        "api_app_id": "A0APP",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "team": {"id": TEAM, "domain": "acme"},
        "channel": {"id": channel, "name": "payments"},
        "message": message,
        "response_url": "http://127.0.0.1:9/unused-response-url",
        "actions": [
            {
                "type": "button",
                "action_id": f"paybot_{action}",
                "block_id": "card",
                "value": value,
                "text": {"type": "plain_text", "text": action},
            }
        ],
    }


def event_callback(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": "A0APP",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
    }
