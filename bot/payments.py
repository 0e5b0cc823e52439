"""Payment links and checkout outcomes: the two places money is touched.

A payment link is requested with an idempotency key stored before the call,
so a retry after a crash gets the same checkout. An outcome is recorded with
a conditional update on the checkout row, so the watcher and a ``paid``
command confirming the same session at once record it exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import cards, notify
from bot.billing.client import BillingClient
from bot.billing.models import CheckoutOutcome, PaymentLink, Purpose
from bot.budget import CallBudget
from bot.chat import Message
from bot.errors import BillingError, BillingRejected, BillingUnavailable
from bot.settings import Settings
from bot.states import State
from storage import repo
from storage.db import Database
from storage.models import Checkout, PaymentRequest, utcnow

log = logging.getLogger(__name__)

# A "paid" message within this many seconds of the last check reuses it.
RECHECK_SECONDS = 5.0
WILL_REPORT = "the payment is reported here as soon as ModelsLab shows it."


def purpose_of(checkout: Checkout) -> Purpose:
    return "subscribe" if checkout.purpose == "subscribe" else "fund"


def link_key(request: PaymentRequest) -> str:
    """The idempotency key of a request's payment link: one per request."""
    return f"paybot-{request.id}-{request.ref}"


class Payments:
    def __init__(
        self,
        db: Database,
        billing: BillingClient,
        settings: Settings,
        budget: CallBudget,
    ) -> None:
        self.db = db
        self.billing = billing
        self.settings = settings
        self.budget = budget
        # Where checkout times come from; a benchmark runs on a virtual clock.
        self.clock: Callable[[], datetime] = utcnow
        # Requests whose link call is under way: the approval and the
        # watcher's sweep must not both ask ModelsLab for the same link.
        self._creating: set[int] = set()

    async def create_link(self, request_id: int) -> bool:
        """Ask for the payment link of an approved request and store it.

        Returns False when billing is unavailable and the caller should try
        again later with the same key; True when the request moved on or
        another caller is already asking for its link.
        """
        if request_id in self._creating:
            return True
        self._creating.add(request_id)
        try:
            return await self._create_link(request_id)
        finally:
            self._creating.discard(request_id)

    async def _create_link(self, request_id: int) -> bool:
        request = await self.db.read_async(lambda s: repo.get_request(s, request_id))
        if request is None or request.state != State.APPROVED or not request.link_key:
            return True
        self.budget.try_take(urgent=True)  # a person is waiting for this link
        try:
            link = await self.billing.create_payment_link(
                "fund" if request.kind == "topup" else "subscribe",
                idempotency_key=request.link_key,
                amount_cents=request.amount_cents if request.kind == "topup" else None,
                plan_id=request.plan_id if request.kind == "subscription" else None,
            )
        except BillingUnavailable as exc:
            log.warning("payment link for #%s delayed: %s", request_id, exc)
            await self.db.write_async(lambda s: self._notice_delay(s, request_id))
            return False
        except BillingRejected as exc:
            reason = str(exc)
            log.error("payment link for #%s refused: %s", request_id, reason)
            await self.db.write_async(lambda s: self._fail(s, request_id, reason))
            return True
        await self._store_link(request_id, link)
        return True

    async def _store_link(self, request_id: int, link: PaymentLink) -> None:
        try:
            await self.db.write_async(lambda s: self._open_link(s, request_id, link))
        except IntegrityError:
            log.info("payment link for #%s already stored", request_id)

    def _open_link(self, session: Session, request_id: int, link: PaymentLink) -> None:
        if repo.checkout_by_session(session, link.session_id):
            return
        checkout = Checkout(
            request_id=request_id,
            session_id=link.session_id,
            purpose=link.purpose,
            payment_url=link.payment_url,
            expires_at=link.expires_at,
            created_at=self.clock(),
            next_poll_at=self.clock(),
        )
        session.add(checkout)
        opened = repo.move_request(
            session, request_id, [State.APPROVED], State.LINK_OPEN
        )
        request = repo.get_request(session, request_id)
        assert request is not None
        session.refresh(request)
        repo.add_audit(session, request_id, "paybot", "link_created", link.session_id)
        if not opened:
            return  # cancelled meanwhile: the checkout is still watched
        self._send_link(session, request, checkout)
        notify.edit_card(session, request)

    def _send_link(
        self, session: Session, request: PaymentRequest, checkout: Checkout
    ) -> None:
        payer = self.settings.paybot_payer
        if payer:
            notify.to_account(
                session, payer, cards.payment_link(request, checkout), request.id
            )
            notify.to_thread(
                session, request, cards.link_sent_privately(request, payer)
            )
        else:
            notify.to_thread(session, request, cards.payment_link(request, checkout))

    def _notice_delay(self, session: Session, request_id: int) -> None:
        request = repo.get_request(session, request_id)
        if request is None or request.billing_notice_sent:
            return
        request.billing_notice_sent = True
        session.add(request)
        notify.to_thread(session, request, cards.billing_delayed(request))

    def _fail(self, session: Session, request_id: int, reason: str) -> None:
        if not repo.move_request(session, request_id, [State.APPROVED], State.FAILED):
            return
        request = repo.get_request(session, request_id)
        assert request is not None
        session.refresh(request)
        repo.add_audit(session, request_id, "paybot", "failed", reason)
        notify.edit_card(session, request)
        text = f"ModelsLab refused the payment link for #{request_id}: {reason}"
        notify.to_thread(session, request, Message(text=text))

    async def record(self, checkout: Checkout, outcome: CheckoutOutcome) -> bool:
        """Apply a confirm-checkout outcome; True if this call settled it."""
        if outcome.status == "paid":
            balance = outcome.balance_cents
            if balance is None and checkout.purpose == "fund":
                balance = await self._current_balance()
            return await self.db.write_async(
                lambda s: self._mark_paid(s, checkout, outcome, balance)
            )
        if outcome.status == "expired":
            return await self.db.write_async(lambda s: self._mark_expired(s, checkout))
        return False

    async def _current_balance(self) -> int | None:
        try:
            return (await self.billing.wallet_balance()).balance_cents
        except BillingError:
            return None

    def _mark_paid(
        self,
        session: Session,
        checkout: Checkout,
        outcome: CheckoutOutcome,
        balance: int | None,
    ) -> bool:
        status = outcome.subscription_status or "active"
        values: dict[str, object] = {"balance_after_cents": balance}
        if checkout.purpose == "subscribe":
            values = {"subscription_status": status}
        assert checkout.id is not None
        if not repo.settle_checkout(
            session, checkout.id, "paid", self.clock(), **values
        ):
            return False
        request = repo.get_request(session, checkout.request_id)
        assert request is not None
        report = (
            cards.topup_paid(request, balance)
            if checkout.purpose == "fund"
            else cards.subscription_paid(request, status)
        )
        repo.move_request(
            session, checkout.request_id, [State.LINK_OPEN, State.CANCELLED], State.PAID
        )
        session.refresh(request)
        repo.add_audit(session, request.id, "paybot", "paid", checkout.session_id)
        notify.edit_card(session, request)
        notify.to_thread(session, request, report)
        return True

    def _mark_expired(self, session: Session, checkout: Checkout) -> bool:
        assert checkout.id is not None
        if not repo.settle_checkout(session, checkout.id, "expired", self.clock()):
            return False
        repo.add_audit(
            session, checkout.request_id, "paybot", "link_expired", checkout.session_id
        )
        if not repo.move_request(
            session, checkout.request_id, [State.LINK_OPEN], State.EXPIRED
        ):
            return True
        request = repo.get_request(session, checkout.request_id)
        assert request is not None
        session.refresh(request)
        notify.edit_card(session, request)
        notify.to_thread(session, request, cards.link_expired(request))
        return True

    async def check_now(self, checkout: Checkout) -> str:
        """Confirm one checkout at once, for a person who says they paid."""
        request_id = checkout.request_id
        if checkout.status != "open":
            return f"#{request_id} is already settled: {checkout.status}."
        last = checkout.last_polled_at
        if last and (self.clock() - last).total_seconds() < RECHECK_SECONDS:
            return f"paybot checked #{request_id} moments ago; {WILL_REPORT}"
        if not self.budget.try_take(urgent=True):
            await self.db.write_async(lambda s: repo.nudge_checkout(s, checkout.id))
            return f"paybot checks #{request_id} first thing; {WILL_REPORT}"
        await self.db.write_async(
            lambda s: repo.mark_polled(s, checkout.id or 0, self.clock())
        )
        outcome = await self.billing.confirm_checkout(
            purpose_of(checkout),
            checkout.session_id,
            expires_at=checkout.expires_at,
        )
        self.budget.observe(self.billing.rate_limit)
        if await self.record(checkout, outcome):
            return f"Payment for #{request_id} confirmed: {outcome.status}."
        if outcome.status == "paid":
            return f"#{request_id} was already recorded as paid."
        if outcome.status in ("transient", "rate_limited"):
            return (
                "Billing is unavailable right now; paybot keeps checking "
                f"#{request_id} by itself."
            )
        expiry = cards.when(checkout.expires_at)
        return (
            f"#{request_id} is not paid yet. paybot keeps checking until the "
            f"link expires at {expiry}."
        )

    def is_past_grace(self, checkout: Checkout, now: datetime | None = None) -> bool:
        grace = self.settings.paybot_poll_grace_seconds
        return (
            now or self.clock()
        ).timestamp() > checkout.expires_at.timestamp() + grace
