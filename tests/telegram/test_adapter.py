"""The adapter's translation both ways, against the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.telegram import TelegramAdapter, build_bot, command_text
from adapters.telegram_render import MessageRef, fit, to_html
from bot.chat import Button, Destination, Message
from bot.errors import DeliveryError
from tests.telegram.conftest import GROUP, Telegram, settings_from
from tests.telegram.fake_bot_api import TOKEN, parse_html

CARD = Message(
    title="#1 Top-up $10.50",
    fields=(("Requested by", "Ops-Team (beta)!"), ("Note", "<b>Q3</b> & more")),
    buttons=(Button("approve", "Approve", "abc123"),),
)


@pytest.fixture
async def adapter(telegram: Telegram) -> AsyncIterator[TelegramAdapter]:
    settings = settings_from(
        {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": telegram.url}
    )
    bot = build_bot(settings)
    await bot.initialize()

    async def nowhere(old: str, new: str) -> None:
        return None

    yield TelegramAdapter(bot, nowhere)
    await bot.shutdown()


@pytest.mark.parametrize(
    ("text", "private", "expected"),
    [
        ("/topup 25 GPU", False, "topup 25 GPU"),
        ("/topup@AcmeTopupBot 25", False, "topup 25"),
        ("/TOPUP@acmetopupbot 25", False, "TOPUP 25"),
        ("/topup@OtherBot 25", False, None),
        ("@AcmeTopupBot topup 25", False, "topup 25"),
        ("hello team", False, None),
        ("topup 25", True, "topup 25"),
        ("my card 4242 4242 4242 4242", False, "my card 4242 4242 4242 4242"),
        ("/", False, None),
    ],
)
def test_command_text(text: str, private: bool, expected: str | None) -> None:
    assert command_text(text, "AcmeTopupBot", private=private) == expected


def test_html_escapes_each_value_once() -> None:
    html = to_html(CARD)
    assert parse_html(html) == CARD.plain()
    assert "&lt;b&gt;Q3&lt;/b&gt; &amp; more" in html


def test_long_messages_keep_their_links() -> None:
    url = "https://checkout.example/cs_test_1?a=1&b=2"
    message = Message(text="x" * 5000 + "\n" + url, links=(url,))
    short = fit(message)
    assert len(short.plain()) <= 4096
    assert short.text.endswith(url)


def test_message_refs_carry_the_topic() -> None:
    assert MessageRef.decode(MessageRef(12, 7).encode()) == MessageRef(12, 7)
    assert MessageRef.decode("12") == MessageRef(12, None)


async def test_an_unchanged_edit_counts_as_done(
    adapter: TelegramAdapter, telegram: Telegram
) -> None:
    where = Destination("telegram", str(GROUP))
    ref = await adapter.post(where, CARD)
    await adapter.edit(where, ref, CARD)

    refused = [c for c in telegram.api.calls if c.refused]
    assert "not modified" in refused[0].refused


async def test_an_edit_without_buttons_removes_them(
    adapter: TelegramAdapter, telegram: Telegram
) -> None:
    where = Destination("telegram", str(GROUP))
    ref = await adapter.post(where, CARD)
    await adapter.edit(where, ref, Message(title="#1 Top-up $10.50", text="Paid"))

    shown = telegram.api.messages[(str(GROUP), MessageRef.decode(ref).message_id)]
    assert "reply_markup" not in shown


async def test_a_refused_delete_is_not_fatal(
    adapter: TelegramAdapter, telegram: Telegram
) -> None:
    await adapter.delete(Destination("telegram", str(GROUP)), "999")
    assert telegram.api.calls[-1].refused


# The library warns about its own int-to-timedelta change when it builds
# the error; the adapter reads both kinds.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_flood_control_carries_the_servers_wait(
    adapter: TelegramAdapter, telegram: Telegram
) -> None:
    telegram.api.refuse(
        "sendMessage", 429, "Too Many Requests", parameters={"retry_after": 25}
    )
    with pytest.raises(DeliveryError) as refused:
        await adapter.post(Destination("telegram", str(GROUP)), CARD)
    assert refused.value.retry_after == 25
    assert not refused.value.permanent


async def test_a_blocked_user_is_a_permanent_refusal(
    adapter: TelegramAdapter, telegram: Telegram
) -> None:
    telegram.api.refuse("sendMessage", 403, "Forbidden: bot was blocked by the user")
    where = Destination("telegram", "100000001", recipient="100000001")
    with pytest.raises(DeliveryError) as refused:
        await adapter.direct(where, CARD)
    assert refused.value.permanent
    assert "100000001" in adapter.unreachable
