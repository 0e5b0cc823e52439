"""The engine: turns an ``Inbound`` into state changes and queued messages.

Every path ends in one transaction that claims the inbound's dedupe key and
writes the state change, its audit event and its messages together, so an
event delivered twice acts once and a crash loses nothing half-done. The
engine never calls a chat API; the outbox worker does.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlmodel import Session

from bot import cards, commands, notify
from bot import policy as rules
from bot.billing.client import BillingClient
from bot.billing.models import Plan, PlanCatalog
from bot.cardnumbers import contains_card_number, mask_card_numbers
from bot.chat import Inbound, Message
from bot.errors import BillingError, BillingUnavailable, InvalidInput
from bot.money import check_range, format_usd
from bot.payments import Payments, link_key
from bot.policy import Policy
from bot.settings import Settings
from bot.states import DESCRIPTIONS, OPEN_STATES, State
from bot.wallet import wallet_context
from storage import repo
from storage.db import Database
from storage.models import Checkout, PaymentRequest, Vote, utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MINIMUM_CENTS = 1000
CATALOG_TTL_SECONDS = 600
BUTTON_COMMANDS = {
    "approve": commands.Approve,
    "deny": commands.Deny,
    "cancel": commands.Cancel,
    "paid": commands.Paid,
}
# Money that counts against a budget: requests still open, and paid ones.
BUDGET_STATES = (*OPEN_STATES, State.PAID)
# The requester of the top-ups paybot asks for itself; no chat account has
# this form, so it can never be mistaken for a person.
LOW_BALANCE_REQUESTER = "paybot"
APPROVED_STATES = frozenset({State.APPROVED, State.LINK_OPEN, State.PAID})


class Engine:
    def __init__(
        self,
        db: Database,
        billing: BillingClient,
        payments: Payments,
        settings: Settings,
        *,
        policy: Policy | None = None,
        on_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.billing = billing
        self.payments = payments
        self.settings = settings
        self.policy = policy or rules.from_settings(settings)
        self.on_queued = on_queued
        self.clock = clock
        self._catalog: tuple[float, PlanCatalog] | None = None
        self._tasks: set[asyncio.Task[bool]] = set()

    async def handle(self, inbound: Inbound) -> None:
        """Act on one chat event; never raises for anything a person did."""
        try:
            await self._handle(inbound)
        except InvalidInput as exc:
            await self._reply_alone(inbound, exc.reason)
        except BillingUnavailable:
            await self._reply_alone(
                inbound, "Billing is unavailable right now. Try again in a minute."
            )
        except BillingError as exc:
            await self._reply_alone(inbound, f"ModelsLab refused that: {exc}")
        self.on_queued()

    async def _handle(self, inbound: Inbound) -> None:
        if contains_card_number(inbound.text):
            await self._refuse_card_number(inbound)
        elif not self._chat_allowed(inbound):
            await self._reply_alone(inbound, "paybot is not enabled in this chat.")
        elif inbound.action:
            await self._press(inbound)
        else:
            await self._run(inbound, commands.parse_command(inbound.text))

    def _chat_allowed(self, inbound: Inbound) -> bool:
        allowed = self.settings.paybot_allowed_chats
        return not allowed or f"{inbound.platform}:{inbound.chat_id}" in allowed

    async def _refuse_card_number(self, inbound: Inbound) -> None:
        log.warning(
            "refused a message with a card number from %s: %s",
            inbound.account,
            mask_card_numbers(inbound.text),
        )
        text = (
            "Please never post card numbers in chat. paybot does not need them: "
            "payments happen on the hosted checkout page. Delete your message."
        )

        def work(session: Session) -> None:
            notify.to_person(session, inbound, Message(text=text))
            if inbound.message_ref:
                notify.queue_delete(session, inbound)

        await self._commit(inbound, work)

    async def _press(self, inbound: Inbound) -> None:
        ref = inbound.action_value or ""
        request = await self.db.read_async(lambda s: repo.get_request_by_ref(s, ref))
        if request is None or request.id is None:
            raise InvalidInput("This request no longer exists.")
        if inbound.action == "retry":
            await self._ask_again(inbound, request)
            return
        command_type = BUTTON_COMMANDS.get(inbound.action or "")
        if command_type is None:
            raise InvalidInput("That button is not one paybot knows.")
        await self._run(inbound, command_type(request.id))

    async def check_press(self, inbound: Inbound) -> str | None:
        """Why a button press would be refused, read without changing anything.

        Lets an adapter answer a press at once, before ``handle`` runs (a
        Telegram button spins until answered); None means go ahead.
        """

        def check(session: Session) -> str | None:
            if inbound.action not in (*BUTTON_COMMANDS, "retry"):
                return "That button is not one paybot knows."
            request = repo.get_request_by_ref(session, inbound.action_value or "")
            if request is None or request.id is None:
                return "This request no longer exists."
            if inbound.action not in ("approve", "deny"):
                return None
            try:
                self._check_voter(session, inbound, request)
            except InvalidInput as exc:
                return exc.reason
            person = rules.person_of(self.policy, inbound.account)
            votes = repo.votes_for(session, request.id)
            if any(vote.voter_id == person for vote in votes):
                return f"You already voted on #{request.id}."
            return None

        return await self.db.read_async(check)

    async def move_chat(self, platform: str, old_chat_id: str, new_chat_id: str) -> int:
        """Follow a chat to its new id; returns how many requests moved."""
        moved = await self.db.write_async(
            lambda s: repo.move_chat(s, platform, old_chat_id, new_chat_id)
        )
        log.info(
            "%s chat %s is now %s: %d requests moved",
            platform,
            old_chat_id,
            new_chat_id,
            moved,
        )
        return moved

    async def _run(self, inbound: Inbound, command: commands.Command) -> None:
        match command:
            case commands.Topup():
                await self._topup(inbound, command.amount_cents, command.note)
            case commands.Subscribe():
                await self._subscribe(inbound, command.plan, command.note)
            case commands.Approve():
                await self._vote(inbound, command.request_id, "approve", "")
            case commands.Deny():
                await self._vote(inbound, command.request_id, "deny", command.reason)
            case commands.Cancel():
                await self._in_transaction(inbound, self._cancel, command.request_id)
            case commands.Paid():
                await self._paid(inbound, command.request_id, command.session_id)
            case commands.Plans():
                await self._answer(inbound, await self._plans_message())
            case commands.Balance():
                await self._balance(inbound)
            case commands.Requests():
                await self._in_transaction(inbound, self._list_requests, None)
            case commands.Status():
                await self._in_transaction(inbound, self._status, command.request_id)
            case commands.ShowPolicy():
                text = rules.describe(self.policy)
                await self._answer(inbound, Message(title="Rules", text=text))
            case commands.Help():
                await self._answer(
                    inbound, Message(text=commands.help_text(command.topic))
                )
            case commands.SendLink():
                await self._send_link_privately(inbound, command.ref)

    async def _in_transaction(
        self,
        inbound: Inbound,
        work: Callable[[Session, Inbound, T], None],
        argument: T,
    ) -> None:
        await self._commit(inbound, lambda session: work(session, inbound, argument))

    # -- new requests -------------------------------------------------------

    async def _catalog_or_none(self) -> PlanCatalog | None:
        if self._catalog and time.monotonic() - self._catalog[0] < CATALOG_TTL_SECONDS:
            return self._catalog[1]
        try:
            catalog = await self.billing.list_plans()
        except BillingError as exc:
            log.warning("plans unavailable: %s", exc)
            return None
        self._catalog = (time.monotonic(), catalog)
        return catalog

    async def _topup(self, inbound: Inbound, amount_cents: int, note: str) -> None:
        catalog = await self._catalog_or_none()
        minimum = catalog.minimum_topup_cents if catalog else DEFAULT_MINIMUM_CENTS
        check_range(
            amount_cents,
            minimum_cents=minimum,
            maximum_cents=self.policy.topup_max_cents,
        )
        request = self._new_request(inbound, "topup", amount_cents, note)
        await self._create(inbound, request)

    async def _subscribe(self, inbound: Inbound, plan_text: str, note: str) -> None:
        catalog = await self._catalog_or_none()
        if catalog is None:
            raise BillingUnavailable("plans unavailable")
        plan = find_plan(catalog, plan_text)
        request = self._new_request(inbound, "subscription", plan.price_cents, note)
        request.plan_id, request.plan_name = plan.id, plan.name
        await self._create(inbound, request)

    def _new_request(
        self, inbound: Inbound, kind: str, amount_cents: int, note: str
    ) -> PaymentRequest:
        refusal = rules.request_refusal(self.policy, inbound.account)
        if refusal:
            raise InvalidInput(refusal)
        return PaymentRequest(
            ref=secrets.token_urlsafe(6),
            kind=kind,
            state=State.AWAITING_APPROVAL,
            platform=inbound.platform,
            chat_id=inbound.chat_id,
            thread_ref=inbound.thread_ref or inbound.message_ref,
            requester_id=inbound.account,
            requester_name=inbound.user_name,
            amount_cents=amount_cents,
            note=note,
            created_at=self.clock(),
        )

    async def _create(self, inbound: Inbound, request: PaymentRequest) -> int | None:
        wallet = await wallet_context(self.billing, self.clock())
        request.balance_cents = wallet.balance_cents
        request.spent_30d_cents = wallet.spent_30d_cents

        def work(session: Session) -> int | None:
            duplicate = self._pending_twin(session, inbound, request)
            if duplicate is not None:
                raise InvalidInput(
                    f"You already have the same request open: #{duplicate}. "
                    f"Cancel it first (`cancel {duplicate}`) to ask again."
                )
            terms = self._terms(session, request)
            session.add(request)
            session.flush()
            repo.add_audit(
                session, request.id, inbound.user_name, "requested", _summary(request)
            )
            if terms.over_budget:
                repo.add_audit(
                    session, request.id, "paybot", "over_budget", "one extra approval"
                )
            if terms.auto_approve:
                self._approve(session, request, "auto-approved under the limit")
            notify.post_card(session, request)
            return request.id if terms.auto_approve else None

        approved = await self._commit(inbound, work)
        if approved:
            self._start_link(approved)
        return request.id

    async def ask_for_topup(
        self, chat: str, amount_cents: int, balance_cents: int
    ) -> int | None:
        """Post a pre-filled top-up request for a low balance, under the rules.

        Returns the new request's id, or None when the rules refused it.
        """
        platform, _, chat_id = chat.partition(":")
        inbound = Inbound(
            platform=platform,
            chat_id=chat_id,
            user_id=LOW_BALANCE_REQUESTER,
            user_name="paybot",
            dedupe_key=f"low-balance:{secrets.token_hex(8)}",
        )
        request = PaymentRequest(
            ref=secrets.token_urlsafe(6),
            kind="topup",
            state=State.AWAITING_APPROVAL,
            platform=platform,
            chat_id=chat_id,
            requester_id=LOW_BALANCE_REQUESTER,
            requester_name="paybot (low balance)",
            amount_cents=amount_cents,
            note=f"The wallet balance is down to {format_usd(balance_cents)}.",
            created_at=self.clock(),
        )
        try:
            return await self._create(inbound, request)
        except InvalidInput as exc:
            log.warning("low-balance top-up not requested: %s", exc.reason)
            return None

    def _terms(self, session: Session, request: PaymentRequest) -> rules.Terms:
        """Decide what the request needs and freeze those rules onto it."""
        now = self.clock()
        day, month = rules.period_starts(now)
        repo.lock_budget(session)
        spending = rules.Spending(
            today_cents=repo.committed_cents_since(session, day, BUDGET_STATES),
            month_cents=repo.committed_cents_since(session, month, BUDGET_STATES),
        )
        amount = request.amount_cents or 0
        terms = rules.terms_for(self.policy, request.kind, amount, spending, now)
        request.approvals_required = terms.approvals_required
        request.approval_expires_at = terms.approval_expires_at
        request.budget_left_cents = terms.budget_left_cents
        request.deny_ends = self.policy.deny_ends_request
        request.policy_digest = rules.rules_digest(self.policy)
        request.policy_rules = rules.rules_json(self.policy)
        return terms

    def _pending_twin(
        self, session: Session, inbound: Inbound, request: PaymentRequest
    ) -> int | None:
        """An open request of the same person for the same thing, if any."""
        for other in repo.open_requests(
            session, OPEN_STATES, inbound.platform, inbound.chat_id
        ):
            same = (other.kind, other.amount_cents, other.plan_id) == (
                request.kind,
                request.amount_cents,
                request.plan_id,
            )
            if same and other.requester_id == request.requester_id:
                return other.id
        return None

    async def _ask_again(self, inbound: Inbound, old: PaymentRequest) -> None:
        same_person = rules.person_of(self.policy, inbound.account) == rules.person_of(
            self.policy, old.requester_id
        )
        if not (same_person or rules.is_approver(self.policy, inbound.account)):
            raise InvalidInput(
                f"Only the requester of #{old.id} or an approver can ask again."
            )
        request = self._new_request(inbound, old.kind, old.amount_cents or 0, old.note)
        request.plan_id, request.plan_name = old.plan_id, old.plan_name
        await self._create(inbound, request)

    # -- votes ----------------------------------------------------------------

    async def _vote(
        self, inbound: Inbound, request_id: int, decision: str, reason: str
    ) -> None:
        approved = await self._commit(
            inbound,
            lambda s: self._record_vote(s, inbound, request_id, decision, reason),
        )
        if approved:
            self._start_link(request_id)

    def _record_vote(
        self,
        session: Session,
        inbound: Inbound,
        request_id: int,
        decision: str,
        reason: str,
    ) -> bool:
        request = _existing(session, request_id)
        self._check_voter(session, inbound, request)
        vote = Vote(
            request_id=request_id,
            # One row per person: their other accounts hit the same key.
            voter_id=rules.person_of(self.policy, inbound.account),
            voter_name=inbound.user_name,
            decision=decision,
            reason=reason,
        )
        if not repo.add_vote(session, vote):
            raise InvalidInput(f"You already voted on #{request_id}.")
        detail = f"{inbound.account}" + (f": {reason}" if reason else "")
        repo.add_audit(session, request_id, inbound.user_name, decision, detail)
        outcome = rules.tally(self.policy, request, repo.votes_for(session, request_id))
        if outcome == "denied":
            self._deny(session, request, inbound.user_name, reason)
            return False
        if outcome == "approved":
            self._approve(session, request, _quorum(request))
        notify.edit_card(session, request)
        return outcome == "approved"

    def _deny(
        self, session: Session, request: PaymentRequest, by: str, reason: str
    ) -> None:
        assert request.id is not None
        repo.move_request(session, request.id, [State.AWAITING_APPROVAL], State.DENIED)
        session.refresh(request)
        notify.edit_card(session, request)
        text = f"#{request.id} was denied by {by}."
        notify.to_thread(session, request, Message(text=text + _reason(reason)))

    def _check_voter(
        self, session: Session, inbound: Inbound, request: PaymentRequest
    ) -> None:
        if request.state != State.AWAITING_APPROVAL:
            raise InvalidInput(_already_decided(session, request))
        deadline = request.approval_expires_at
        if deadline is not None and self.clock() >= deadline:
            raise InvalidInput(
                f"#{request.id} waited too long and expired at {cards.when(deadline)}."
                " Make a new request if it is still needed."
            )
        refusal = rules.vote_refusal(self.policy, request, inbound.account)
        if refusal:
            raise InvalidInput(refusal)

    def _approve(self, session: Session, request: PaymentRequest, why: str) -> None:
        assert request.id is not None
        if not repo.move_request(
            session, request.id, [State.AWAITING_APPROVAL], State.APPROVED
        ):
            return
        session.refresh(request)
        request.link_key = link_key(request)
        session.add(request)
        repo.add_audit(session, request.id, "paybot", "approved", why)

    def _start_link(self, request_id: int) -> None:
        task = asyncio.create_task(self.payments.create_link(request_id))
        self._tasks.add(task)
        task.add_done_callback(self._link_done)

    def _link_done(self, task: asyncio.Task[bool]) -> None:
        self._tasks.discard(task)
        self.on_queued()

    async def drain(self) -> None:
        """Wait for the payment links being created right now."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- other commands -----------------------------------------------------

    def _cancel(self, session: Session, inbound: Inbound, request_id: int) -> None:
        request = _existing(session, request_id)
        is_approver = rules.is_approver(self.policy, inbound.account)
        requester = rules.person_of(self.policy, request.requester_id)
        is_requester = rules.person_of(self.policy, inbound.account) == requester
        if not is_requester and not is_approver:
            raise InvalidInput(
                f"Only the requester or an approver can cancel #{request_id}."
            )
        was_open = request.state == State.LINK_OPEN
        if not repo.move_request(session, request_id, OPEN_STATES, State.CANCELLED):
            state = DESCRIPTIONS[State(request.state)].lower()
            raise InvalidInput(f"#{request_id} cannot be cancelled: it is {state}.")
        session.refresh(request)
        repo.add_audit(session, request_id, inbound.user_name, "cancelled")
        notify.edit_card(session, request)
        text = f"#{request_id} was cancelled by {inbound.user_name}."
        if was_open:
            text += (
                " Its payment link stays payable until it expires; if someone pays "
                "it anyway, the money is credited and reported here."
            )
        notify.to_thread(session, request, Message(text=text))

    async def _paid(
        self, inbound: Inbound, request_id: int | None, session_id: str | None
    ) -> None:
        def find(session: Session) -> tuple[PaymentRequest | None, Checkout | None]:
            if session_id:
                checkout = repo.checkout_by_session(session, session_id)
                request = (
                    repo.get_request(session, checkout.request_id) if checkout else None
                )
                return request, checkout
            request = repo.get_request(session, request_id or 0)
            return request, repo.checkout_for_request(session, request_id or 0)

        request, checkout = await self.db.read_async(find)
        if request is None or checkout is None:
            what = f"#{request_id}" if request_id else "that checkout"
            raise InvalidInput(
                f"paybot has no payment link for {what}. Check the id with `requests`."
            )
        await self._reply_alone(inbound, await self.payments.check_now(checkout))

    async def _send_link_privately(self, inbound: Inbound, ref: str) -> None:
        """The payer opened a deep link: send them the payment link privately."""
        payer = self.policy.payer
        same = payer is not None and rules.person_of(
            self.policy, inbound.account
        ) == rules.person_of(self.policy, payer)
        if not same:
            raise InvalidInput("Only the team's payer can get payment links here.")

        def work(session: Session) -> None:
            request = repo.get_request_by_ref(session, ref)
            checkout = (
                repo.checkout_for_request(session, request.id or 0) if request else None
            )
            if request is None or checkout is None or checkout.status != "open":
                raise InvalidInput("That payment link is no longer open.")
            notify.to_person(session, inbound, cards.payment_link(request, checkout))

        await self._commit(inbound, work)

    async def _plans_message(self) -> Message:
        catalog = await self.billing.list_plans()
        self._catalog = (time.monotonic(), catalog)
        lines = [
            f"{plan.id}  {plan.name}  {format_usd(plan.price_cents)}/{plan.period}"
            for plan in catalog.plans
        ]
        lines.append(
            f"Pay as you go: top-ups from {format_usd(catalog.minimum_topup_cents)}."
        )
        lines.append("Subscribe with `subscribe PLAN_ID [note]`")
        return Message(title="Plans", text="\n".join(lines))

    async def _balance(self, inbound: Inbound) -> None:
        balance = await self.billing.wallet_balance()

        def work(session: Session) -> None:
            open_ = repo.open_requests(
                session, OPEN_STATES, inbound.platform, inbound.chat_id
            )
            text = f"Wallet balance: {format_usd(balance.balance_cents)}."
            if open_:
                text += "\nOpen requests:\n" + "\n".join(_one_line(r) for r in open_)
            notify.to_chat(session, inbound, Message(text=text))

        await self._commit(inbound, work)

    def _list_requests(self, session: Session, inbound: Inbound, _: None) -> None:
        open_ = repo.open_requests(
            session, OPEN_STATES, inbound.platform, inbound.chat_id
        )
        text = (
            "\n".join(_one_line(r) for r in open_) or "No open requests in this chat."
        )
        notify.to_chat(session, inbound, Message(title="Open requests", text=text))

    def _status(self, session: Session, inbound: Inbound, request_id: int) -> None:
        request = _existing(session, request_id)
        elsewhere = (request.platform, request.chat_id) != (
            inbound.platform,
            inbound.chat_id,
        )
        if elsewhere and not rules.is_approver(self.policy, inbound.account):
            # Another team's request is theirs to read; approvers see them all.
            raise InvalidInput(f"There is no request #{request_id} in this chat.")
        card = cards.request_card(
            request,
            repo.votes_for(session, request_id),
            repo.checkout_for_request(session, request_id),
        )
        events = repo.audit_trail(session, request_id)
        history = cards.history(request, events).text
        fields = (*card.fields, ("Rules", request.policy_digest or "before the policy"))
        notify.to_chat(
            session, inbound, Message(title=card.title, fields=fields, text=history)
        )

    # -- transactions ---------------------------------------------------------

    async def _answer(self, inbound: Inbound, message: Message) -> None:
        await self._commit(inbound, lambda s: notify.to_chat(s, inbound, message))

    async def _reply_alone(self, inbound: Inbound, text: str) -> None:
        await self._commit(
            inbound, lambda s: notify.to_person(s, inbound, Message(text=text))
        )

    async def _commit(self, inbound: Inbound, work: Callable[[Session], T]) -> T | None:
        """Run ``work`` with the inbound's dedupe key in one transaction.

        A duplicate delivery finds its key taken and does nothing.
        """

        def once(session: Session) -> T | None:
            if not repo.claim_inbound(session, inbound.dedupe_key):
                log.info("duplicate inbound %s ignored", inbound.dedupe_key)
                return None
            return work(session)

        return await self.db.write_async(once)


def find_plan(catalog: PlanCatalog, text: str) -> Plan:
    """The plan a person named by id or by an unambiguous part of its name."""
    wanted = text.strip().lstrip("#").lower()
    if wanted.isdigit():
        matches = [plan for plan in catalog.plans if plan.id == int(wanted)]
    else:
        exact = [plan for plan in catalog.plans if plan.name.lower() == wanted]
        matches = exact or [
            plan for plan in catalog.plans if wanted in plan.name.lower()
        ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InvalidInput(
            f"There is no plan {text!r}. "
            "Type `plans` to see them, then e.g. `subscribe 10`."
        )
    names = ", ".join(f"{plan.id} ({plan.name})" for plan in matches[:5])
    raise InvalidInput(f"{text!r} matches several plans: {names}. Use the plan id.")


def _existing(session: Session, request_id: int) -> PaymentRequest:
    request = repo.get_request(session, request_id)
    if request is None:
        raise InvalidInput(
            f"There is no request #{request_id}. Type `requests` to list them."
        )
    return request


def _summary(request: PaymentRequest) -> str:
    return cards.subject(request) + (f": {request.note}" if request.note else "")


def _already_decided(session: Session, request: PaymentRequest) -> str:
    """Why a vote comes too late, naming who decided."""
    state = State(request.state)
    word = "approved" if state in APPROVED_STATES else DESCRIPTIONS[state].lower()
    voters = [v.voter_name for v in repo.votes_for(session, request.id or 0)]
    if state in APPROVED_STATES and not voters:
        voters = ["the auto-approve limit"]
    by = f" (by {', '.join(voters)})" if voters else ""
    return f"#{request.id} is already decided: {word}{by}."


def _quorum(request: PaymentRequest) -> str:
    required = request.approvals_required
    return f"quorum reached ({required} of {required}), rules {request.policy_digest}"


def _one_line(request: PaymentRequest) -> str:
    state = DESCRIPTIONS[State(request.state)].lower()
    return (
        f"#{request.id} {cards.subject(request)} by {request.requester_name}: {state}"
    )


def _reason(reason: str) -> str:
    return f" Reason: {reason}" if reason else ""
