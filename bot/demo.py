"""``paybot demo``: the whole flow on one machine, with no accounts.

A local ModelsLab sandbox, the console adapter as the team chat and SQLite
in a fresh file. ``/pay ID [CARD]`` plays the payer on the sandbox's own
checkout page, as a browser would.
"""

from __future__ import annotations

import asyncio
import io
import re
import sys
import tempfile
from html import unescape
from pathlib import Path
from typing import TextIO

import httpx

from adapters.console import ConsoleAdapter, ConsoleChat
from bot.app import Paybot
from bot.billing.sandbox import SandboxConfig, create_sandbox_app
from bot.serving import bind, start_server
from bot.settings import load_settings
from storage import repo

TEST_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"

AUTO_SCRIPT = f"""\
# alice needs credit; bob and carol are the approvers
topup 50 GPU batch for Q3
/as bob
approve 1
/wait Payment link for #1
# the payer's first card is declined, the second one pays
/pay 1 {DECLINED_CARD}
/pay 1 {TEST_CARD}
/wait Wallet funded: $50.00
/as alice
plans
subscribe 10 team plan
/as carol
approve 2
/wait Payment link for #2
/pay 2 {TEST_CARD}
/wait Subscription to Basic Enterprise
balance
"""

WELCOME = """\
paybot demo: a team chat in your terminal, a local ModelsLab sandbox at {base}
You are alice. Approvers: bob, carol. Try:
  topup 50 GPU batch      then  /as bob   and  approve 1
  open the payment link in a browser and pay with {card}
  (or type /pay 1 to let the demo pay it), then watch the report.
  plans, subscribe 10, balance, requests, status 1, help.  /quit ends.
"""


async def run_demo(
    *, auto: bool, database: str | None, stdin: TextIO = sys.stdin
) -> int:
    config = SandboxConfig()
    sandbox = await start_server(create_sandbox_app(config), bind("127.0.0.1", 0))
    with tempfile.TemporaryDirectory(prefix="paybot-demo-") as scratch:
        url = database or f"sqlite:///{Path(scratch) / 'paybot-demo.db'}"
        settings = load_settings(
            modelslab_api_url=f"{sandbox.base_url}/api/agents/v1",
            modelslab_token=config.token,
            database_url=url,
            paybot_approvers="console:bob,console:carol",
            paybot_allowed_chats="",
            paybot_payer=None,
        )
        paybot = Paybot(settings)
        try:
            return await _chat(paybot, sandbox.base_url, auto=auto, stdin=stdin)
        finally:
            await paybot.aclose()
            await sandbox.stop()


async def _chat(paybot: Paybot, base: str, *, auto: bool, stdin: TextIO) -> int:
    adapter = ConsoleAdapter()
    handle = paybot.add_adapter(adapter)
    chat = ConsoleChat(
        adapter,
        handle,
        extras={"/pay": lambda rest: pay(paybot, rest)},
        settle=paybot.settle,
    )
    stop = asyncio.Event()
    workers = asyncio.create_task(paybot.run_workers(stop))
    interactive = not auto and stdin.isatty()
    if interactive:
        print(WELCOME.format(base=base, card=TEST_CARD), flush=True)
    try:
        await chat.run(io.StringIO(AUTO_SCRIPT) if auto else stdin, prompt=interactive)
        await paybot.settle()
    finally:
        stop.set()
        await workers
    return 1 if chat.failed else 0


async def pay(paybot: Paybot, rest: str) -> str:
    """Fill in the checkout page of request ``ID`` as the payer would."""
    request_text, _, card = rest.partition(" ")
    if not request_text.lstrip("#").isdigit():
        return "Usage: /pay ID [CARD], e.g. /pay 1"
    request_id = int(request_text.lstrip("#"))
    checkout = await paybot.db.read_async(
        lambda s: repo.checkout_for_request(s, request_id)
    )
    if checkout is None:
        return f"(#{request_id} has no payment link yet)"
    card = card.strip() or TEST_CARD
    try:
        async with httpx.AsyncClient(timeout=10) as browser:
            await browser.get(checkout.payment_url)
            result = await browser.post(
                checkout.payment_url, data={"card_number": card, "action": "pay"}
            )
    except httpx.HTTPError:
        return "(the checkout page did not answer; is the sandbox still running?)"
    page_says = _headline(result.text)
    return f"(the payer used card ending {card[-4:]} on the checkout page: {page_says})"


def _headline(html: str) -> str:
    """What the page says: its alert if it shows one, else its heading."""
    for pattern in (r"<div class='alert[^']*'>(.*?)</div>", r"<h1[^>]*>(.*?)</h1>"):
        match = re.search(pattern, html, re.DOTALL)
        if match:
            return unescape(re.sub(r"<[^>]+>|\s+", " ", match.group(1)).strip())
    return "done"
