"""The petitioner's identity never appears in clear in events or logs (ARCHITECTURE §3).

Named to run last: it scans every event on every topic and every log line of the whole
end-to-end run, after all the other tests have submitted their petitions."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from services.launcher import Suite
from tests.e2e.conftest import petition, read_events, token, wait_for

pytestmark = pytest.mark.e2e

NAME, ID_NUMBER, PHONE, ADDRESS = "欧阳明华", "11010519491231002X", "13987654321", "幸福路88号"


def test_identity_stays_out_of_events_and_logs(api: httpx.Client, suite: Suite) -> None:
    owner = token("petitioner", "privacy-user")
    body = petition(
        title=f"{NAME}反映工资问题",
        content=f"我叫{NAME}，身份证{ID_NUMBER}，电话{PHONE}，住{ADDRESS}。同事电话13700001111。",
        petitioner={
            "name": NAME,
            "id_number": ID_NUMBER,
            "phone": PHONE,
            "address": f"北京市石景山区{ADDRESS}",
        },
    )
    created = api.post("/api/v1/petitions", json=body, headers=owner)
    assert created.status_code == 201, created.text
    number = created.json()["tracking_number"]
    case = wait_for(
        lambda: (
            (r := api.get(f"/api/v1/cases/{number}", headers=owner).json())["status"] == "routed"
            and r
        )
    )
    assert NAME not in case["title"] and case["petitioner_name"] == "欧***"

    settings = suite.settings()
    events = asyncio.run(
        read_events(
            settings.kafka_bootstrap_servers,
            [settings.topic(s) for s in ("intake", "routing", "tracking")],
        )
    )
    ours = [e for e in events if number in e]
    everything = events + asyncio.run(
        read_events(settings.kafka_bootstrap_servers, [settings.topic("evaluation")])
    )
    assert len(ours) >= 3  # submitted, routed, registered, ...
    submitted = json.loads(next(e for e in ours if "intake.petition.submitted" in e))
    assert submitted["data"]["petitioner_masked_name"] == "欧***"
    assert submitted["data"]["id_number_hmac"]
    assert "139****4321" in submitted["data"]["content"]
    assert "137****1111" in submitted["data"]["content"]
    logs = "".join(p.read_text(errors="replace") for p in (suite.var_dir / "logs").glob("*.log"))
    # this test's petitioner, and the one every other end-to-end test submits as
    secrets = (
        NAME,
        ID_NUMBER,
        PHONE,
        ADDRESS,
        "13700001111",
        "张三",
        "13812345678",
        "11010519491231002X",
        "鲁谷路1号",
    )
    assert len(everything) > 20  # the whole run, not just this test
    texts = everything + [
        json.dumps(json.loads(e), ensure_ascii=False) for e in everything if e.startswith("{")
    ]  # the DLQ test's garbage is not JSON
    for secret in secrets:
        assert not [t for t in texts if secret in t], f"{secret} found in an event"
        assert secret not in logs, f"{secret} found in a log"
