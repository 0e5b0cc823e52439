"""The Telegram adapter, on python-telegram-bot.

Updates arrive by long polling (our own ``getUpdates`` loop) or at
``POST /telegram/webhook``. Either way an update is confirmed to Telegram
only after the engine committed it, so a crash redelivers instead of losing
it, and the engine's dedupe key (the ``update_id``) makes the second
delivery a no-op. Outgoing messages come from the outbox worker through
``TelegramAdapter``; every Bot API refusal is mapped to ``DeliveryError`` in
one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Bot, BotCommand, CallbackQuery, ReplyParameters, Update, User
from telegram import Message as TelegramMessage
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

from adapters.telegram_render import (
    MAX_TEXT,
    MessageRef,
    fit,
    keyboard,
    mention,
    to_html,
)
from bot.app import Paybot
from bot.cardnumbers import contains_card_number
from bot.chat import Destination, Inbound, Message
from bot.engine import Engine
from bot.errors import ConfigError, DeliveryError
from bot.runner import Platform
from bot.settings import Settings

log = logging.getLogger(__name__)

PLATFORM = "telegram"
ALLOWED_UPDATES = ("message", "callback_query")
# Updates are fetched raw and read one by one, so that one update PTB cannot
# read does not fail every fetch after it; PTB warns against exactly that.
warnings.filterwarnings(
    "ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning
)
POLL_TIMEOUT = 25  # seconds Telegram may hold a getUpdates call open
WEBHOOK_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")
ATTEMPTS_PER_UPDATE = 3
COMMANDS = (
    ("topup", "Request a wallet top-up: /topup 50 GPU batch"),
    ("subscribe", "Request a subscription: /subscribe 10"),
    ("plans", "List plans and the smallest top-up"),
    ("balance", "Wallet balance and open requests"),
    ("requests", "Open requests in this chat"),
    ("status", "One request with its history: /status 12"),
    ("approve", "Approve a request: /approve 12"),
    ("deny", "Deny a request: /deny 12 reason"),
    ("cancel", "Withdraw a request: /cancel 12"),
    ("paid", "I have paid: check now: /paid 12"),
    ("help", "The commands, with examples"),
)

Handler = Callable[[Inbound], Awaitable[None]]


class TelegramAdapter:
    """Sends neutral messages through the Bot API, in HTML parse mode."""

    platform = PLATFORM

    def __init__(
        self, bot: Bot, on_migrated: Callable[[str, str], Awaitable[object]]
    ) -> None:
        self.bot = bot
        self.on_migrated = on_migrated
        self.names: dict[str, str] = {}  # user id -> name, for mentions
        self.unreachable: set[str] = set()

    async def post(self, where: Destination, message: Message) -> str:
        thread = MessageRef.decode(where.thread_ref) if where.thread_ref else None
        sent = await self._send(where.chat_id, message, thread)
        return MessageRef(sent.message_id, thread.topic if thread else None).encode()

    async def edit(
        self, where: Destination, message_ref: str, message: Message
    ) -> None:
        message_id = MessageRef.decode(message_ref).message_id
        message = fit(message)
        try:
            await self._call(
                self.bot.edit_message_text,
                chat_id=where.chat_id,
                message_id=message_id,
                text=to_html(message),
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(message.buttons),
            )
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return  # the card already shows this: nothing left to do
            if not _unparsable(exc):
                raise await self._refusal(exc, where.chat_id) from exc
            await self._edit_plain(where.chat_id, message_id, message)
        except TelegramError as exc:
            raise await self._refusal(exc, where.chat_id) from exc

    async def ephemeral(self, where: Destination, message: Message) -> None:
        """Telegram has nothing only one person sees, so reply naming them.

        A private message would need the person to have started the bot,
        and would take the answer away from the conversation it belongs to.
        """
        recipient = where.recipient or ""
        prefix = ""
        if recipient and recipient != where.chat_id:
            prefix = mention(recipient, self.names.get(recipient, "you"))
        thread = MessageRef.decode(where.thread_ref) if where.thread_ref else None
        await self._send(where.chat_id, message, thread, prefix=prefix)

    async def direct(self, where: Destination, message: Message) -> str:
        chat_id = where.recipient or where.chat_id
        sent = await self._send(chat_id, message, None)
        return MessageRef(sent.message_id).encode()

    async def delete(self, where: Destination, message_ref: str) -> None:
        message_id = MessageRef.decode(message_ref).message_id
        try:
            await self.bot.delete_message(chat_id=where.chat_id, message_id=message_id)
        except TelegramError as exc:
            if _transient(exc):
                raise await self._refusal(exc, where.chat_id) from exc
            # In groups only an admin may delete; the warning was sent anyway.
            log.info(
                "could not delete message %s in chat %s: %s",
                message_ref,
                where.chat_id,
                exc.message,
            )

    def start_link(self, payload: str) -> str | None:
        """A t.me deep link: it opens a private chat that sends /start PAYLOAD."""
        return f"https://t.me/{self.bot.username}?start={payload}"

    async def _send(
        self,
        chat_id: str,
        message: Message,
        thread: MessageRef | None,
        *,
        prefix: str = "",
    ) -> TelegramMessage:
        """Send in HTML; if Telegram cannot parse it after all, send it plain."""
        # A mention takes room too; keep clear of the limit.
        message = fit(message, limit=MAX_TEXT - 100 if prefix else MAX_TEXT)
        body = to_html(message)
        body = f"{prefix}: {body}" if prefix else body
        try:
            try:
                return await self._post_text(
                    chat_id, body, ParseMode.HTML, message, thread
                )
            except BadRequest as exc:
                if not _unparsable(exc):
                    raise
                log.warning("Telegram could not parse a message to %s", chat_id)
                plain = message.plain()
                return await self._post_text(chat_id, plain, None, message, thread)
        except TelegramError as exc:
            raise await self._refusal(exc, chat_id) from exc

    async def _post_text(
        self,
        chat_id: str,
        text: str,
        parse_mode: str | None,
        message: Message,
        thread: MessageRef | None,
    ) -> TelegramMessage:
        reply = (
            ReplyParameters(thread.message_id, allow_sending_without_reply=True)
            if thread
            else None
        )
        return await self._call(
            self.bot.send_message,
            chat_id=chat_id,
            text=text,
            parse_mode=parse_mode,
            reply_markup=keyboard(message.buttons),
            reply_parameters=reply,
            message_thread_id=thread.topic if thread else None,
        )

    async def _edit_plain(
        self, chat_id: str, message_id: int, message: Message
    ) -> None:
        try:
            await self._call(
                self.bot.edit_message_text,
                chat_id=chat_id,
                message_id=message_id,
                text=message.plain(),
                reply_markup=keyboard(message.buttons),
            )
        except TelegramError as exc:
            if "not modified" not in exc.message.lower():
                raise await self._refusal(exc, chat_id) from exc

    async def _call(
        self, method: Callable[..., Awaitable[object]], **kwargs: object
    ) -> TelegramMessage:
        result = await method(**kwargs)
        assert isinstance(result, TelegramMessage)
        return result

    async def _refusal(self, exc: TelegramError, chat_id: str) -> DeliveryError:
        """The one table from Bot API errors to what the outbox should do."""
        reason = f"Telegram: {_scrub(exc.message, self.bot.token)}"
        if isinstance(exc, ChatMigrated):
            # Storage now names the new chat; the retry goes there.
            await self.on_migrated(chat_id, str(exc.new_chat_id))
            return DeliveryError(reason, retry_after=0.0)
        if isinstance(exc, RetryAfter):
            return DeliveryError(reason, retry_after=_retry_after(exc))
        if isinstance(exc, Forbidden):
            self._mark_unreachable(chat_id, exc.message)
            return DeliveryError(reason, permanent=True)
        if isinstance(exc, BadRequest):
            return DeliveryError(reason, permanent=True)
        if isinstance(exc, InvalidToken):
            return DeliveryError("Telegram rejected the bot token")
        return DeliveryError(reason)

    def _mark_unreachable(self, chat_id: str, why: str) -> None:
        if chat_id.startswith("-"):
            log.warning("Telegram chat %s refused the bot: %s", chat_id, why)
            return
        self.unreachable.add(chat_id)
        log.warning("Telegram user %s is unreachable: %s", chat_id, why)


class UpdateHandler:
    """Turns updates into engine calls; a button press is answered first."""

    def __init__(
        self, bot: Bot, engine: Engine, handle: Handler, adapter: TelegramAdapter
    ) -> None:
        self.bot = bot
        self.engine = engine
        self.handle = handle
        self.adapter = adapter

    @property
    def username(self) -> str:
        return self.bot.username

    async def process(self, update: Update) -> None:
        """Act on one update; returns once the engine has committed it."""
        message = update.message
        moved = _migration(message) if message is not None else None
        if moved is not None:
            await self.engine.move_chat(PLATFORM, *moved)
        elif update.callback_query is not None:
            await self._press(update, update.callback_query)
        elif message is not None:
            inbound = command_inbound(update.update_id, message, self.username)
            if inbound is not None:
                self._remember(message.from_user)
                await self.handle(inbound)

    async def _press(self, update: Update, query: CallbackQuery) -> None:
        inbound = press_inbound(update.update_id, query)
        if inbound is None:
            refusal: str | None = "This button no longer works."
        else:
            refusal = await self.engine.check_press(inbound)
        await self._answer(query, refusal)
        if inbound is not None and refusal is None:
            self._remember(query.from_user)
            await self.handle(inbound)

    async def _answer(self, query: CallbackQuery, text: str | None) -> None:
        try:
            await query.answer(text=text[:200] if text else None)
        except TelegramError as exc:
            # Too late or already answered: the press itself still counts.
            log.info("callback %s not answered: %s", query.id, exc.message)

    def _remember(self, user: User | None) -> None:
        if user is not None:
            self.adapter.names[str(user.id)] = user.full_name

    async def poll(self, stop: asyncio.Event) -> None:
        """Long polling that confirms an update only after it was handled."""
        offset: int | None = None
        failures = 0
        try:
            while not stop.is_set():
                updates = await self._fetch(offset, stop)
                for update_id, update in updates:
                    if update is None:  # unreadable: confirm it and move on
                        offset = max(offset or 0, update_id + 1)
                        continue
                    if not await self._process_guarded(update, failures):
                        failures += 1
                        break
                    failures = 0
                    offset = update.update_id + 1
        finally:
            await self.bot.shutdown()

    async def _process_guarded(self, update: Update, failures: int) -> bool:
        """Process one update; False to fetch it again later.

        An update that keeps failing is skipped after a few attempts, so one
        broken update cannot stall the chat forever.
        """
        try:
            await self.process(update)
        except Exception:
            if failures + 1 < ATTEMPTS_PER_UPDATE:
                log.exception("update %s failed; will retry", update.update_id)
                await asyncio.sleep(1.0)
                return False
            log.exception("update %s skipped after repeated failures", update.update_id)
        return True

    async def _fetch(
        self, offset: int | None, stop: asyncio.Event
    ) -> tuple[tuple[int, Update | None], ...]:
        """One getUpdates call, abandoned when ``stop`` is set.

        An abandoned call confirms nothing: its updates come back next time.
        Updates are read one by one, so one that cannot be read (None) is
        skipped instead of failing the whole batch again and again.
        """
        arguments: dict[str, Any] = {
            "timeout": POLL_TIMEOUT,
            "allowed_updates": list(ALLOWED_UPDATES),
        }
        if offset is not None:
            arguments["offset"] = offset
        fetch = asyncio.ensure_future(
            self.bot.do_api_request(
                "getUpdates", api_kwargs=arguments, read_timeout=POLL_TIMEOUT + 10
            )
        )
        if not await _before_stop(fetch, stop):
            return ()
        try:
            raw = fetch.result()
            return tuple(self._read_update(data) for data in raw or ())
        except RetryAfter as exc:
            await _sleep_or_stop(stop, _retry_after(exc))
        except InvalidToken:
            log.error("Telegram rejected the bot token; check TELEGRAM_BOT_TOKEN")
            await _sleep_or_stop(stop, 60.0)
        except TelegramError as exc:
            log.warning("getUpdates failed: %s", _scrub(exc.message, self.bot.token))
            await _sleep_or_stop(stop, 2.0)
        return ()

    def _read_update(self, data: Any) -> tuple[int, Update | None]:
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int):
            log.warning("skipping an update without an update_id")
            return -1, None
        try:
            return update_id, Update.de_json(data, self.bot)
        except (KeyError, TypeError, ValueError):
            log.warning(
                "skipping update %s: Telegram sent a shape paybot cannot read",
                update_id,
            )
            return update_id, None

    def webhook_route(self, secret: str) -> Route:
        """``POST /telegram/webhook``, answered 200 once the update is handled.

        Any other answer makes Telegram deliver the update again.
        """
        expected = secret.encode()

        async def webhook(request: Request) -> Response:
            given = request.headers.get(WEBHOOK_HEADER, "").encode()
            if not hmac.compare_digest(given, expected):
                log.warning("Telegram webhook call with a wrong secret refused")
                return Response(status_code=403)
            try:
                body = json.loads(await request.body())
                update = (
                    Update.de_json(body, self.bot) if isinstance(body, dict) else None
                )
            except (ValueError, TypeError, KeyError, AttributeError):
                update = None
            if update is None:
                return Response(status_code=400)
            await self.process(update)
            return Response(status_code=200)

        return Route("/telegram/webhook", webhook, methods=["POST"])


def command_inbound(
    update_id: int, message: TelegramMessage, username: str
) -> Inbound | None:
    """A message as a command for paybot, or None when it is not one."""
    sender = message.from_user
    if sender is None or sender.is_bot or not message.text:
        return None
    private = message.chat.type == "private"
    text = command_text(message.text, username, private=private)
    if text is None:
        return None
    ref = MessageRef(message.message_id, _topic(message)).encode()
    return Inbound(
        platform=PLATFORM,
        chat_id=str(message.chat.id),
        user_id=str(sender.id),
        user_name=sender.full_name,
        dedupe_key=f"telegram:update:{update_id}",
        text=text,
        thread_ref=ref,
        message_ref=ref,
    )


def command_text(text: str, username: str, *, private: bool) -> str | None:
    """What to hand the engine, without the slash and ``@username``.

    Commands for another bot are not ours. Plain text counts in a private
    chat, after a leading ``@username`` mention, or when it holds a card
    number (which the engine refuses and asks to delete).
    """
    word, _, rest = text.strip().partition(" ")
    if word.startswith("/"):
        name, _, addressee = word[1:].partition("@")
        if not name or (addressee and addressee.lower() != username.lower()):
            return None
        return f"{name} {rest}".strip()
    if word.lower() == f"@{username.lower()}":
        return rest.strip() or None
    if private or contains_card_number(text):
        return text.strip()
    return None


def press_inbound(update_id: int, query: CallbackQuery) -> Inbound | None:
    """A button press; the thread is the message the card answers."""
    action, _, value = (query.data or "").partition(":")
    card = query.message
    if not action or not value or card is None:
        return None
    anchor = card.message_id
    topic = None
    if isinstance(card, TelegramMessage):
        topic = _topic(card)
        if card.reply_to_message is not None:
            anchor = card.reply_to_message.message_id
    return Inbound(
        platform=PLATFORM,
        chat_id=str(card.chat.id),
        user_id=str(query.from_user.id),
        user_name=query.from_user.full_name,
        dedupe_key=f"telegram:update:{update_id}",
        action=action,
        action_value=value,
        thread_ref=MessageRef(anchor, topic).encode(),
    )


def _topic(message: TelegramMessage) -> int | None:
    """The forum topic, if any; the General topic takes no thread id."""
    return message.message_thread_id if message.is_topic_message else None


def _migration(message: TelegramMessage) -> tuple[str, str] | None:
    if message.migrate_to_chat_id:
        return str(message.chat.id), str(message.migrate_to_chat_id)
    if message.migrate_from_chat_id:
        return str(message.migrate_from_chat_id), str(message.chat.id)
    return None


def _transient(exc: TelegramError) -> bool:
    """Worth trying again: flood control, time-outs, lost connections."""
    refused = isinstance(exc, BadRequest | Forbidden | InvalidToken | ChatMigrated)
    return isinstance(exc, RetryAfter) or (
        isinstance(exc, NetworkError) and not refused
    )


def _unparsable(exc: BadRequest) -> bool:
    return "can't parse entities" in exc.message.lower()


def _retry_after(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        # The int-or-timedelta transition warns on access; both are handled.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


async def _before_stop(work: asyncio.Future[Any], stop: asyncio.Event) -> bool:
    """Wait for ``work`` unless ``stop`` comes first; then ``work`` is cancelled."""
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((work, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await work
    return not work.cancelled()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def file_url(api_url: str) -> str:
    """The file download base that goes with a Bot API base URL."""
    root = api_url.rstrip("/")
    if root.endswith("/bot"):
        return root[: -len("/bot")] + "/file/bot"
    return root + "/file/bot"


def build_bot(settings: Settings) -> Bot:
    assert settings.telegram_bot_token is not None
    return Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=settings.telegram_api_url,
        base_file_url=file_url(settings.telegram_api_url),
        # The outbox sends to several chats at once; long polling has its own.
        request=HTTPXRequest(connection_pool_size=8),
        get_updates_request=HTTPXRequest(connection_pool_size=1),
    )


def webhook_secret(settings: Settings) -> str:
    secret = settings.telegram_webhook_secret
    value = secret.get_secret_value() if secret else ""
    if not SECRET_PATTERN.fullmatch(value):
        raise ConfigError(
            "TELEGRAM_WEBHOOK_SECRET: required with TELEGRAM_WEBHOOK_URL, "
            "1-256 characters of A-Z a-z 0-9 _ -"
        )
    return value


async def introduce(bot: Bot) -> None:
    """Learn who the bot is (before any update) and publish its commands."""
    try:
        await bot.initialize()
    except InvalidToken:
        # The library's message quotes the token; it must not reach a log.
        raise ConfigError("TELEGRAM_BOT_TOKEN: rejected by Telegram") from None
    except TelegramError as exc:
        raise ConfigError(
            f"TELEGRAM_API_URL: Telegram unreachable: {_scrub(exc.message, bot.token)}"
        ) from None
    me = bot.bot
    log.info("Telegram bot @%s (id %s) ready", me.username, me.id)
    if not me.can_read_all_group_messages:
        log.warning(
            "Telegram privacy mode is on for @%s: in groups it receives only "
            "/commands, button presses and replies to its own messages; plain "
            "mentions such as '@%s topup 25' will not arrive (turn it off with "
            "BotFather /setprivacy, then re-add the bot to the group)",
            me.username,
            me.username,
        )
    await bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])


async def start_telegram(settings: Settings, paybot: Paybot) -> Platform:
    """Connect to Telegram; polling, or webhook mode when a webhook URL is set."""
    secret = webhook_secret(settings) if settings.telegram_webhook_url else ""
    bot = build_bot(settings)
    await introduce(bot)
    engine = paybot.engine

    async def migrated(old: str, new: str) -> object:
        return await engine.move_chat(PLATFORM, old, new)

    adapter = TelegramAdapter(bot, migrated)
    handler = UpdateHandler(bot, engine, paybot.add_adapter(adapter), adapter)
    if not settings.telegram_webhook_url:
        await bot.delete_webhook(drop_pending_updates=False)
        log.info("Telegram: long polling")
        return Platform(tasks=[handler.poll])
    await bot.set_webhook(
        settings.telegram_webhook_url,
        secret_token=secret,
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=False,
    )
    log.info("Telegram: webhook mode")

    async def close_on_stop(stop: asyncio.Event) -> None:
        await stop.wait()
        await bot.shutdown()

    return Platform(routes=[handler.webhook_route(secret)], tasks=[close_on_stop])
