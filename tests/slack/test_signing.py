"""Only requests signed by Slack, within five minutes, reach the engine."""

from __future__ import annotations

import json
import time

from tests.slack.steps import rows
from tests.slack.world import World


def nothing_happened(world: World) -> bool:
    sent = [c for c in world.fake.calls if c.method != "auth.test"]
    return not sent and rows(world, "processed_inbound") == 0


async def test_a_bad_signature_is_refused(world: World) -> None:
    response = await world.slack.command("/topup", "50", secret="not-the-secret")

    assert response.status_code == 401
    assert nothing_happened(world)


async def test_a_six_minute_old_request_is_refused(world: World) -> None:
    response = await world.slack.command(
        "/topup", "50", timestamp=int(time.time()) - 6 * 60
    )

    assert response.status_code == 401
    assert nothing_happened(world)


async def test_url_verification_is_answered(world: World) -> None:
    body = {
        "token": "legacy",
        "challenge": "3eZbrw1aBm2rZgRNFdxV",
        "type": "url_verification",
    }

    response = await world.slack.post(json.dumps(body).encode(), "application/json")

    assert response.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV" in response.text


async def test_a_timestamp_that_is_not_a_number_is_refused(world: World) -> None:
    response = await world.slack.post(
        b"command=%2Ftopup&text=50",
        "application/x-www-form-urlencoded",
        headers={"X-Slack-Request-Timestamp": "abc"},
    )

    assert response.status_code == 401
    assert nothing_happened(world)


async def test_a_signed_payload_that_is_not_json_changes_nothing(
    world: World,
) -> None:
    response = await world.slack.post(
        b"payload=%7Bnot+json", "application/x-www-form-urlencoded"
    )

    assert response.status_code == 400
    assert nothing_happened(world)
