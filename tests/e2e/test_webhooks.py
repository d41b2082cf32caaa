"""Webhooks through the gateway: a unit's agency system registers a receiver, a petition is
routed to the unit, and the receiver gets ``tracking.case.routed.v1``, signed."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import petition, token, wait_for
from tests.webhook_receiver import Receiver
from tracking import webhooks

pytestmark = pytest.mark.e2e

UNIT = "110107:hrss"
SECRET = "hrss-agency-system-secret-0001"
ROUTED = "tracking.case.routed.v1"


def test_a_unit_receives_its_routed_case_signed(api: httpx.Client) -> None:
    clerk = token("unit", "hrss-it", unit_id=UNIT)
    base = f"/api/v1/units/{UNIT}/webhooks"
    receiver = Receiver(SECRET)
    webhook_id = None
    try:
        created = api.post(
            base,
            json={"url": receiver.url, "secret": SECRET, "event_types": [ROUTED]},
            headers=clerk,
        )
        assert created.status_code == 201, created.text
        assert SECRET not in created.text
        webhook_id = created.json()["id"]
        assert created.headers["location"] == f"{base}/{webhook_id}"
        # Another unit may not read them
        stranger = token("unit", "other-it", unit_id="110108:hrss")
        assert api.get(base, headers=stranger).status_code == 403

        owner = token("petitioner", "webhook-owner")
        submitted = api.post("/api/v1/petitions", json=petition("110107011"), headers=owner)
        assert submitted.status_code == 201, submitted.text
        number = submitted.json()["tracking_number"]

        def ours() -> list:  # type: ignore[type-arg]
            return [
                r for r in receiver.received if r.event["data"].get("tracking_number") == number
            ]

        [got] = wait_for(ours, timeout=60)
        assert got.verified, got.headers
        assert got.headers[webhooks.EVENT_HEADER] == ROUTED
        assert got.event["type"] == ROUTED and got.event["data"]["unit_id"] == UNIT
        assert got.event["subject"] == got.event["data"]["case_id"]

        def delivered() -> dict | None:  # type: ignore[type-arg]
            page = api.get(f"{base}/{webhook_id}/deliveries", headers=clerk).json()
            mine = [d for d in page["items"] if d["id"] == got.headers[webhooks.DELIVERY_HEADER]]
            return mine[0] if mine and mine[0]["status"] == "delivered" else None

        assert wait_for(delivered, timeout=10)["attempts"] == 1
    finally:
        if webhook_id:  # the suite is shared: leave no webhook pointing at a closed port
            api.delete(f"{base}/{webhook_id}", headers=clerk)
        receiver.close()
