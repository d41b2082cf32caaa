"""The load of the fault suite: petitions submitted through the gateway by clients that behave
as the API asks (an Idempotency-Key per petition; a 503 retried after its Retry-After; a
dropped connection retried with the same key), with a fault injected while it runs, and the
checks that every petition answered 201 ends as exactly one case with the expected timeline."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import IN_CI
from tests.e2e.conftest import petition

# What petitioners write about, mixed anew for each petition: thousands of copies of one text
# in one county would be one collective petition (a mass incident, matched petition by
# petition), not the everyday load this suite means to drive.
PHRASES = (
    "建筑公司拖欠工资三个月",
    "包工头失联无法联系",
    "劳动合同没有签订",
    "社保一直没有缴纳",
    "加班费从未发放",
    "工伤认定迟迟不办",
    "小区物业乱收费",
    "电梯长期故障无人修",
    "噪音扰民影响休息",
    "道路破损积水严重",
    "路灯不亮存在隐患",
    "垃圾清运不及时",
    "学校食堂卫生堪忧",
    "医院收费不透明",
    "低保申请被拒",
    "养老金发放延迟",
    "房屋征收补偿不公",
    "宅基地纠纷未解决",
    "农村土地流转违规",
    "村务账目不公开",
    "企业排污气味刺鼻",
    "河道被倾倒垃圾",
    "违章建筑占用通道",
    "商户占道经营",
    "公交线路被取消",
    "停车收费不合理",
    "供暖温度不达标",
    "自来水水质发黄",
    "网购退款被拒",
    "培训机构卷款跑路",
    "预付卡无法退费",
    "装修质量严重问题",
    "执法人员态度粗暴",
    "办事窗口推诿扯皮",
    "证件办理要求重复材料",
    "补贴资金被截留",
    "拆迁过程中强行断水",
    "邻居私搭乱建",
    "夜间施工不停",
    "农产品收购压价",
)


def varied_content(rng: random.Random) -> str:
    picked = rng.sample(PHRASES, 8)
    return "，".join(picked) + f"。编号{rng.getrandbits(64):x}，请有关部门尽快处理。"


# Petitions per scenario. The issue asked for 2,000 under CI; at the suite's CPU cost (about
# 0.4 s of CPU per petition across the five processes, the broker and the database: at most
# ~5 petitions/s on CI's 2 cores) that is 16,000 petitions, about an hour for this file alone,
# four times make test's whole budget and too near CI's 90-minute stop. CI runs 500 per
# scenario (about 20 minutes); `make soak` runs 10,000; any count: XINFANG_RELIABILITY_PETITIONS.
PETITIONS = int(os.environ.get("XINFANG_RELIABILITY_PETITIONS") or (500 if IN_CI else 200))
CONCURRENCY = int(os.environ.get("XINFANG_RELIABILITY_CONCURRENCY") or 8)
GIVE_UP_SECONDS = 600  # one petition retried this long means the suite never came back


@dataclass
class Tally:
    """What the clients saw."""

    submitted: int = 0
    accepted: dict[int, str] = field(default_factory=dict)  # petition -> tracking number
    replays: int = 0  # a retry answered with the first answer (the first was lost in transit)
    unavailable: int = 0  # 503 with Retry-After
    dropped: int = 0  # connection refused or cut (the gateway itself was down)
    bad: list[str] = field(default_factory=list)  # anything else: must stay empty
    gave_up: list[int] = field(default_factory=list)
    retry_after_missing: int = 0

    def line(self) -> str:
        return (
            f"submitted={self.submitted} answered_201={len(self.accepted)} "
            f"retried_503={self.unavailable} connection_errors={self.dropped} "
            f"replayed={self.replays} other_errors={len(self.bad)} gave_up={len(self.gave_up)}"
        )


async def submit_all(
    gateway: str,
    headers: Callable[[int], dict[str, str]],
    region: str,
    tag: str,
    count: int = PETITIONS,
    concurrency: int = CONCURRENCY,
    progress: Callable[[int], None] | None = None,
) -> Tally:
    """Submit ``count`` petitions in ``region``, ``concurrency`` clients at a time;
    ``headers(i)`` authenticates petition ``i`` (one petitioner each, as in real life: one
    account filing thousands of matters would be a repeat-petition story of its own)."""
    tally = Tally(submitted=count)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def one(client: httpx.AsyncClient, i: int) -> None:
        rng = random.Random(f"{tag}-{i}")
        body = petition(region=region, title=f"{tag} {i}", content=varied_content(rng))
        key = f"{tag}-{i}"
        deadline = time.monotonic() + GIVE_UP_SECONDS
        tries = 0
        while time.monotonic() < deadline:
            tries += 1
            try:
                r = await client.post(
                    "/api/v1/petitions", json=body, headers={**headers(i), "Idempotency-Key": key}
                )
            except httpx.TransportError:
                tally.dropped += 1
                await asyncio.sleep(0.5)
                continue
            if r.status_code in (200, 201):
                tally.accepted[i] = r.json()["tracking_number"]
                tally.replays += tries > 1 and r.headers.get("Idempotent-Replayed") == "true"
                if progress:
                    progress(len(tally.accepted))
                return
            if r.status_code == 503:
                tally.unavailable += 1
                wait = r.headers.get("Retry-After")
                if wait is None:
                    tally.retry_after_missing += 1
                    tally.bad.append(f"{i}: 503 without Retry-After: {r.text[:200]}")
                await asyncio.sleep(min(float(wait or 1), 10))
                continue
            tally.bad.append(f"{i}: {r.status_code} {r.text[:300]}")
            return
        tally.gave_up.append(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            await one(client, queue.get_nowait())

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=gateway, timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return tally


# -- what the services hold afterwards --------------------------------------------------------


async def _rows(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())
    finally:
        await engine.dispose()


@dataclass
class Held:
    intake: list[str]
    routing: list[str]
    tracking: dict[str, tuple[str, list[str]]]  # number -> (status, public timeline)
    evaluation: dict[str, str]  # number -> status

    def routed(self) -> tuple[int, int]:
        """Cases tracking and evaluation hold as routed."""
        return (
            sum(1 for status, _ in self.tracking.values() if status == "routed"),
            sum(1 for status in self.evaluation.values() if status == "routed"),
        )

    def complete(self, expected: int) -> bool:
        return min(len(self.intake), len(self.routing), *self.routed()) >= expected


async def held(urls: dict[str, str], region: str) -> Held:
    """Every service's own record of the region's petitions, read from its database."""
    intake = await _rows(
        urls["intake"], "SELECT tracking_number FROM petitions WHERE region_code = :r", r=region
    )
    routing = await _rows(
        urls["routing"],
        "SELECT tracking_number FROM routing_decisions WHERE region_code = :r",
        r=region,
    )
    tracking = await _rows(
        urls["tracking"],
        "SELECT c.tracking_number, c.status, t.status FROM cases c "
        "LEFT JOIN timeline t ON t.case_id = c.id AND t.public "
        "WHERE c.region_code = :r ORDER BY c.tracking_number, t.id",
        r=region,
    )
    timelines: dict[str, tuple[str, list[str]]] = {}
    for number, status, step in tracking:
        timelines.setdefault(number, (status, []))[1].append(step)
    evaluation = await _rows(
        urls["evaluation"],
        "SELECT tracking_number, status FROM case_reads WHERE region_code = :r",
        r=region,
    )
    return Held(
        intake=[r[0] for r in intake],
        routing=[r[0] for r in routing],
        tracking=timelines,
        evaluation={r[0]: r[1] for r in evaluation},
    )


async def settle(urls: dict[str, str], region: str, expected: int, stall: float = 180) -> Held:
    """Wait until every service holds at least ``expected`` routed petitions of the region,
    or until nothing moved for ``stall`` seconds (then the checks say what is missing)."""
    last, moved = None, time.monotonic()
    while True:
        now = await held(urls, region)
        if now.complete(expected):
            return now
        counts = (len(now.intake), len(now.routing), *now.routed())
        if counts != last:
            last, moved = counts, time.monotonic()
        elif time.monotonic() - moved > stall:
            return now
        await asyncio.sleep(1)


def problems(tally: Tally, now: Held) -> list[str]:
    """Everything that is not exactly one case per 201 with the timeline received -> routed."""
    accepted = set(tally.accepted.values())
    out = [f"client: {b}" for b in tally.bad[:20]]
    out += [f"client gave up on petition {i}" for i in tally.gave_up]
    if len(accepted) != len(tally.accepted):
        out.append("two petitions were answered with the same tracking number")
    for name, numbers in (("intake", now.intake), ("routing", now.routing)):
        if len(numbers) != len(set(numbers)):
            out.append(f"{name}: {len(numbers) - len(set(numbers))} petitions doubled")
        if lost := accepted - set(numbers):
            out.append(f"{name}: {len(lost)} accepted petitions missing, e.g. {sorted(lost)[:3]}")
        if extra := set(numbers) - accepted:
            out.append(f"{name}: {len(extra)} petitions nobody was answered 201 for")
    for name, numbers in (("tracking", set(now.tracking)), ("evaluation", set(now.evaluation))):
        if lost := accepted - numbers:
            out.append(f"{name}: {len(lost)} accepted petitions missing, e.g. {sorted(lost)[:3]}")
        if extra := numbers - accepted:
            out.append(f"{name}: {len(extra)} cases nobody was answered 201 for")
    wrong = {n: t for n, t in now.tracking.items() if t != ("routed", ["received", "routed"])}
    if wrong:
        sample = dict(list(wrong.items())[:3])
        out.append(f"tracking: {len(wrong)} cases without exactly received -> routed: {sample}")
    unrouted = {n: s for n, s in now.evaluation.items() if s != "routed"}
    if unrouted:
        out.append(f"evaluation: {len(unrouted)} cases not seen routed")
    return out


def sample(tally: Tally, k: int = 20) -> list[str]:
    numbers = sorted(tally.accepted.values())
    return random.Random(len(numbers)).sample(numbers, min(k, len(numbers)))
