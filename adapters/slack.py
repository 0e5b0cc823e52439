"""The Slack adapter: slash commands, buttons and events in; Block Kit out.

slack-bolt verifies each request's signature and answers Slack; every
command and button press is acknowledged before any engine work starts, so
a slow billing API never makes Slack show a timeout. The engine's work then
runs as a background task. Outgoing messages come from the outbox worker
through ``SlackAdapter``, whose refusals carry Slack's wait or say that
retrying cannot help.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.slack_blocks import ACTION_PREFIX, fallback_text, plain_text, render
from bot.app import Paybot
from bot.chat import Destination, Inbound, Message
from bot.errors import ConfigError, DeliveryError
from bot.runner import Platform
from bot.settings import Settings

log = logging.getLogger(__name__)

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
API_TIMEOUT_SECONDS = 10
DEFAULT_RETRY_AFTER = 1.0
# Slack error codes worth another try; any other code means the same call
# would be refused again.
TRANSIENT_ERRORS = frozenset(
    ("ratelimited", "internal_error", "fatal_error", "service_unavailable")
)
TOKEN_ERRORS = frozenset(
    ("invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive")
)
HINTS = {
    "not_in_channel": "invite paybot to the channel",
    "channel_not_found": "the channel is gone or private to paybot",
    "is_archived": "the channel is archived",
    "invalid_auth": "check SLACK_BOT_TOKEN",
    "token_revoked": "check SLACK_BOT_TOKEN",
}
MAX_KNOWN_NAMES = 5000

Handler = Callable[[Inbound], Awaitable[None]]
Task = Callable[[asyncio.Event], Awaitable[None]]


class _SameTokenNotice(logging.Filter):
    """Drop bolt's start-up warning that SLACK_BOT_TOKEN "will be unused".

    bolt reads the variable itself and warns because a client is given too;
    that client carries the very same token.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


bolt_log = logging.getLogger(f"{__name__}.bolt")
bolt_log.addFilter(_SameTokenNotice())


async def start_slack(settings: Settings, paybot: Paybot) -> Platform:
    """Register the Slack adapter; HTTP routes, or Socket Mode when configured."""
    assert settings.slack_bot_token and settings.slack_signing_secret
    client = web_client(settings.slack_bot_token.get_secret_value(), settings)
    await check_token(client)
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        name="paybot",
        logger=bolt_log,
    )
    listeners = SlackListeners(paybot.add_adapter(SlackAdapter(client)), client)
    listeners.register(app)
    if settings.slack_app_token:
        app_token = settings.slack_app_token.get_secret_value()
        return Platform(tasks=[listeners.run, socket_mode(app, app_token)])
    return Platform(routes=[events_route(app)], tasks=[listeners.run])


def web_client(token: str, settings: Settings) -> AsyncWebClient:
    # slack_sdk joins method names onto the base URL, which must end in "/".
    base_url = settings.slack_api_url.rstrip("/") + "/"
    return AsyncWebClient(token=token, base_url=base_url, timeout=API_TIMEOUT_SECONDS)


async def check_token(client: AsyncWebClient) -> None:
    """Stop at start-up on a rejected token; an unreachable Slack only warns."""
    try:
        identity = await client.auth_test()
    except SlackApiError as exc:
        code = _error_code(exc)
        if code in TOKEN_ERRORS:
            raise ConfigError(f"SLACK_BOT_TOKEN: Slack refused it ({code})") from None
        log.warning("slack: auth.test failed, carrying on: %s", code or "no answer")
        return
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("slack: auth.test failed, carrying on: %s", type(exc).__name__)
        return
    log.info("slack: signed in as %s in %s", identity.get("user"), identity.get("team"))


def events_route(app: AsyncApp) -> Route:
    """``POST /slack/events``: commands, interactivity and events share it."""
    handler = AsyncSlackRequestHandler(app)

    async def endpoint(request: Request) -> Response:
        # Slack's timestamp is whole seconds; anything else cannot be signed
        # by Slack, and would only reach the verifier to fail noisily.
        if not request.headers.get("x-slack-request-timestamp", "").isdigit():
            return Response("invalid request", status_code=401)
        try:
            return await handler.handle(request)
        except (ValueError, TypeError, KeyError, AttributeError):
            # Signed but not a payload paybot can read: nothing was changed.
            log.warning("slack: a signed request paybot could not read")
            return Response("unreadable payload", status_code=400)

    return Route(EVENTS_PATH, endpoint, methods=["POST"])


def socket_mode(app: AsyncApp, app_token: str) -> Task:
    """A task that holds a Socket Mode connection until the bot stops."""

    async def run(stop: asyncio.Event) -> None:
        handler = AsyncSocketModeHandler(app, app_token)
        # slack_bolt leaves these two unannotated.
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("slack: connected in Socket Mode")
        try:
            await stop.wait()
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]

    return run


# -- outgoing -----------------------------------------------------------------


class SlackAdapter:
    """The outbox worker's way into Slack; message refs are message ``ts``."""

    platform = PLATFORM

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self.dm_channels: dict[str, str] = {}

    async def post(self, where: Destination, message: Message) -> str:
        response = await _call(
            "chat.postMessage",
            where.chat_id,
            self.client.chat_postMessage(
                channel=where.chat_id,
                thread_ts=where.thread_ref,
                unfurl_links=False,
                unfurl_media=False,
                **_content(message),
            ),
        )
        return str(response["ts"])

    async def edit(
        self, where: Destination, message_ref: str, message: Message
    ) -> None:
        await _call(
            "chat.update",
            where.chat_id,
            self.client.chat_update(
                channel=where.chat_id, ts=message_ref, **_content(message)
            ),
        )

    async def ephemeral(self, where: Destination, message: Message) -> None:
        if not where.recipient:
            raise DeliveryError(
                "an ephemeral message needs a recipient", permanent=True
            )
        await _call(
            "chat.postEphemeral",
            where.chat_id,
            self.client.chat_postEphemeral(
                channel=where.chat_id,
                user=where.recipient,
                thread_ts=where.thread_ref,
                **_content(message),
            ),
        )

    async def direct(self, where: Destination, message: Message) -> str:
        if not where.recipient:
            raise DeliveryError("a direct message needs a recipient", permanent=True)
        channel = await self._dm_channel(where.recipient)
        return await self.post(Destination(PLATFORM, channel), message)

    async def delete(self, where: Destination, message_ref: str) -> None:
        # A bot token may delete only the bot's own messages; the person was
        # already asked to delete theirs.
        log.info("slack: cannot delete message %s in %s", message_ref, where.chat_id)

    def start_link(self, payload: str) -> str | None:
        return None  # Slack has no link that starts a chat with a payload

    async def _dm_channel(self, user_id: str) -> str:
        if user_id not in self.dm_channels:
            response = await _call(
                "conversations.open",
                user_id,
                self.client.conversations_open(users=user_id),
            )
            self.dm_channels[user_id] = str(response["channel"]["id"])
        return self.dm_channels[user_id]


def _content(message: Message) -> dict[str, Any]:
    return {"text": fallback_text(message), "blocks": render(message)}


async def _call(
    method: str, channel: str, call: Awaitable[AsyncSlackResponse]
) -> AsyncSlackResponse:
    """Await a Web API call; every failure becomes a ``DeliveryError``."""
    try:
        return await call
    except SlackApiError as exc:
        raise delivery_error(method, channel, exc) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(
            f"Slack {method} in {channel} failed: {type(exc).__name__}"
        ) from exc


def delivery_error(method: str, channel: str, exc: SlackApiError) -> DeliveryError:
    """What the outbox should do about a refused call."""
    response = exc.response
    status = int(getattr(response, "status_code", getattr(response, "status", 0)))
    code = _error_code(exc)
    text = f"Slack refused {method} in {channel}: {code or f'HTTP {status}'}"
    if code == "ratelimited" or status == 429:
        return DeliveryError(text, retry_after=_retry_after(response))
    if not code or code in TRANSIENT_ERRORS or status >= 500:
        return DeliveryError(text)
    hint = HINTS.get(code)
    return DeliveryError(f"{text} ({hint})" if hint else text, permanent=True)


def _error_code(exc: SlackApiError) -> str:
    data = getattr(exc.response, "data", None)
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def _retry_after(response: object) -> float:
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER


# -- incoming -----------------------------------------------------------------


class SlackListeners:
    """Turns bolt's requests into ``Inbound`` and runs the engine after the ack."""

    def __init__(self, handle: Handler, client: AsyncWebClient) -> None:
        self.handle = handle
        self.names = UserNames(client)
        self.tasks: set[asyncio.Task[None]] = set()
        # Keys being handled now: a quick retry of the same event waits for
        # nothing and costs no billing call. Storage dedupes everything else.
        self.in_flight: set[str] = set()

    def register(self, app: AsyncApp) -> None:
        app.command(re.compile(r"^/"))(self.on_command)
        app.action(re.compile("^" + ACTION_PREFIX))(self.on_action)
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        # Bolt answers 404 to events nobody listens to, and Slack retries
        # those and may turn the subscription off; take them and drop them.
        app.event(re.compile(".*"))(self.on_other_event)

    async def run(self, stop: asyncio.Event) -> None:
        """Live until the bot stops, then finish the work already started."""
        try:
            await stop.wait()
        finally:
            await self.drain()

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def on_command(
        self, ack: Callable[[], Awaitable[None]], body: dict[str, Any]
    ) -> None:
        await ack()
        self._spawn(self._dispatch(command_inbound(body)))

    async def on_action(
        self, ack: Callable[[], Awaitable[None]], body: dict[str, Any]
    ) -> None:
        await ack()
        inbound = action_inbound(body)
        if inbound is not None:
            self._spawn(self._dispatch(inbound))

    async def on_mention(self, body: dict[str, Any], context: AsyncBoltContext) -> None:
        # Other bots may mention paybot too; only people ask for money.
        if not (body.get("event") or {}).get("bot_id"):
            self._take_event(body, context)

    async def on_message(self, body: dict[str, Any], context: AsyncBoltContext) -> None:
        event = body.get("event") or {}
        is_dm = event.get("channel_type") == "im"
        if is_dm and not event.get("subtype") and not event.get("bot_id"):
            self._take_event(body, context)

    async def on_other_event(self, body: dict[str, Any]) -> None:
        log.debug("slack: ignored %s event", (body.get("event") or {}).get("type"))

    def _take_event(self, body: dict[str, Any], context: AsyncBoltContext) -> None:
        inbound = event_inbound(body, context.bot_user_id)
        if inbound is not None:
            self._spawn(self._dispatch(inbound))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("slack: handling an event failed", exc_info=task.exception())

    async def _dispatch(self, inbound: Inbound) -> None:
        if inbound.dedupe_key in self.in_flight:
            log.info("slack: %s is already being handled", inbound.dedupe_key)
            return
        self.in_flight.add(inbound.dedupe_key)
        try:
            name = await self.names.name_of(inbound.user_id, inbound.user_name)
            await self.handle(dataclasses.replace(inbound, user_name=name))
        finally:
            self.in_flight.discard(inbound.dedupe_key)


class UserNames:
    """Display names from ``users.info``, remembered; the id if Slack says no."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self.known: dict[str, str] = {}

    async def name_of(self, user_id: str, hint: str = "") -> str:
        if user_id in self.known:
            return self.known[user_id]
        try:
            response = await self.client.users_info(user=user_id)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.info("slack: no name for %s: %s", user_id, type(exc).__name__)
            return hint or user_id
        name = display_name(response.get("user") or {}) or hint or user_id
        if len(self.known) >= MAX_KNOWN_NAMES:
            self.known.clear()
        self.known[user_id] = name
        return name


def display_name(user: Mapping[str, Any]) -> str:
    profile = user.get("profile") or {}
    for name in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if name:
            return str(name)
    return ""


# -- payloads to Inbound ------------------------------------------------------


def command_inbound(body: Mapping[str, Any]) -> Inbound:
    """``/topup 50 GPU`` is ``topup 50 GPU``; ``/paybot CMD`` is ``CMD``."""
    name = str(body.get("command", "")).lstrip("/")
    text = plain_text(str(body.get("text") or "")).strip()
    line = (text or "help") if name == "paybot" else f"{name} {text}".strip()
    user_id = str(body.get("user_id", ""))
    return Inbound(
        platform=PLATFORM,
        chat_id=str(body.get("channel_id", "")),
        user_id=user_id,
        user_name=str(body.get("user_name") or user_id),
        dedupe_key=f"slack:command:{body.get('trigger_id') or uuid.uuid4().hex}",
        text=line,
    )


def action_inbound(body: Mapping[str, Any]) -> Inbound | None:
    """A button press on a card; None for payloads that are not one."""
    actions = body.get("actions") or []
    user = body.get("user") or {}
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    if not actions or not user.get("id") or not channel:
        return None
    action = actions[0]
    return Inbound(
        platform=PLATFORM,
        chat_id=str(channel),
        user_id=str(user["id"]),
        user_name=str(user.get("name") or user.get("username") or user["id"]),
        dedupe_key=f"slack:action:{action.get('action_ts')}:{user['id']}",
        action=str(action.get("action_id", "")).removeprefix(ACTION_PREFIX),
        action_value=str(action.get("value") or ""),
        thread_ref=message.get("thread_ts") or None,
        message_ref=message.get("ts") or container.get("message_ts") or None,
    )


def event_inbound(body: Mapping[str, Any], bot_user_id: str | None) -> Inbound | None:
    """A mention or a direct message as a command; None without a person."""
    event = body.get("event") or {}
    user, channel = event.get("user"), event.get("channel")
    if not user or not channel:
        return None
    ts = event.get("ts") or None
    key = body.get("event_id") or (f"{channel}:{ts}" if ts else uuid.uuid4().hex)
    return Inbound(
        platform=PLATFORM,
        chat_id=str(channel),
        user_id=str(user),
        user_name=str(user),
        dedupe_key=f"slack:event:{key}",
        text=command_text(str(event.get("text") or ""), bot_user_id),
        # Inside a thread, its root; a top-level message starts one on its ts.
        thread_ref=event.get("thread_ts") or None,
        message_ref=ts,
    )


def command_text(text: str, bot_user_id: str | None) -> str:
    """The command in a message: without the bot's mention, as plain text."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    else:
        text = re.sub(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>", " ", text)
    return plain_text(text).strip()
