"""The authorization matrix (ARCHITECTURE §5): every endpoint of the public API x every role x
(own object, foreign object, an object that does not exist) and once without a token, through
the gateway, each answered with the exact status of the table below; and the services reached
directly, around the gateway, refuse a missing or forged token the same way.

The world: petitioner P1's cases in Hangzhou (330106, handled by 330106:hrss, unit U_A) and
petitioner P2's in Chengdu (510104, 510104:hrss, U_B). "Own" is always the Hangzhou side:
P1's case, U_A's things, a region-scoped operator's region (330000); "foreign" the Chengdu
side. Where a role is refused object by object (own allowed, foreign not), a foreign object must
be refused exactly as one that does not exist (checked on every such cell), so that no
answer reveals existence. Actions are tried on withdrawn
cases: a caller the table lets act gets 409 (visible, allowed to try, nothing open), which
proves every check before the state machine passed without changing anything; the actions'
success paths are test_case_life's.

Statuses are the table's: 200/201/204 done; 401 no or bad token; 403 the role may never do
this (whatever the object); 404 not visible to this caller (or not there); 409 visible and
allowed, but not in this state (or done by the row before: one-shot actions run in table
order). Regions, the unit directory and the calendar are public reference data.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from services.launcher import Suite
from shared import tracking_number as numbers
from shared.auth import mint_token
from shared.calendar import default_calendar
from shared.settings import CommonSettings
from shared.vocabulary import CST
from tests.e2e.conftest import petition, token, wait_for
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.e2e

A_REGION, B_REGION = "330106", "510104"
U_A, U_B = f"{A_REGION}:hrss", f"{B_REGION}:hrss"
RUN = uuid.uuid4().hex[:8]
P1, P2 = f"matrix-p1-{RUN}", f"matrix-p2-{RUN}"
SECRET = "matrix-webhook-secret-0123456789"
ROLES: dict[str, dict[str, str]] = {
    "petitioner": token("petitioner", P1),
    "unit": token("unit", "matrix-clerk", unit_id=U_A),
    "operator@330000": token("operator", "matrix-op-zj", region_code="330000"),
    "operator": token("operator", "matrix-op"),
    "grid_worker": token("grid_worker", "matrix-grid"),
    "service": token("service", "matrix-service"),
}
NONE = "no token"
OWN, FOREIGN, MISSING = "own", "foreign", "missing"
OPERATOR = ROLES["operator"]
REASON = "核查信访事项办理情况"


@dataclass
class World:
    """The objects of each side, by kind (a kind's value fills a path, or a query)."""

    sides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of(self, side: str, kind: str) -> Any:
        value = self.sides[side][kind]
        return value() if callable(value) else value


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # /api/v1/...; {tn} etc. filled from the world
    kind: str | None  # the object kind the row is about (None: no object)
    expect: dict[
        str, tuple[int, int]
    ]  # role -> (own, foreign); foreign also for missing, 404 if foreign is 2xx
    anonymous: int = 401
    private: bool = True  # False: ids of public things (units, regions): no existence to hide
    body: Callable[[str, str], Any] | None = None  # (side, role) -> JSON body
    query: Callable[[str], dict[str, str]] | None = None  # side -> query parameters

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def same(status: int) -> dict[str, tuple[int, int]]:
    return {role: (status, status) for role in ROLES}


def table(**roles: tuple[int, int] | int) -> dict[str, tuple[int, int]]:
    """Per role (operator_region for operator@330000); an int is the same for both sides."""
    out = {}
    for role in ROLES:
        key = role.replace("@330000", "_region")
        value = roles.get(key, roles.get("others", 403))
        out[role] = value if isinstance(value, tuple) else (value, value)
    return out


def region_of(side: str) -> str:
    return A_REGION if side == OWN else B_REGION


def action(body: dict[str, Any]) -> Callable[[str], Any]:
    return lambda _side, _role: body


ROWS: list[Row] = []  # filled below, in the order the walk runs them


def petition_for(side: str, role: str) -> dict[str, Any]:
    """Online for petitioners (and operators, services on their users' behalf); a unit's
    clerk registers a visit (无差别受理: for any region)."""
    body = petition(region_of(side))
    if role == "unit":
        body["channel"] = "visit"
    return body


# The caller may act on a withdrawn case (409: nothing open) or may not (403: not theirs).
HANDLER_ACTIONS = {
    "accept": {},
    "not-accept": {"reason": "不属于本机关法定职权范围"},
    "object": {"reason": "该事项不属于本单位职责范围"},
    "extend": {"days": 30, "reason": "需要现场核查", "approved_by": "王局长"},
    "reply": {"outcome": "support", "text": "经核查，诉求合理，予以支持。"},
    "report": {"text": "已按交办要求办结并报告结果。"},
}
PETITIONER_ACTIONS = {
    "withdraw": {"reason": "已经解决"},
    "review-requests": {"reason": "答复没有解决问题"},
    "rereview-requests": {"reason": "复查意见仍然不对"},
}
REVIEWER_ACTIONS = {
    "review-decision": {"decision": "maintain", "text": "维持原处理意见，理由如下。"},
    "rereview-decision": {"decision": "maintain", "text": "维持复查意见，理由如下。"},
}


OPERATOR_ACTIONS = ("not-accept",)  # the petition bureau's notice (PROCEDURE §6)


def case_action(name: str) -> Row:
    body = {**HANDLER_ACTIONS, **PETITIONER_ACTIONS, **REVIEWER_ACTIONS}[name]
    petitioner = 409 if name in PETITIONER_ACTIONS else 403
    unit = 409 if name in HANDLER_ACTIONS else 403  # U_A handles it; it reviews nothing
    operator = 409 if name in OPERATOR_ACTIONS else 403
    expect = table(
        petitioner=(petitioner, 404),
        unit=(unit, 404),
        operator_region=(operator, 404),
        operator=operator,
        grid_worker=404,
        service=403,
    )
    return Row("POST", f"/cases/{{tn}}/{name}", "tn_done", expect, body=action(body))


def _rows() -> list[Row]:
    case_readers = table(
        petitioner=(200, 404),
        unit=(200, 404),
        operator_region=(200, 404),
        operator=200,
        grid_worker=404,
        service=200,
    )
    unit_staff = {"unit": (200, 403), "operator_region": (200, 403), "operator": 200}
    directory_admin = table(operator_region=(200, 403), operator=200)
    analysts = table(operator_region=(200, 403), operator=200)
    return [
        # --- intake ---------------------------------------------------------------------
        Row(
            "POST",
            "/petitions",
            None,
            table(petitioner=201, unit=201, operator_region=201, operator=201, service=201),
            body=petition_for,
            private=False,
        ),
        Row(
            "GET",  # intake's view before tracking has the case: not the units'
            "/petitions/{tn}",
            "tn",
            table(
                petitioner=(200, 404),
                unit=404,
                operator_region=(200, 404),
                operator=200,
                grid_worker=404,
                service=404,
            ),
        ),
        Row(
            "GET",
            "/petitions/{tn}/identity",
            "tn",
            table(
                petitioner=(200, 404),
                unit=(200, 404),
                operator_region=(200, 404),
                operator=200,
                grid_worker=404,
                service=404,
            ),
            query=lambda _side: {"reason": REASON},
        ),
        Row(
            "GET",
            "/petitions/{tn}/identity/access-log",
            "tn",
            table(operator_region=(200, 404), operator=200),
        ),
        # --- routing --------------------------------------------------------------------
        Row(
            "GET",
            "/routing/decisions/{case_id}",
            "case_id",
            table(operator_region=(200, 404), operator=200, service=200),
        ),
        Row(
            "GET",
            "/cases/{tn}/routing",
            "tn",
            table(
                petitioner=404,
                unit=(200, 404),
                operator_region=(200, 404),
                operator=200,
                grid_worker=404,
                service=200,
            ),
        ),
        Row(
            "POST",
            "/cases/{tn}/reroute",
            "tn_done",
            table(operator_region=(409, 404), operator=409, others=404),
            body=lambda side, _role: {"unit_id": f"{region_of(side)}:housing", "reason": REASON},
        ),
        Row("GET", "/units", None, same(200), anonymous=200, private=False),
        Row(
            "POST",
            "/units",
            None,
            table(operator_region=(201, 403), operator=201),
            body=lambda side, _role: {
                "name": f"矩阵测试单位{uuid.uuid4().hex[:6]}",
                "region_code": region_of(side),
                "function": "veterans",
                "reason": REASON,
            },
            private=False,
        ),
        Row("GET", "/units/{unit}", "unit", same(200), anonymous=200, private=False),
        Row(
            "PATCH",
            "/units/{spare}",
            "spare",
            directory_admin,
            body=lambda _side, _role: {
                "name": f"矩阵测试单位{uuid.uuid4().hex[:6]}",
                "reason": REASON,
            },
            private=False,
        ),
        Row("GET", "/units/{spare}/changes", "spare", directory_admin, private=False),
        Row(
            "POST",
            "/units/{spare}/retire",
            "spare",
            table(operator_region=(200, 403), operator=(409, 200)),  # own: retired the row before
            body=lambda side, _role: {
                "successor_id": U_A if side == OWN else U_B,
                "reason": REASON,
            },
            private=False,
        ),
        Row("GET", "/regions/{region}", "region", same(200), anonymous=200, private=False),
        # --- tracking -------------------------------------------------------------------
        Row("GET", "/cases/{tn}", "tn", case_readers),
        # a grid worker's own reports (proactive cases), like a petitioner's cases
        Row("GET", "/me/cases", None, table(petitioner=200, grid_worker=200), private=False),
        Row("GET", "/units/{unit}/cases", "unit", table(**unit_staff), private=False),
        Row(
            "GET",
            "/calendar/due",
            None,
            same(200),
            anonymous=200,
            query=lambda _side: {"start": "2026-01-05", "days": "15"},
            private=False,
        ),
        *[case_action(name) for name in (*HANDLER_ACTIONS, *PETITIONER_ACTIONS, *REVIEWER_ACTIONS)],
        # A unit's webhooks: refused by the unit in the path, before any webhook is looked up
        Row(
            "POST",
            "/units/{unit}/webhooks",
            "unit",
            table(unit=(201, 403), operator_region=(201, 403), operator=201),
            body=lambda _side, _role: {"url": hook_url(), "secret": SECRET, "event_types": ["*"]},
            private=False,
        ),
        Row("GET", "/units/{unit}/webhooks", "unit", table(**unit_staff), private=False),
        Row(
            "GET",
            "/units/{unit}/webhooks/{webhook}/deliveries",
            "webhook",
            table(**unit_staff),
            private=False,
        ),
        Row(
            "POST",
            "/units/{unit}/webhooks/deliveries/{delivery}/replay",
            "delivery",
            table(unit=(202, 403), operator_region=(202, 403), operator=202),
            private=False,
        ),
        Row(
            "DELETE",
            "/units/{unit}/webhooks/{webhook}",
            "webhook",  # a fresh webhook for each call
            table(unit=(204, 403), operator_region=(204, 403), operator=204),
            private=False,
        ),
        Row(
            "GET",
            "/supervision",
            None,
            table(unit=200, operator_region=200, operator=200),
            private=False,
        ),
        Row("GET", "/supervision/summary", "scope", analysts, private=False),
        Row(
            "GET",
            "/supervision/{supervision}",
            "supervision",
            table(unit=(200, 404), operator_region=(200, 404), operator=200),
        ),
        Row(
            "POST",
            "/cases/{tn}/supervision",
            "tn",
            table(operator_region=(409, 404), operator=409),  # one open supervision per case
            body=lambda _side, _role: {"reason": "passing_the_buck", "note": "请说明推诿原因"},
        ),
        Row(
            "POST",
            "/supervision/{supervision}/response",
            "supervision",
            table(unit=(200, 404)),
            body=lambda _side, _role: {"text": "已经重新核查并联系信访人。"},
        ),
        Row(
            "POST",
            "/supervision/{supervision}/close",
            "supervision",
            # own: closed by the scoped operator first; foreign: never answered
            table(unit=(403, 404), operator_region=(200, 404), operator=409),
            body=lambda _side, _role: {"note": "已督办到位"},
        ),
        Row(
            "POST",
            "/cases/{tn}/leader",
            "tn",
            table(operator_region=(200, 404), operator=200),
            body=lambda _side, _role: {"name": "李明", "title": "副区长"},
        ),
        # --- evaluation -----------------------------------------------------------------
        Row("GET", "/cases/{tn}/rating", "tn", case_readers),
        Row(
            "POST",
            "/cases/{tn}/rating",
            "tn",
            table(petitioner=(200, 404)),
            body=lambda _side, _role: {
                "moment": "acceptance",
                "level": "dissatisfied",
                "comment": "受理太慢",
            },
        ),
        Row("GET", "/units/{unit}/callbacks", "unit", table(**unit_staff), private=False),
        Row(
            "GET",
            "/callbacks/{callback}",
            "callback",
            table(
                unit=(200, 404),
                operator_region=(200, 404),
                operator=200,
                petitioner=404,
                grid_worker=404,
                service=404,
            ),
        ),
        Row(
            "POST",
            "/callbacks/{callback}/done",
            "callback",
            table(unit=(200, 404)),
            body=lambda _side, _role: {"note": "已电话回访信访人，说明了受理进度。"},
        ),
        *[
            Row("GET", f"/analytics/{name}", "scope", analysts, private=False)
            for name in ("overview", "situation", "warnings")
        ],
        # --- themed channels (intake): public forms, opened and closed by operators ------
        Row("GET", "/channels", None, same(200), anonymous=200, private=False),
        Row(
            "POST",
            "/channels",
            None,
            table(operator_region=(201, 403), operator=201),
            body=lambda side, _role: {
                "code": f"matrix-{uuid.uuid4().hex[:10]}",
                "name": "矩阵测试专题通道",
                "region_code": "330000" if side == OWN else "510000",
            },
            private=False,
        ),
        Row("GET", "/channels/{channel}", "channel", same(200), anonymous=200, private=False),
        Row(
            "PATCH",
            "/channels/{channel}",
            "channel",
            table(operator_region=(200, 403), operator=200),
            body=lambda _side, _role: {"priority": 3},
            private=False,
        ),
        Row(
            "POST",
            "/channels/{channel}/close",
            "channel",
            table(operator_region=(200, 403), operator=(409, 200)),  # own: closed the row before
            private=False,
        ),
        # --- the window's routing preview (无差别受理) --------------------------------------
        Row(
            "POST",
            "/routing/preview",
            None,
            table(unit=200, operator_region=200, operator=200, grid_worker=200, service=200),
            body=lambda side, _role: {"region_code": region_of(side), "category": "wage_arrears"},
            private=False,
        ),
        # --- receptions (tracking): each side's main case has one, requested by its owner --
        Row("GET", "/cases/{tn}/receptions", "tn", case_readers),
        Row(
            "POST",  # one open reception per case: the callers allowed to ask get 409
            "/cases/{tn}/receptions",
            "tn",
            table(
                petitioner=(409, 404),
                unit=(409, 404),
                operator_region=(409, 404),
                operator=409,
                grid_worker=404,
                service=403,
            ),
            body=action({"reason": REASON}),
        ),
        Row(
            "GET",
            "/receptions",
            None,
            table(unit=200, operator_region=(200, 403), operator=200),
            query=lambda side: {"region": "330000" if side == OWN else "510000"},
            private=False,
        ),
        Row("GET", "/receptions/{reception}", "reception", case_readers),
        Row(
            "POST",
            "/receptions/{reception}/slots",
            "reception",
            table(
                petitioner=(403, 404),
                unit=(403, 404),
                operator_region=(200, 404),
                operator=200,
                grid_worker=404,
                service=403,
            ),
            body=lambda _side, _role: {"slots": [SLOT]},
        ),
        Row(
            "POST",
            "/receptions/{reception}/confirm",
            "reception",
            table(
                petitioner=(200, 404),
                unit=(409, 404),  # confirmed by the row before
                operator_region=(409, 404),
                operator=(409, 200),
                grid_worker=404,
                service=403,
            ),
            body=lambda _side, _role: {"starts_at": SLOT},
        ),
        Row(
            "POST",
            "/receptions/{reception}/reschedule",
            "reception",
            table(
                petitioner=(200, 404),
                unit=(403, 404),
                operator_region=(200, 404),
                operator=200,
                grid_worker=404,
                service=403,
            ),
            body=lambda _side, role: (
                {"reason": REASON} | ({} if role == "petitioner" else {"slots": [SLOT]})
            ),
        ),
        Row(
            "POST",
            "/receptions/{reception}/record",
            "reception",
            table(
                petitioner=(403, 404),
                unit=(403, 404),
                operator_region=(409, 404),  # not held yet
                operator=409,
                grid_worker=404,
                service=403,
            ),
            body=lambda _side, _role: {"outcome": "no_show"},
        ),
        Row(
            "POST",
            "/receptions/{reception}/cancel",
            "reception",
            table(
                petitioner=(200, 404),
                unit=(403, 404),
                operator_region=(409, 404),  # cancelled by the row before
                operator=(409, 200),
                grid_worker=404,
                service=403,
            ),
            body=lambda _side, _role: {"reason": REASON},
        ),
        *[
            Row("GET", f"/analytics/{name}", "scope", table(**unit_staff), private=False)
            for name in ("scorecards", "trends")
        ],
    ]


WEBHOOK_URL: list[str] = [""]


def _next_working_morning() -> str:
    """10:00 China time on the next official working day: a slot the bureau may propose."""
    calendar = default_calendar()
    day = datetime.now(CST).date() + timedelta(days=1)
    while not calendar.is_workday(day):
        day += timedelta(days=1)
    return datetime.combine(day, time(10), CST).astimezone(UTC).isoformat()


SLOT = _next_working_morning()


def hook_url() -> str:
    """The test's receiver, at a path of its own (a unit's webhooks have distinct URLs)."""
    return f"{WEBHOOK_URL[0]}/{uuid.uuid4().hex[:8]}"


ROWS.extend(_rows())
SERVICES = ("intake", "routing", "tracking", "evaluation")


def service_routes() -> dict[tuple[str, str], str]:
    """(method, path without /api/v1) -> the service that serves it, from the apps."""
    out = {}
    for service in SERVICES:
        module = importlib.import_module(f"{service}.main")
        app = module.app if hasattr(module, "app") else module.create_app()
        for path, operations in app.openapi()["paths"].items():
            if path.startswith("/api/v1/"):
                for method in operations:
                    out[(method.upper(), path.removeprefix("/api/v1"))] = service
    return out


PLACEHOLDER = {
    "tracking_number": "tn",
    "case_id": "case_id",
    "unit_id": "unit",
    "code": "region",
    "webhook_id": "webhook",
    "delivery_id": "delivery",
    "supervision_id": "supervision",
    "callback_id": "callback",
    "reception_id": "reception",
}


def template(path: str) -> str:
    """A row's path in the services' own spelling (``{tn}`` -> ``{tracking_number}``...)."""
    for name, kind in PLACEHOLDER.items():
        path = path.replace("{" + kind + "}", "{" + name + "}")
    for kind in ("tn_done",):
        path = path.replace("{" + kind + "}", "{tracking_number}")
    return path.replace("{spare}", "{unit_id}").replace("{channel}", "{code}")


def test_the_table_covers_every_endpoint_of_every_service() -> None:
    served = service_routes()
    rows = {(r.method, template(r.path)) for r in ROWS}
    assert sorted(set(served) - rows) == [], "endpoints without a row in the matrix"
    assert sorted(rows - set(served)) == [], "rows for endpoints no service has"


# --- the world -------------------------------------------------------------------------


def submit(api: httpx.Client, owner: dict[str, str], region: str) -> str:
    r = api.post("/api/v1/petitions", json=petition(region), headers=owner)
    assert r.status_code == 201, r.text
    return r.json()["tracking_number"]


def case(api: httpx.Client, number: str) -> dict[str, Any]:
    r = api.get(f"/api/v1/cases/{number}", headers=OPERATOR)
    return r.json() if r.status_code == 200 else {}


def ok(r: httpx.Response, *codes: int) -> dict[str, Any]:
    assert r.status_code in (codes or (200,)), f"{r.request.method} {r.request.url}: {r.text}"
    return r.json() if r.content else {}


def first(api: httpx.Client, path: str, headers: dict[str, str], key: str = "items") -> Any:
    def one() -> Any:
        r = api.get(path, headers=headers)
        items = r.json().get(key) if r.status_code == 200 else None
        return items[0] if items else None

    return wait_for(one, timeout=90)


def build_world(api: httpx.Client, receiver: Receiver) -> World:
    WEBHOOK_URL[0] = receiver.url
    owners = {OWN: token("petitioner", P1), FOREIGN: token("petitioner", P2)}
    units = {
        OWN: token("unit", "matrix-clerk", unit_id=U_A),
        FOREIGN: token("unit", "b", unit_id=U_B),
    }
    unit_ids = {OWN: U_A, FOREIGN: U_B}
    world = World({OWN: {}, FOREIGN: {}, MISSING: {}})
    hooks = {}
    for side in (OWN, FOREIGN):  # before the cases, so that their events are delivered
        hooks[side] = ok(
            api.post(
                f"/api/v1/units/{unit_ids[side]}/webhooks",
                json={"url": receiver.url, "secret": SECRET, "event_types": ["*"]},
                headers=OPERATOR,
            ),
            201,
        )["id"]
    numbers_ = {
        side: (
            submit(api, owners[side], region_of(side)),
            submit(api, owners[side], region_of(side)),
        )
        for side in (OWN, FOREIGN)
    }
    for side, (main, done) in numbers_.items():
        for number in (main, done):
            routed = wait_for(
                lambda n=number: case(api, n).get("status") == "routed" and case(api, n)
            )
            assert routed["unit"]["id"] == unit_ids[side], routed
        ok(api.post(f"/api/v1/cases/{main}/accept", json={}, headers=units[side]))
        ok(
            api.post(
                f"/api/v1/cases/{done}/withdraw", json={"reason": "已经解决"}, headers=owners[side]
            )
        )
        wait_for(
            lambda n=main, o=owners[side]: (
                api.post(
                    f"/api/v1/cases/{n}/rating",
                    json={"moment": "acceptance", "level": "dissatisfied", "comment": "受理太慢"},
                    headers=o,
                ).status_code
                in (200, 201)
            )
        )
        sid = ok(
            api.post(
                f"/api/v1/cases/{main}/supervision",
                json={"reason": "passing_the_buck", "note": "请说明推诿原因"},
                headers=OPERATOR,
            ),
            201,
        )["id"]
        unit = unit_ids[side]
        spare = ok(
            api.post(
                "/api/v1/units",
                json={
                    "name": f"矩阵测试备用单位{uuid.uuid4().hex[:6]}",
                    "region_code": region_of(side),
                    "function": "veterans",
                    "reason": REASON,
                },
                headers=OPERATOR,
            ),
            201,
        )["id"]

        def fresh_hook(unit: str = unit) -> tuple[str, str]:
            made = api.post(
                f"/api/v1/units/{unit}/webhooks",
                json={"url": hook_url(), "secret": SECRET, "event_types": ["*"]},
                headers=OPERATOR,
            )
            return unit, ok(made, 201)["id"]

        channel = ok(
            api.post(
                "/api/v1/channels",
                json={
                    "code": f"matrix-{side}-{RUN}",
                    "name": "矩阵测试专题通道",
                    "region_code": "330000" if side == OWN else "510000",
                },
                headers=OPERATOR,
            ),
            201,
        )["code"]
        reception = ok(
            api.post(f"/api/v1/cases/{main}/receptions", json={}, headers=owners[side]), 201
        )["id"]
        world.sides[side] = {
            "channel": channel,
            "reception": reception,
            "tn": main,
            "tn_done": done,
            "case_id": case(api, main)["case_id"],
            "unit": unit,
            "spare": spare,
            "region": region_of(side),
            "webhook": (unit, hooks[side]),
            "fresh_webhook": fresh_hook,
            "delivery": (
                unit,
                first(api, f"/api/v1/units/{unit}/webhooks/{hooks[side]}/deliveries", OPERATOR)[
                    "id"
                ],
            ),
            "supervision": sid,
            "callback": first(api, f"/api/v1/units/{unit}/callbacks", OPERATOR)["id"],
        }
    nobody = str(uuid.uuid4())
    world.sides[MISSING] = {
        "channel": f"matrix-missing-{RUN}",
        "reception": nobody,
        "tn": numbers.make(A_REGION, datetime.now(UTC).date(), 99_999),
        "tn_done": numbers.make(A_REGION, datetime.now(UTC).date(), 99_998),
        "case_id": nobody,
        "unit": f"{A_REGION}:nosuch",
        "spare": f"{A_REGION}:nosuch",
        "region": "330199",
        "webhook": (U_A, nobody),
        "fresh_webhook": (U_A, nobody),
        "delivery": (U_A, nobody),
        "supervision": nobody,
        "callback": nobody,
    }
    return world


def fill(row: Row, world: World, side: str, role: str) -> tuple[str, dict[str, str]]:
    path, params = row.path, dict(row.query(side) if row.query else {})
    kind = row.kind
    if kind == "scope":
        scoped = {OWN: ("330000", U_A), FOREIGN: ("510000", U_B), MISSING: ("330000", U_A)}
        region, unit = scoped[side]
        if row.path.endswith("overview"):
            params["region_code"] = region
        elif role == "unit":
            params["unit"] = unit
        else:
            params["region"] = region
    elif kind is not None:
        value = world.of(side, "fresh_webhook" if row.method == "DELETE" else kind)
        if kind in ("webhook", "delivery"):
            unit, value = value
            path = path.replace("{unit}", unit)
        path = path.replace("{" + ("tn" if kind == "tn_done" else kind) + "}", str(value))
    return "/api/v1" + path, params


def call(client: httpx.Client, row: Row, world: World, side: str, role: str) -> httpx.Response:
    path, params = fill(row, world, side, role)
    headers = ROLES.get(role, {})
    body = row.body(side if side != MISSING else OWN, role) if row.body else None
    return client.request(row.method, path, params=params, json=body, headers=headers)


@pytest.fixture(scope="module")
def world(api: httpx.Client) -> Any:
    receiver = Receiver(SECRET)
    try:
        yield build_world(api, receiver)
    finally:
        receiver.close()


def walk(client: httpx.Client, world: World, roles: list[str]) -> tuple[list[str], int]:
    """Every row x role x side, in table order; the cells that differ from the table."""
    wrong, calls = [], 0
    for row in ROWS:
        for role in roles:
            own, foreign = row.expect[role]
            # an object that does not exist: refused as the foreign one is, or 404 where the
            # foreign one is the caller's to act on (an unscoped operator)
            missing = foreign if foreign >= 400 else 404
            for side, expected in ((OWN, own), (FOREIGN, foreign), (MISSING, missing)):
                if side == MISSING and (own == foreign or not row.private):
                    continue  # not refused object by object, or public: nothing to hide
                r = call(client, row, world, side, role)
                calls += 1
                if r.status_code != expected:
                    wrong.append(
                        f"{row.name} {role} {side}: {r.status_code} not {expected} {r.text[:160]}"
                    )
        r = call(client, row, world, OWN, NONE)
        calls += 1
        if r.status_code != row.anonymous:
            wrong.append(f"{row.name} {NONE}: {r.status_code} not {row.anonymous} {r.text[:160]}")
    return wrong, calls


def test_every_endpoint_answers_every_role_as_the_table_says(
    api: httpx.Client, world: World
) -> None:
    wrong, calls = walk(api, world, list(ROLES))
    print(
        f"\naccess matrix: {len(ROWS)} endpoints x {len(ROLES) + 1} principals "
        f"({', '.join(ROLES)}, {NONE}) x (own, foreign, missing): {calls} calls"
    )
    assert wrong == [], "\n".join(wrong)


def test_a_service_reached_directly_checks_the_token_itself(suite: Suite, world: World) -> None:
    """Around the gateway, straight to each service: no token and a forged one (right claims,
    signed with another secret) are refused like at the gateway (401), by the service itself;
    public reference data (regions, the unit directory, the calendar) answers either way."""
    served = service_routes()
    forged = mint_token(
        CommonSettings(jwt_secret="not-the-suite-secret-not-the-suite-secret"),
        role="operator",
        sub="forger",
    )
    wrong = []
    for row in ROWS:
        service = served[(row.method, template(row.path))]
        with httpx.Client(base_url=suite.url(service), timeout=30) as direct:
            r = call(direct, row, world, OWN, NONE)
            if r.status_code != row.anonymous:
                wrong.append(f"{service} {row.name} no token: {r.status_code}")
            path, params = fill(row, world, OWN, NONE)
            r = direct.request(
                row.method,
                path,
                params=params,
                json=row.body(OWN, NONE) if row.body else None,
                headers={"Authorization": f"Bearer {forged}"},
            )
            if r.status_code != row.anonymous:  # public reference data ignores tokens
                wrong.append(f"{service} {row.name} forged token: {r.status_code}")
    assert wrong == [], "\n".join(wrong)
