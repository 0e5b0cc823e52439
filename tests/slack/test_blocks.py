"""Block Kit rendering: user text escaped exactly once, links verbatim."""

from __future__ import annotations

import json

from adapters.slack_blocks import (
    MAX_BLOCKS,
    SECTION_LIMIT,
    fallback_text,
    plain_text,
    render,
)
from bot.chat import Button, Message

URL = "https://checkout.stripe.com/c/pay/cs_test_a1B2?locale=en&x=1#fidkdWxOYHwn"


def everything(message: Message) -> str:
    return fallback_text(message) + json.dumps(render(message))


def test_user_text_is_escaped_once_and_cannot_ping() -> None:
    card = Message(
        title="#3 Top-up $10.50",
        fields=(("Requested by", "Ops-Team (beta)!"), ("Note", "<!channel> & <b>")),
    )

    text = everything(card)

    assert "&lt;!channel&gt; &amp; &lt;b&gt;" in text
    assert "<!channel>" not in text and "&amp;lt;" not in text
    assert "$10.50" in text and "Ops-Team (beta)!" in text


def test_payment_links_are_verbatim_and_clickable() -> None:
    message = Message(
        text=f"Payment link for #3:\n{URL}\nIt expires soon.", links=(URL,)
    )

    blocks = render(message)

    assert f"<{URL}>" in blocks[0]["text"]["text"]
    assert f"<{URL}>" in fallback_text(message)


def test_buttons_carry_paybot_action_ids_and_the_request_ref() -> None:
    card = Message(
        title="#3",
        buttons=(
            Button("approve", "Approve", "r3f", "primary"),
            Button("cancel", "Cancel", "r3f"),
        ),
    )

    actions = render(card)[-1]

    assert actions["type"] == "actions"
    approve, cancel = actions["elements"]
    assert (approve["action_id"], approve["value"], approve["style"]) == (
        "paybot_approve",
        "r3f",
        "primary",
    )
    assert cancel["action_id"] == "paybot_cancel" and "style" not in cancel


def test_long_text_is_cut_into_sections_slack_accepts() -> None:
    history = Message(text="\n".join(f"line {n} " + "x" * 200 for n in range(400)))

    blocks = render(history)

    assert len(blocks) <= MAX_BLOCKS
    assert all(len(block["text"]["text"]) <= SECTION_LIMIT for block in blocks)


def test_many_fields_are_split_ten_to_a_section() -> None:
    message = Message(fields=tuple((f"k{n}", "v") for n in range(12)))

    assert [len(block["fields"]) for block in render(message)] == [10, 2]


def test_slack_markup_becomes_what_the_person_typed() -> None:
    assert plain_text("&lt;b&gt;Q3&lt;/b&gt; &amp;amp; more") == "<b>Q3</b> &amp; more"
    assert plain_text("ask <@U0AAA|alice> in <#C0BBB|payments>") == (
        "ask @alice in #payments"
    )
    assert plain_text("<@U0AAA> <!channel>") == "@U0AAA <!channel>"
