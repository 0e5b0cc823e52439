"""A fake Telegram Bot API: a real HTTP server that keeps chats in memory.

It serves ``/bot<token>/<method>`` the way python-telegram-bot calls it
(form-encoded, JSON values for objects), records every call, queues the
updates a test injects for ``getUpdates`` (offsets, long-poll timeout) or
pushes them to a webhook, checks HTML the way Telegram does, and can be
told to refuse calls with 429, 403 or a migration error.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN = "123456:ABCdefGhIJKlmNoPQRstuVWxyz0123456789"
BOT_ID = 123456
BOT_USERNAME = "AcmeTopupBot"

JSON_FIELDS = {
    "reply_markup",
    "reply_parameters",
    "allowed_updates",
    "commands",
    "link_preview_options",
    "entities",
}
_TAG = re.compile(
    r"</?(b|strong|i|em|u|ins|s|strike|del|code|pre|blockquote|tg-spoiler)>"
    r'|<a href="[^"<>]*">|</a>'
)
_ENTITY = re.compile(r"&(amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);")


class ApiError(Exception):
    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def parse_html(text: str) -> str:
    """The text as Telegram shows it, or ApiError as Telegram refuses it."""
    shown, position = [], 0
    while position < len(text):
        char = text[position]
        if char == "<":
            tag = _TAG.match(text, position)
            if tag is None:
                raise ApiError(
                    400,
                    "Bad Request: can't parse entities: Unsupported start tag "
                    f"at byte offset {position}",
                )
            position = tag.end()
        elif char == "&":
            entity = _ENTITY.match(text, position)
            if entity is None:
                raise ApiError(
                    400,
                    "Bad Request: can't parse entities: Character '&' is reserved "
                    f"and must be escaped at byte offset {position}",
                )
            shown.append(html.unescape(entity.group()))
            position = entity.end()
        else:
            shown.append(char)
            position += 1
    return "".join(shown)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    refused: str = ""
    result: Any = None


@dataclass
class Refusal:
    """Refuse ``method`` calls matching ``chat_id`` (any when None)."""

    method: str
    status: int
    description: str
    parameters: dict[str, Any] | None = None
    chat_id: str | None = None
    times: int = 1  # 0 = always
    skip: int = 0  # let this many matching calls through first


@dataclass
class FakeBotApi:
    can_read_all_group_messages: bool = False
    callback_deadline: float = 10.0  # seconds a callback may wait for its answer
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    callbacks: dict[str, float] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    webhook: dict[str, Any] = field(default_factory=dict)
    closing: bool = False  # ends long polls, so the server can stop
    # True: offsets are read but never confirm anything, as when the bot
    # dies before its next getUpdates reaches Telegram.
    freeze_confirmations: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    update_ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1000)
    )
    message_ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1)
    )

    def app(self) -> Starlette:
        routes = [
            Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])
        ]
        return Starlette(routes=routes)

    # -- what a test does ---------------------------------------------------

    def command(
        self,
        chat_id: int,
        user: dict[str, Any],
        text: str,
        *,
        topic: int | None = None,
        chat_type: str | None = None,
    ) -> dict[str, Any]:
        """A person sends ``text``; returns the update (queued for delivery)."""
        message = self._user_message(chat_id, user, text, topic, chat_type)
        word = text.split(" ", 1)[0]
        if word.startswith("/"):
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(word)}
            ]
        return self.push({"message": message})

    def press(
        self, chat_id: int, user: dict[str, Any], message_id: int, data: str
    ) -> dict[str, Any]:
        """A person presses an inline button under the bot's message."""
        card = self.messages[(str(chat_id), message_id)]
        query_id = f"cq{next(self.update_ids)}"
        with self.lock:
            self.callbacks[query_id] = time.monotonic()
        query = {
            "id": query_id,
            "from": user,
            "message": card,
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }
        return self.push({"callback_query": query})

    def service(self, chat_id: int, **fields: Any) -> dict[str, Any]:
        """A service message, e.g. ``migrate_to_chat_id=...``."""
        message = {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": {"id": 1, "is_bot": False, "first_name": "Owner"},
            **fields,
        }
        return self.push({"message": message})

    def push(self, body: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self.update_ids), **body}
        with self.lock:
            self.updates.append(update)
        return update

    def refuse(
        self, method: str, status: int, description: str, **options: Any
    ) -> None:
        with self.lock:
            self.refusals.append(Refusal(method, status, description, **options))

    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        with self.lock:
            calls = list(self.calls)
        return [
            call
            for call in calls
            if (method is None or call.method == method)
            and not call.refused
            and (chat_id is None or call.params.get("chat_id") == str(chat_id))
        ]

    def texts(self, chat_id: int | None = None) -> list[str]:
        """What people see of every message the bot sent, in order."""
        return [call.params["shown"] for call in self.sent("sendMessage", chat_id)]

    def pending_updates(self) -> list[int]:
        with self.lock:
            return [update["update_id"] for update in self.updates]

    async def deliver_to_webhook(
        self, update: dict[str, Any], secret: str | None = None
    ) -> int:
        """POST an update to the registered webhook, as Telegram would."""
        token = self.webhook.get("secret_token", "") if secret is None else secret
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                self.webhook["url"],
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": token},
                timeout=20,
            )
        return answer.status_code

    # -- the server ----------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        if request.path_params["token"] != TOKEN:
            return _error(ApiError(401, "Unauthorized"))
        method = request.path_params["method"]
        params = await _params(request)
        call = Call(method, params)
        with self.lock:
            self.calls.append(call)
        try:
            self._maybe_refuse(method, params)
            handler = self._handler(method)
            if handler is None:
                raise ApiError(404, "Not Found")
            result = await handler(params)
        except ApiError as exc:
            call.refused = exc.description
            return _error(exc)
        call.result = result
        return JSONResponse({"ok": True, "result": result})

    def _handler(self, method: str) -> Any:
        """The method's implementation, by its Bot API name."""
        return {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "deleteMessage": self._delete_message,
            "close": self._close,
        }.get(method)

    def _maybe_refuse(self, method: str, params: dict[str, Any]) -> None:
        with self.lock:
            for refusal in list(self.refusals):
                if refusal.method != method:
                    continue
                if refusal.chat_id and refusal.chat_id != params.get("chat_id"):
                    continue
                if refusal.skip:
                    refusal.skip -= 1
                    return
                if refusal.times == 1:
                    self.refusals.remove(refusal)
                elif refusal.times > 1:
                    refusal.times -= 1
                raise ApiError(refusal.status, refusal.description, refusal.parameters)

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Acme Topup",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook.get("url"):
            raise ApiError(
                409, "Conflict: can't use getUpdates method while webhook is active"
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        with self.lock:
            if not self.freeze_confirmations:
                # An offset confirms every update before it: Telegram forgets them.
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
        while True:
            with self.lock:
                ready = [u for u in self.updates if u["update_id"] >= offset][:limit]
            if ready or self.closing or time.monotonic() >= deadline:
                return ready
            await asyncio.sleep(0.02)

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = dict(params)
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates") in (True, "true", "True"):
            with self.lock:
                self.updates.clear()
        self.webhook = {}
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        return True

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = str(params["chat_id"])
        shown = self._shown(params)
        message = {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": _chat(int(chat_id)),
            "from": {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Acme Topup",
                "username": BOT_USERNAME,
            },
            "text": shown,
        }
        params["shown"] = shown
        self._place(message, params)
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        with self.lock:
            self.messages[(chat_id, message["message_id"])] = message
        return message

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._existing(params)
        shown = self._shown(params)
        markup = params.get("reply_markup")
        if shown == message.get("text") and markup == message.get("reply_markup"):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content "
                "and reply markup are exactly the same as a current content and reply "
                "markup of the message",
            )
        params["shown"] = shown
        with self.lock:
            message["text"] = shown
            # An edit without a keyboard removes the one the message had.
            message.pop("reply_markup", None)
            if markup:
                message["reply_markup"] = markup
        return message

    async def _edit_message_reply_markup(
        self, params: dict[str, Any]
    ) -> dict[str, Any]:
        message = self._existing(params)
        with self.lock:
            message.pop("reply_markup", None)
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
        return message

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = params["callback_query_id"]
        with self.lock:
            asked = self.callbacks.get(query_id)
            late = asked is None or time.monotonic() - asked > self.callback_deadline
            if late or query_id in self.answered:
                raise ApiError(
                    400,
                    "Bad Request: query is too old and response timeout expired or "
                    "query ID is invalid",
                )
            self.answered.add(query_id)
        return True

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        key = (str(params["chat_id"]), int(params["message_id"]))
        with self.lock:
            if key not in self.messages:
                raise ApiError(400, "Bad Request: message to delete not found")
            del self.messages[key]
        return True

    async def _close(self, params: dict[str, Any]) -> bool:
        return True

    # -- helpers -------------------------------------------------------------

    def _user_message(
        self,
        chat_id: int,
        user: dict[str, Any],
        text: str,
        topic: int | None,
        chat_type: str | None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": _chat(chat_id, chat_type, forum=topic is not None),
            "from": user,
            "text": text,
        }
        if topic is not None:
            message["message_thread_id"] = topic
            message["is_topic_message"] = True
        with self.lock:
            self.messages[(str(chat_id), message["message_id"])] = message
        return message

    def _shown(self, params: dict[str, Any]) -> str:
        text = str(params.get("text", ""))
        shown = parse_html(text) if params.get("parse_mode") == "HTML" else text
        if not shown.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(shown) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return shown

    def _place(self, message: dict[str, Any], params: dict[str, Any]) -> None:
        """Reply and topic, as Telegram fills them in."""
        chat_id = str(params["chat_id"])
        reply = params.get("reply_parameters") or {}
        topic = params.get("message_thread_id")
        if topic is not None:
            message["message_thread_id"] = int(topic)
            message["is_topic_message"] = True
        if reply:
            with self.lock:
                original = self.messages.get((chat_id, int(reply["message_id"])))
            if original is not None:
                message["reply_to_message"] = {
                    k: v for k, v in original.items() if k != "reply_to_message"
                }
            elif not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")

    def _existing(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params["chat_id"]), int(params["message_id"]))
        with self.lock:
            message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message


def user(user_id: int, first_name: str, username: str | None = None) -> dict[str, Any]:
    person: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        person["username"] = username
    return person


def _chat(
    chat_id: int, chat_type: str | None = None, forum: bool = False
) -> dict[str, Any]:
    kind = chat_type or ("private" if chat_id > 0 else "supergroup")
    chat: dict[str, Any] = {"id": chat_id, "type": kind}
    if kind != "private":
        chat["title"] = "Team"
    if forum:
        chat["is_forum"] = True
    return chat


async def _params(request: Request) -> dict[str, Any]:
    """Form fields (JSON-encoded objects decoded), or a JSON body."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        return dict(json.loads(body)) if body else {}
    fields = parse_qsl((await request.body()).decode(), keep_blank_values=True)
    params: dict[str, Any] = {
        key: json.loads(value) if key in JSON_FIELDS else value for key, value in fields
    }
    if "chat_id" in params:
        params["chat_id"] = str(params["chat_id"])
    return params


def _error(exc: ApiError) -> Response:
    body: dict[str, Any] = {
        "ok": False,
        "error_code": exc.status,
        "description": exc.description,
    }
    if exc.parameters:
        body["parameters"] = exc.parameters
    return JSONResponse(body, status_code=exc.status)
