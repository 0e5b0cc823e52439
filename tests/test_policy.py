"""The policy file and the rules, without a database or a chat."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import policy as rules
from bot.errors import ConfigError, InvalidInput
from bot.policy import Policy, Spending
from bot.policy_file import load_policy, parse_policy
from storage.models import PaymentRequest, Vote
from tests.support.harness import make_settings
from tests.support.sandbox import RunningSandbox

TEAM = """\
payer = "finance"

[people]
alice = ["slack:UALICE", "telegram:1001"]
bob = ["slack:UBOB", "telegram:1002"]
carol = "slack:UCAROL"
dave = ["telegram:1004"]
finance = ["slack:UFIN"]

[approval]
requesters = "anyone"
approvers = ["alice", "bob", "carol", "dave"]
required = 2
deny = "ends"
timeout = "24h"
remind_every = "4h"

[limits]
auto_approve_max = 25
topup_max = 1000
daily_budget = 500
monthly_budget = 2000.50
over_budget = "refuse"

[low_balance]
below = 20
topup = 100
chat = "slack:CTEAM"
check_every = "15m"
"""

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)


def team(**changes: object) -> Policy:
    return replace(parse_policy(TEAM, "team.toml"), **changes)  # type: ignore[arg-type]


def request(requester: str = "slack:UALICE", **values: object) -> PaymentRequest:
    fields: dict[str, object] = {
        "id": 7,
        "ref": "r7",
        "kind": "topup",
        "state": "awaiting_approval",
        "platform": "slack",
        "chat_id": "CTEAM",
        "requester_id": requester,
        "requester_name": "someone",
        "amount_cents": 5000,
        "approvals_required": 2,
    }
    fields.update(values)
    return PaymentRequest(**fields)  # type: ignore[arg-type]


def votes(*pairs: tuple[str, str]) -> list[Vote]:
    return [
        Vote(request_id=7, voter_id=person, voter_name=person, decision=decision)
        for person, decision in pairs
    ]


def test_the_example_file_reads_as_written() -> None:
    policy = parse_policy(TEAM, "team.toml")
    assert policy.approvers == ("alice", "bob", "carol", "dave")
    assert policy.requesters is None
    assert policy.approvals_required == 2
    assert policy.auto_approve_max_cents == 2500
    assert policy.monthly_budget_cents == 200050
    assert policy.approval_timeout == timedelta(hours=24)
    assert policy.remind_every == timedelta(hours=4)
    assert policy.payer == "slack:UFIN"
    assert policy.low_balance is not None
    assert policy.low_balance.chat == "slack:CTEAM"
    assert policy.low_balance.check_every == timedelta(minutes=15)


BAD_FILES = [
    ("[approval\n", "team.toml line 1: "),
    ("payer = \n", "team.toml line 1: "),
    ("colour = 'blue'\n" + TEAM, "line 1: colour: unknown setting"),
    (
        TEAM.replace("required = 2", "requird = 2"),
        "line 13: approval.requird: unknown key",
    ),
    (
        TEAM.replace("required = 2", "required = 5"),
        "line 13: approval.required: 5 exceeds",
    ),
    (TEAM.replace("required = 2", "required = 0"), "from 1 to 50"),
    (TEAM.replace('"dave"]\nrequired', '"erin"]\nrequired'), "'erin' is not listed"),
    (TEAM.replace('dave = ["telegram:1004"]', 'dave = ["irc:dave"]'), "line 7:"),
    (TEAM.replace('dave = ["telegram:1004"]', 'dave = "slack:UBOB"'), "also belongs"),
    (
        TEAM.replace("topup_max = 1000", "topup_max = 10.005"),
        "line 20: limits.topup_max",
    ),
    (TEAM.replace("daily_budget = 500", "daily_budget = -1"), "zero or more"),
    (TEAM.replace('timeout = "24h"', "timeout = 24"), 'like "30m"'),
    (TEAM.replace('deny = "ends"', 'deny = "maybe"'), "approval.deny"),
    (TEAM.replace('"refuse"', '"ask_nicely"'), "limits.over_budget"),
    (TEAM.replace('chat = "slack:CTEAM"\n', ""), "low_balance.chat: missing"),
    (TEAM.replace('payer = "finance"', 'payer = "nobody"'), "line 1: payer"),
    (TEAM.replace('["alice", "bob", "carol", "dave"]', '"bob"'), "a list of people"),
]


@pytest.mark.parametrize(("text", "error"), BAD_FILES)
def test_a_bad_file_names_the_line_and_the_reason(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_policy(text, "team.toml")
    assert error in str(caught.value)


def test_without_a_file_the_simple_settings_are_the_rules(
    sandbox: RunningSandbox, sqlite_url: str
) -> None:
    settings = make_settings(
        sandbox,
        sqlite_url,
        paybot_approvers="slack:U1,telegram:2",
        paybot_approvals_required=2,
        paybot_auto_approve_max="25",
        paybot_topup_max="300",
        paybot_payer="slack:UFIN",
    )
    policy = load_policy(settings)
    assert policy.approvers == ("slack:U1", "telegram:2")
    assert policy.approvals_required == 2
    assert policy.auto_approve_max_cents == 2500
    assert policy.topup_max_cents == 30000
    assert policy.payer == "slack:UFIN"
    assert policy.daily_budget_cents is None
    assert rules.is_approver(policy, "telegram:2")


def test_a_missing_file_names_the_variable(
    sandbox: RunningSandbox, sqlite_url: str, tmp_path: object
) -> None:
    settings = make_settings(
        sandbox, sqlite_url, paybot_policy_file=f"{tmp_path}/nope.toml"
    )
    with pytest.raises(ConfigError, match="PAYBOT_POLICY_FILE: cannot read"):
        load_policy(settings)


# (who votes, on whose request, policy changes, refusal or None)
VOTERS = [
    ("slack:UBOB", "slack:UALICE", {}, None),
    ("telegram:1002", "slack:UALICE", {}, None),
    ("telegram:1001", "slack:UALICE", {}, "your own request"),
    ("slack:UALICE", "telegram:1001", {}, "your own request"),
    ("telegram:1001", "slack:UALICE", {"allow_self_approval": True}, None),
    ("slack:UFIN", "slack:UALICE", {}, "Only approvers can vote on #7"),
    ("telegram:9999", "slack:UALICE", {}, "the policy file"),
]


@pytest.mark.parametrize(("voter", "requester", "changes", "refusal"), VOTERS)
def test_who_may_vote(
    voter: str, requester: str, changes: dict[str, object], refusal: str | None
) -> None:
    answer = rules.vote_refusal(team(**changes), request(requester), voter)
    if refusal is None:
        assert answer is None
    else:
        assert answer is not None and refusal in answer


def test_who_may_request() -> None:
    only_bob = team(requesters=("bob",))
    assert rules.request_refusal(only_bob, "telegram:1002") is None
    assert "bob" in (rules.request_refusal(only_bob, "slack:UALICE") or "")
    assert rules.request_refusal(team(), "slack:USTRANGER") is None


# (votes as (person, decision), deny ends?, approvals required, outcome)
TALLIES = [
    ([], True, 2, "waiting"),
    ([("bob", "approve")], True, 2, "waiting"),
    ([("bob", "approve"), ("carol", "approve")], True, 2, "approved"),
    ([("bob", "approve"), ("carol", "deny")], True, 2, "denied"),
    ([("carol", "deny")], False, 2, "waiting"),
    ([("carol", "deny"), ("bob", "deny")], False, 2, "denied"),
    (
        [("carol", "deny"), ("bob", "approve"), ("dave", "approve")],
        False,
        2,
        "approved",
    ),
    ([("bob", "approve")], True, 1, "approved"),
]


@pytest.mark.parametrize(("cast", "deny_ends", "required", "outcome"), TALLIES)
def test_how_votes_add_up(
    cast: list[tuple[str, str]], deny_ends: bool, required: int, outcome: str
) -> None:
    # alice asked; bob, carol and dave can vote: with "counts", two denials
    # leave one possible approval, short of two.
    asked = request(deny_ends=deny_ends, approvals_required=required)
    assert rules.tally(team(), asked, votes(*cast)) == outcome


NO_BUDGETS = {"daily_budget_cents": None, "monthly_budget_cents": None}
EXTRA = {"over_budget": "extra_approval"}
# (kind, dollars, cents spent today and this month, changes, expected or error)
# where expected is (approvals required, auto-approved, over budget, left)
TERMS = [
    ("topup", 20, (0, 0), {}, (2, True, False, 50000)),
    ("topup", 30, (0, 0), {}, (2, False, False, 50000)),
    ("subscription", 20, (0, 0), {}, (2, False, False, 50000)),
    ("topup", 450, (10000, 10000), {}, "$400.00 left today"),
    ("topup", 100, (0, 195000), {}, "$50.50 left this month"),
    ("topup", 20, (49000, 49000), {}, "$10.00 left today"),
    ("topup", 450, (10000, 10000), EXTRA, (3, False, True, 40000)),
    ("topup", 20, (0, 0), NO_BUDGETS, (2, True, False, None)),
]


@pytest.mark.parametrize(("kind", "dollars", "spent", "changes", "expected"), TERMS)
def test_what_a_new_request_needs(
    kind: str,
    dollars: int,
    spent: tuple[int, int],
    changes: dict[str, object],
    expected: tuple[int, bool, bool, int | None] | str,
) -> None:
    spending = Spending(today_cents=spent[0], month_cents=spent[1])
    policy = team(**changes)
    if isinstance(expected, str):
        with pytest.raises(InvalidInput, match=expected.replace("$", r"\$")):
            rules.terms_for(policy, kind, dollars * 100, spending, NOW)
        return
    terms = rules.terms_for(policy, kind, dollars * 100, spending, NOW)
    assert (
        terms.approvals_required,
        terms.auto_approve,
        terms.over_budget,
        terms.budget_left_cents,
    ) == expected
    assert terms.approval_expires_at == NOW + timedelta(hours=24)


def test_budget_periods_are_utc_days_and_months() -> None:
    day, month = rules.period_starts(NOW)
    assert day == datetime(2026, 3, 14, tzinfo=UTC)
    assert month == datetime(2026, 3, 1, tzinfo=UTC)


def test_the_rules_are_told_in_plain_words() -> None:
    text = rules.describe(team())
    for phrase in [
        "Rules from team.toml (version ",
        "Anyone in an allowed chat may ask",
        "Approvers: alice (slack:UALICE, telegram:1001), bob",
        "needs 2 approvals from different people",
        "cannot approve their own request, from any of their accounts",
        "One deny ends a request.",
        "Top-ups up to $25.00 need no vote. The largest top-up is $1,000.00.",
        "Budget: $500.00 a day and $2,000.50 a month",
        "a request over budget is refused",
        "waits 1 day for approval, then expires",
        "reminded every 4 hours",
        "Payment links go privately to finance (slack:UFIN).",
        "checked every 15 minutes; below $20.00 paybot asks for a $100.00 top-up",
    ]:
        assert phrase in text


def test_a_change_of_rules_changes_the_version() -> None:
    assert rules.rules_digest(team()) == rules.rules_digest(team())
    assert rules.rules_digest(team()) != rules.rules_digest(team(approvals_required=3))


def test_the_readme_example_is_a_valid_file() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    section = readme.split("## Team rules (policy file)")[1]
    example = section.split("```toml\n")[1].split("```")[0]
    policy = parse_policy(example, "README")
    assert policy.approvers == ("bob", "carol", "dave")
    assert policy.low_balance is not None
