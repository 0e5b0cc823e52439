"""The team's approval rules, and the decisions taken by them.

A ``Policy`` comes from the TOML file named by PAYBOT_POLICY_FILE (see
``bot.policy_file``) or, without one, from the simple PAYBOT_* settings. The
engine asks the functions here who may request, who may vote, what a new
request needs and how its votes add up; storage and messages stay with it.

People are keyed by their name in the file; an account nobody claimed is its
own person, keyed by ``platform:user_id``. Votes are stored per person, so
one person's Slack and Telegram accounts count once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.errors import InvalidInput
from bot.money import format_usd
from bot.settings import Settings
from storage.models import PaymentRequest, Vote

Tally = Literal["approved", "denied", "waiting"]


@dataclass(frozen=True)
class Person:
    name: str
    accounts: tuple[str, ...]


@dataclass(frozen=True)
class LowBalance:
    """Below ``below_cents`` paybot asks for a top-up of ``topup_cents``."""

    below_cents: int
    topup_cents: int
    chat: str  # "platform:chat_id" where the request is posted
    check_every: timedelta


@dataclass(frozen=True)
class Policy:
    people: tuple[Person, ...] = ()
    approvers: tuple[str, ...] = ()  # person keys
    requesters: tuple[str, ...] | None = None  # person keys; None: anyone
    approvals_required: int = 1
    allow_self_approval: bool = False
    deny_ends_request: bool = True
    auto_approve_max_cents: int = 0
    topup_max_cents: int = 100_000
    daily_budget_cents: int | None = None
    monthly_budget_cents: int | None = None
    over_budget: Literal["refuse", "extra_approval"] = "refuse"
    approval_timeout: timedelta | None = None
    remind_every: timedelta | None = None
    payer: str | None = None  # an account
    low_balance: LowBalance | None = None
    source: str = "environment"


@dataclass(frozen=True)
class Spending:
    """Money in requests that are open or paid, per budget period."""

    today_cents: int
    month_cents: int


@dataclass(frozen=True)
class Terms:
    """What a new request needs, fixed when it is made."""

    approvals_required: int
    auto_approve: bool
    over_budget: bool
    budget_left_cents: int | None
    approval_expires_at: datetime | None


def from_settings(settings: Settings) -> Policy:
    """The rules of the simple PAYBOT_* settings, when there is no file."""
    return Policy(
        approvers=tuple(settings.paybot_approvers),
        approvals_required=settings.paybot_approvals_required,
        allow_self_approval=settings.paybot_allow_self_approval,
        auto_approve_max_cents=settings.auto_approve_max_cents,
        topup_max_cents=settings.topup_max_cents,
        payer=settings.paybot_payer,
    )


# -- people -------------------------------------------------------------------


def person_of(policy: Policy, account: str) -> str:
    """The person behind ``platform:user_id``."""
    for person in policy.people:
        if account in person.accounts:
            return person.name
    return account


def is_approver(policy: Policy, account: str) -> bool:
    return person_of(policy, account) in policy.approvers


def request_refusal(policy: Policy, account: str) -> str | None:
    """Why this account may not ask for money, or None when it may."""
    if policy.requesters is None or person_of(policy, account) in policy.requesters:
        return None
    names = ", ".join(policy.requesters) or "nobody"
    return f"Only these people may make payment requests: {names}."


def vote_refusal(policy: Policy, request: PaymentRequest, account: str) -> str | None:
    """Why this account may not vote on ``request``, or None when it may."""
    if not is_approver(policy, account):
        where = (
            "PAYBOT_APPROVERS" if policy.source == "environment" else "the policy file"
        )
        return (
            f"Only approvers can vote on #{request.id}. "
            f"Ask one of them, or the operator to add you to {where}."
        )
    same = person_of(policy, account) == person_of(policy, request.requester_id)
    if same and not policy.allow_self_approval:
        return "You cannot approve or deny your own request."
    return None


# -- new requests -------------------------------------------------------------


def period_starts(now: datetime) -> tuple[datetime, datetime]:
    """Start of the UTC day and of the UTC month that contain ``now``."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day.replace(day=1)


def budget_left(policy: Policy, spending: Spending) -> tuple[int, str] | None:
    """The tighter of the budgets: cents left and which budget, or None."""
    left: list[tuple[int, str]] = []
    if policy.daily_budget_cents is not None:
        left.append((policy.daily_budget_cents - spending.today_cents, "today"))
    if policy.monthly_budget_cents is not None:
        left.append((policy.monthly_budget_cents - spending.month_cents, "this month"))
    return min(left) if left else None


def terms_for(
    policy: Policy, kind: str, amount_cents: int, spending: Spending, now: datetime
) -> Terms:
    """The approvals, budget and deadline of a new request.

    Raises InvalidInput when the request is over budget and the rules refuse
    such requests.
    """
    budget = budget_left(policy, spending)
    over = budget is not None and amount_cents > budget[0]
    if budget is not None and over and policy.over_budget == "refuse":
        left, period = max(budget[0], 0), budget[1]
        raise InvalidInput(
            f"That is over the team budget: {format_usd(left)} left {period}. "
            "Ask for less, or ask the operator to raise the budget."
        )
    timeout = policy.approval_timeout
    return Terms(
        approvals_required=policy.approvals_required + (1 if over else 0),
        auto_approve=(
            kind == "topup"
            and not over
            and amount_cents <= policy.auto_approve_max_cents
        ),
        over_budget=over,
        budget_left_cents=None if budget is None else budget[0],
        approval_expires_at=now + timeout if timeout else None,
    )


def rules_snapshot(policy: Policy) -> dict[str, object]:
    """The rules a request is decided under, as plain JSON values."""

    def seconds(value: timedelta | None) -> int | None:
        return int(value.total_seconds()) if value else None

    return {
        "source": policy.source,
        "approvers": list(policy.approvers),
        "approvals_required": policy.approvals_required,
        "allow_self_approval": policy.allow_self_approval,
        "deny_ends_request": policy.deny_ends_request,
        "auto_approve_max_cents": policy.auto_approve_max_cents,
        "topup_max_cents": policy.topup_max_cents,
        "daily_budget_cents": policy.daily_budget_cents,
        "monthly_budget_cents": policy.monthly_budget_cents,
        "over_budget": policy.over_budget,
        "approval_timeout_seconds": seconds(policy.approval_timeout),
        "payer": policy.payer,
    }


def rules_json(policy: Policy) -> str:
    return json.dumps(rules_snapshot(policy), sort_keys=True, separators=(",", ":"))


def rules_digest(policy: Policy) -> str:
    """A short fingerprint of the rules, shown on cards and in the audit trail."""
    return hashlib.sha256(rules_json(policy).encode()).hexdigest()[:12]


# -- votes --------------------------------------------------------------------


def tally(policy: Policy, request: PaymentRequest, votes: Sequence[Vote]) -> Tally:
    """Where a request stands after its votes.

    A deny ends the request when its rules say so; otherwise only once too
    many approvers denied for the quorum to be reachable.
    """
    approvals = {vote.voter_id for vote in votes if vote.decision == "approve"}
    denials = {vote.voter_id for vote in votes if vote.decision == "deny"}
    if denials and request.deny_ends:
        return "denied"
    if len(approvals) >= request.approvals_required:
        return "approved"
    if denials and _reachable(policy, request, approvals | denials) < (
        request.approvals_required - len(approvals)
    ):
        return "denied"
    return "waiting"


def _reachable(policy: Policy, request: PaymentRequest, voted: set[str]) -> int:
    """How many approvers could still approve."""
    requester = person_of(policy, request.requester_id)
    return sum(
        1
        for person in policy.approvers
        if person not in voted and (person != requester or policy.allow_self_approval)
    )


# -- plain words ----------------------------------------------------------------


def describe(policy: Policy) -> str:
    """The rules in plain words, one per line."""
    lines = [f"Rules from {policy.source} (version {rules_digest(policy)}):"]
    lines += [f"- {line}" for line in _rule_lines(policy)]
    return "\n".join(lines)


def _rule_lines(policy: Policy) -> list[str]:
    return [
        _who_requests(policy),
        _who_approves(policy),
        _quorum(policy),
        _self_approval(policy),
        _denials(policy),
        _limits(policy),
        _budgets(policy),
        _waiting(policy),
        _payer(policy),
        _low_balance(policy),
    ]


def _named(policy: Policy, key: str) -> str:
    for person in policy.people:
        if person.name == key:
            return f"{key} ({', '.join(person.accounts)})"
    return key


def _who_requests(policy: Policy) -> str:
    if policy.requesters is None:
        return "Anyone in an allowed chat may ask for a top-up or a subscription."
    names = ", ".join(_named(policy, key) for key in policy.requesters)
    return f"Only these people may ask for money: {names or 'nobody'}."


def _who_approves(policy: Policy) -> str:
    names = ", ".join(_named(policy, key) for key in policy.approvers)
    return f"Approvers: {names}." if names else "Nobody may approve: no approvers."


def _quorum(policy: Policy) -> str:
    count = policy.approvals_required
    votes = "approval" if count == 1 else "approvals from different people"
    return (
        f"A request needs {count} {votes}; each person's vote counts once, "
        "whichever of their accounts they use."
    )


def _self_approval(policy: Policy) -> str:
    if policy.allow_self_approval:
        return "A requester may approve their own request."
    return "A requester cannot approve their own request, from any of their accounts."


def _denials(policy: Policy) -> str:
    if policy.deny_ends_request:
        return "One deny ends a request."
    return "A request is denied once too many approvers deny for it to pass."


def _limits(policy: Policy) -> str:
    largest = f"The largest top-up is {format_usd(policy.topup_max_cents)}."
    if policy.auto_approve_max_cents <= 0:
        return "Every request needs approval. " + largest
    auto = format_usd(policy.auto_approve_max_cents)
    return f"Top-ups up to {auto} need no vote. " + largest


def _budgets(policy: Policy) -> str:
    budgets = []
    if policy.daily_budget_cents is not None:
        budgets.append(f"{format_usd(policy.daily_budget_cents)} a day")
    if policy.monthly_budget_cents is not None:
        budgets.append(f"{format_usd(policy.monthly_budget_cents)} a month")
    if not budgets:
        return "There is no budget limit."
    over = (
        "is refused" if policy.over_budget == "refuse" else "needs one extra approval"
    )
    return (
        f"Budget: {' and '.join(budgets)} (UTC), counting open and paid requests; "
        f"a request over budget {over}."
    )


def _waiting(policy: Policy) -> str:
    if policy.approval_timeout is None:
        text = "A request waits for approval until someone decides it."
    else:
        wait = plain_duration(policy.approval_timeout)
        text = f"A request waits {wait} for approval, then expires."
    if policy.remind_every is not None:
        text += f" Approvers are reminded every {plain_duration(policy.remind_every)}."
    return text


def _payer(policy: Policy) -> str:
    if policy.payer is None:
        return "Payment links are posted in the request's thread."
    payer = _named(policy, person_of(policy, policy.payer))
    return f"Payment links go privately to {payer}."


def _low_balance(policy: Policy) -> str:
    low = policy.low_balance
    if low is None:
        return "The wallet balance is not watched."
    return (
        f"The wallet balance is checked every {plain_duration(low.check_every)}; "
        f"below {format_usd(low.below_cents)} paybot asks for a "
        f"{format_usd(low.topup_cents)} top-up in {low.chat}."
    )


def plain_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
