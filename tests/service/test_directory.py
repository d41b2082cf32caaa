"""The unit directory in routing's database (SQLite and PostgreSQL): seeded once, idempotently,
and served by the directory API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from routing.main import create_app
from routing.models import unit_changes, units
from routing.units import seed


@pytest.fixture
async def routing(
    database_url: str, topic_prefix: str, bootstrap_servers: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    monkeypatch.setenv("XINFANG_ROUTING_DATABASE_URL", database_url)
    monkeypatch.setenv("XINFANG_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("XINFANG_KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers)
    app = create_app()
    async with app.router.lifespan_context(app):  # the first start seeds the directory
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
            yield client, app


async def test_first_start_seeds_every_unit_once(routing) -> None:  # type: ignore[no-untyped-def]
    _client, app = routing
    db = app.state.db
    async with db.sessions() as s:
        counts = dict(
            (await s.execute(select(units.c.level, func.count()).group_by(units.c.level))).all()
        )
    assert counts["county"] >= 2847 * 20 and counts["township"] >= 38_000
    assert sum(counts.values()) > 100_000
    again = await seed(db)  # a second start, or `xinfang seed`
    assert again.inserted == 0
    async with db.sessions() as s:
        seeds = (
            await s.execute(
                select(func.count())
                .select_from(unit_changes)
                .where(unit_changes.c.action == "seed")
            )
        ).scalar_one()
    assert seeds == 1  # audited once, when it changed something


async def test_the_api_finds_shijingshan_and_its_units_by_function(routing) -> None:  # type: ignore[no-untyped-def]
    client, _app = routing
    region = (await client.get("/api/v1/regions/110107")).json()
    assert region["name"] == "石景山区" and region["level"] == "county"
    assert region["parent"] == {"code": "110000", "name": "北京市"}
    assert any(c["code"] == "110107011" for c in region["children"])
    housing = (
        await client.get("/api/v1/units", params={"region_code": "110107", "function": "housing"})
    ).json()
    assert [u["name"] for u in housing["items"]] == ["石景山区住房和城乡建设委员会"]
    unit = (await client.get("/api/v1/units/110107011:township")).json()
    assert unit["name"] == "鲁谷街道办事处" and unit["level"] == "township"
    named = (
        await client.get(
            "/api/v1/units",
            params={"name": "人力资源和社会保障厅", "level": "province", "limit": 100},
        )
    ).json()
    assert "辽宁省人力资源和社会保障厅" in {u["name"] for u in named["items"]}
    page = (await client.get("/api/v1/units", params={"region_code": "110107", "limit": 5})).json()
    rest = (
        await client.get(
            "/api/v1/units",
            params={"region_code": "110107", "limit": 100, "cursor": page["next_cursor"]},
        )
    ).json()
    assert len(page["items"]) == 5 and len(rest["items"]) >= 15
    assert not {u["id"] for u in page["items"]} & {u["id"] for u in rest["items"]}
    assert (await client.get("/api/v1/units/999999:housing")).status_code == 404
    gone = await client.get("/api/v1/regions/500112")
    assert gone.status_code == 404 and "500157" in gone.json()["detail"]


async def test_operators_add_rename_and_retire_units_and_routing_follows(routing) -> None:  # type: ignore[no-untyped-def]
    from routing.handlers import Jurisdiction
    from routing.jurisdiction import decide
    from shared.auth import mint_token
    from shared.settings import CommonSettings

    client, app = routing
    replica = Jurisdiction()  # another routing process on the same database
    await replica.load(app.state.db)
    assert not await replica.refresh(app.state.db)
    op = {"Authorization": "Bearer " + mint_token(CommonSettings(), role="operator", sub="op-9")}
    clerk = {
        "Authorization": "Bearer "
        + mint_token(CommonSettings(), role="unit", sub="c", unit_id="110107:hrss")
    }
    body = {
        "name": "石景山区劳动保障监察大队",
        "region_code": "110107",
        "function": "hrss",
        "reason": "机构改革：劳动监察职能整合",
    }
    assert (await client.post("/api/v1/units", json=body, headers=clerk)).status_code == 403
    created = await client.post("/api/v1/units", json=body, headers=op)
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    assert new_id == "110107:hrss:2"
    renamed = await client.patch(
        f"/api/v1/units/{new_id}",
        headers=op,
        json={"name": "石景山区劳动保障监察总队", "reason": "区编办更名批复"},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "石景山区劳动保障监察总队"
    retired = await client.post(
        "/api/v1/units/110107:hrss/retire",
        headers=op,
        json={"successor_id": new_id, "reason": "职能合并撤销"},
    )
    assert retired.json()["status"] == "retired"
    assert retired.json()["successor_id"] == new_id
    again = await client.post(
        "/api/v1/units/110107:hrss/retire",
        headers=op,
        json={"successor_id": new_id, "reason": "职能合并撤销"},
    )
    assert again.status_code == 409
    # this process reloads in the background after each edit; refresh waits for that reload
    await app.state.jurisdiction.refresh(app.state.db)
    decision = decide(
        region_code="110107",
        category="wage_arrears",
        kind="grievance",
        accused_unit_id=None,
        headcount=1,
        text="拖欠工资",
        directory=app.state.jurisdiction.directory,
    )
    assert decision.lead_unit_id == new_id  # Art. 24: the successor handles it
    # the other replica follows the edits on its next refresh, and only then reloads
    assert await replica.refresh(app.state.db)
    assert replica.directory.get("110107:hrss") is None
    assert replica.directory.lineage("110107:hrss")[-1] == new_id
    assert not await replica.refresh(app.state.db)
    history = (await client.get("/api/v1/units/110107:hrss/changes", headers=op)).json()
    assert [(c["action"], c["actor"], c["reason"]) for c in history["changes"]] == [
        ("retire", "op-9", "职能合并撤销")
    ]
    added = (await client.get(f"/api/v1/units/{new_id}/changes", headers=op)).json()
    assert [c["action"] for c in added["changes"]] == ["add", "rename"]
