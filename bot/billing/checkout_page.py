"""The hosted checkout page of the simulator: plain, self-contained HTML.

It stands in for Stripe Checkout in the demo, so it shows what is being
paid for and takes only the test cards; nothing is loaded from elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from typing import Final
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from bot.billing.sandbox_ledger import CheckoutSession, Ledger
from bot.billing.wire import format_datetime, to_dollars

TEST_CARD: Final = "4242 4242 4242 4242"
DECLINED_CARD: Final = "4000 0000 0000 0002"
_PAYING_DIGITS: Final = TEST_CARD.replace(" ", "")
_DECLINED_DIGITS: Final = DECLINED_CARD.replace(" ", "")

_STYLE: Final = """
body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:26rem;margin:3rem auto;background:#fff;border-radius:10px;
padding:2rem;box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.2rem;margin:0 0 .3rem}
.amount{font-size:2rem;font-weight:600;margin:.5rem 0 1.5rem}
label{display:block;font-size:.85rem;margin:.8rem 0 .2rem}
input{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #c9ced8;
border-radius:6px;font-size:1rem}
.row{display:flex;gap:.8rem}.row>div{flex:1}
.actions{display:flex;gap:.8rem;margin-top:1.4rem}
button{flex:1;padding:.7rem;border:0;border-radius:6px;font-size:1rem;cursor:pointer}
.pay{background:#635bff;color:#fff}.cancel{background:#e6e8ee;color:#1d2330}
.note{font-size:.8rem;color:#5b6475;margin-top:1.2rem}
.alert{padding:.7rem;border-radius:6px;background:#fdecea;color:#8a1c14;margin:1rem 0}
.ok{background:#e7f6ec;color:#18612f}
code{background:#eef0f4;padding:.15rem .35rem;border-radius:4px;word-break:break-all}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def checkout_form(
    session_id: str, description: str, amount: str, alert: str = ""
) -> str:
    """The payment form; ``alert`` is shown above it after a failed attempt."""
    notice = f"<div class='alert'>{escape(alert)}</div>" if alert else ""
    action = f"/checkout/{escape(session_id)}"
    body = f"""
<h1>{escape(description)}</h1>
<div class='amount'>{escape(amount)}</div>{notice}
<form method='post' action='{action}' autocomplete='off'>
<label for='card_number'>Card number</label>
<input id='card_number' name='card_number' inputmode='numeric'
 placeholder='{TEST_CARD}'>
<div class='row'><div><label for='expiry'>Expiry</label>
<input id='expiry' name='expiry' placeholder='12 / 30'></div>
<div><label for='cvc'>CVC</label>
<input id='cvc' name='cvc' placeholder='123'></div></div>
<label for='name'>Name on card</label><input id='name' name='name'>
<div class='actions'>
<button class='pay' type='submit' name='action' value='pay'>
Pay {escape(amount)}</button>
<button class='cancel' type='submit' name='action' value='cancel'>Cancel</button>
</div></form>
<p class='note'>Sandbox checkout. Test card {TEST_CARD} pays;
{DECLINED_CARD} is declined. Any expiry and CVC.</p>"""
    return _page(f"Pay {amount}", body)


def paid_page(session_id: str, description: str, amount: str) -> str:
    body = f"""
<h1>Payment received</h1>
<div class='alert ok'>{escape(description)}: {escape(amount)} paid.</div>
<p>Your checkout session id:</p><p><code>{escape(session_id)}</code></p>
<p class='note'>Copy it into the chat if the bot asks for it.
You can close this page.</p>"""
    return _page("Payment received", body)


def declined_page(session_id: str, description: str, amount: str) -> str:
    return checkout_form(
        session_id,
        description,
        amount,
        "Your card was declined. Try another card; this link is still valid.",
    )


def wrong_card_page(session_id: str, description: str, amount: str) -> str:
    return checkout_form(
        session_id,
        description,
        amount,
        f"This is a sandbox: use a test card, {TEST_CARD} (or {DECLINED_CARD} "
        "to see a decline).",
    )


def cancelled_page(expires: str) -> str:
    body = f"""
<h1>Payment cancelled</h1>
<p>Nothing was charged. The link stays valid until {escape(expires)}
if you change your mind.</p>"""
    return _page("Payment cancelled", body)


def expired_page() -> str:
    body = """
<h1>This link has expired</h1>
<p>Nothing was charged. Ask in the chat for a new payment link.</p>"""
    return _page("Link expired", body)


def not_found_page() -> str:
    body = """
<h1>Checkout not found</h1>
<p>This payment link does not exist. Check that it was copied whole.</p>"""
    return _page("Checkout not found", body)


class CheckoutPages:
    """The browser side of a checkout session: show it, pay it, cancel it.

    Only the last four digits of a paying card are kept.
    """

    def __init__(
        self, ledger: Ledger, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._ledger = ledger
        self._now = now

    def routes(self) -> list[Route]:
        return [
            Route("/checkout/{session_id}", self.show, methods=["GET"]),
            Route("/checkout/{session_id}", self.submit, methods=["POST"]),
        ]

    async def show(self, request: Request) -> HTMLResponse:
        session = self._ledger.sessions.get(request.path_params["session_id"])
        if session is None:
            return HTMLResponse(not_found_page(), 404)
        if session.paid:
            return HTMLResponse(paid_page(session.id, *_what(session)))
        if session.is_expired(self._now()):
            return HTMLResponse(expired_page(), 410)
        return HTMLResponse(checkout_form(session.id, *_what(session)))

    async def submit(self, request: Request) -> HTMLResponse:
        session = self._ledger.sessions.get(request.path_params["session_id"])
        if session is None:
            return HTMLResponse(not_found_page(), 404)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        now = self._now()
        if session.paid:
            return HTMLResponse(paid_page(session.id, *_what(session)))
        if session.is_expired(now):
            return HTMLResponse(expired_page(), 410)
        action = form.get("action", [""])[0]
        if action not in ("pay", "cancel"):
            return HTMLResponse(checkout_form(session.id, *_what(session)), 400)
        if action == "cancel":
            return HTMLResponse(cancelled_page(format_datetime(session.expires_at)))
        return self._pay(session, form.get("card_number", [""])[0], now)

    def _pay(
        self, session: CheckoutSession, card_number: str, now: datetime
    ) -> HTMLResponse:
        digits = re.sub(r"[\s-]", "", card_number)
        if digits == _PAYING_DIGITS:
            self._ledger.pay(session, digits[-4:], now)
            return HTMLResponse(paid_page(session.id, *_what(session)))
        if digits == _DECLINED_DIGITS:
            session.declined = True
            return HTMLResponse(declined_page(session.id, *_what(session)), 402)
        return HTMLResponse(wrong_card_page(session.id, *_what(session)), 400)


def _what(session: CheckoutSession) -> tuple[str, str]:
    return session.describe(), f"${to_dollars(session.amount_cents)}"
