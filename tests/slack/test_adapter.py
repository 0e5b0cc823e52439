"""The outgoing side against the fake Web API: refs, refusals, waits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import SlackAdapter, UserNames, check_token, web_client
from bot.chat import Destination, Message
from bot.errors import ConfigError, DeliveryError
from bot.settings import load_settings
from tests.slack.fake_slack import BOT_TOKEN, FakeSlack
from tests.slack.world import free_port
from tests.support.servers import serve_in_thread

HELLO = Message(text="hello")
CHANNEL = Destination("slack", "C0BBB")


@dataclass
class FakeApi:
    fake: FakeSlack
    root: str

    def adapter(self) -> SlackAdapter:
        return SlackAdapter(client_for(self.root))


def client_for(url: str, token: str = BOT_TOKEN) -> AsyncWebClient:
    settings = load_settings(_env_file=None, slack_api_url=url + "/api")
    return web_client(token, settings)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeSlack()
    with serve_in_thread(fake.app()) as root:
        yield FakeApi(fake, root)


async def test_post_returns_the_ts_and_replies_in_the_thread(api: FakeApi) -> None:
    adapter = api.adapter()

    card = await adapter.post(CHANNEL, HELLO)
    await adapter.post(Destination("slack", "C0BBB", thread_ref=card), HELLO)
    await adapter.edit(CHANNEL, card, Message(text="edited"))

    first, reply = api.fake.posts()
    assert card == first.answer_ts == "1700000000.000100"
    assert reply.args["thread_ts"] == card and "thread_ts" not in first.args
    assert api.fake.updates(card)[0].text == "edited"


async def test_ratelimited_carries_the_wait(api: FakeApi) -> None:
    api.fake.rate_limit("chat.postMessage", 3)

    with pytest.raises(DeliveryError) as refused:
        await api.adapter().post(CHANNEL, HELLO)

    assert refused.value.retry_after == 3 and not refused.value.permanent


@pytest.mark.parametrize(
    "error", ["channel_not_found", "not_in_channel", "is_archived"]
)
async def test_channel_problems_are_permanent(api: FakeApi, error: str) -> None:
    api.fake.refuse("chat.postMessage", error)

    with pytest.raises(DeliveryError) as refused:
        await api.adapter().post(CHANNEL, HELLO)

    assert refused.value.permanent
    assert error in str(refused.value) and "C0BBB" in str(refused.value)


async def test_slack_trouble_is_worth_another_try(api: FakeApi) -> None:
    api.fake.refuse("chat.update", "internal_error")

    with pytest.raises(DeliveryError) as refused:
        await api.adapter().edit(CHANNEL, "1700000000.000100", HELLO)

    assert not refused.value.permanent and refused.value.retry_after is None


async def test_an_unreachable_slack_is_worth_another_try() -> None:
    adapter = SlackAdapter(client_for(f"http://127.0.0.1:{free_port()}"))

    with pytest.raises(DeliveryError) as refused:
        await adapter.post(CHANNEL, HELLO)

    assert not refused.value.permanent


async def test_direct_messages_open_the_conversation_once(api: FakeApi) -> None:
    adapter = api.adapter()
    payer = Destination("slack", "U0DDD", recipient="U0DDD")

    await adapter.direct(payer, HELLO)
    await adapter.direct(payer, HELLO)

    assert len(api.fake.calls_to("conversations.open", users="U0DDD")) == 1
    assert len(api.fake.posts(channel="DU0DDD")) == 2


async def test_ephemeral_goes_to_one_person_in_the_thread(api: FakeApi) -> None:
    where = Destination("slack", "C0BBB", thread_ref="1700.1", recipient="U0AAA")

    await api.adapter().ephemeral(where, HELLO)

    (notice,) = api.fake.ephemerals("U0AAA")
    assert notice.args["thread_ts"] == "1700.1" and notice.channel == "C0BBB"


async def test_delete_is_a_no_op(api: FakeApi) -> None:
    await api.adapter().delete(CHANNEL, "1700000000.000900")

    assert api.fake.calls == []


async def test_names_come_from_users_info_once(api: FakeApi) -> None:
    names = UserNames(client_for(api.root))

    assert await names.name_of("U0CCC") == "Carol"
    assert await names.name_of("U0CCC") == "Carol"
    assert await names.name_of("U0NOBODY", "hint") == "hint"
    assert len(api.fake.calls_to("users.info", user="U0CCC")) == 1


async def test_a_rejected_token_stops_the_start(api: FakeApi) -> None:
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        await check_token(client_for(api.root, "xoxb-wrong"))
