"""From an Open311 ``POST requests`` form to a petition (``intake.schemas.PetitionCreate``),
and from a case view to an Open311 service request. Pure functions, no I/O.

What a request shows (README "Open311 GeoReport v2"): the status, the category, the handling
unit's name, the region the petition was placed in, dates and deadlines; never the
petitioner's identity, the free text of the timeline or the reply (an Open311 client may
publish what it reads), nor coordinates (the platform keeps none).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from services.gateway.open311.catalog import (
    ANONYMOUS,
    ID_NUMBER,
    PETITIONER_ADDRESS,
    SERVICES,
    Service,
    attributes,
)
from services.gateway.open311.formats import Open311Error
from shared.vocabulary import CST, STATUSES

Form = list[tuple[str, str]]

# Concluded in the petition procedure: answered `closed` (PROCEDURE §6). A reply may still be
# reviewed, so `replied` stays open until the case is closed or terminated.
CLOSED = frozenset(
    {
        "closed",
        "terminated",
        "withdrawn",
        "not_accepted",
        "not_reaccepted",
        "diverted",
        "linked_duplicate",
    }
)
OPEN = frozenset(STATUSES) - CLOSED
NOTES = {
    "received": "已收到，正在登记转送",
    "triage": "信访部门正在甄别转送",
    "routed": "已转送有权处理的机关，等待受理",
    "diverted": "属于涉法涉诉事项，已导入法定途径办理",
    "linked_duplicate": "与此前同一事项合并办理",
    "not_reaccepted": "同一事项已办结，不再重复受理",
    "not_accepted": "不予受理",
    "in_progress": "已受理，正在办理",
    "extended": "已受理，办理期限已延长",
    "replied": "已答复，可在30日内申请复查",
    "withdrawn": "已撤回",
    "under_review": "复查中",
    "review_replied": "已出具复查意见，可在30日内申请复核",
    "under_rereview": "复核中",
    "closed": "已办结",
    "terminated": "复核终结",
}
assert set(NOTES) == set(STATUSES)
# The deadline a request's expected_datetime shows, in the order they apply
EXPECTED = ("acceptance", "handling", "review", "rereview")
CHANNEL = "web"
_SENTENCE = re.compile(r"[。！？!?\n]")
_CJK = re.compile(r"[\u3400-\u9fff]")


def first(form: Form, key: str) -> str | None:
    """The first non-blank value of ``key`` (a blank value is the same as none, per spec)."""
    for k, v in form:
        if k == key and v.strip():
            return v.strip()
    return None


def attribute_values(form: Form) -> dict[str, list[str]]:
    """``attribute[code]=v`` and ``attribute[code][]=v`` (multivaluelist) by code."""
    out: dict[str, list[str]] = {}
    for key, value in form:
        m = re.fullmatch(r"attribute\[([^\]]+)\](\[\])?", key)
        if m and value.strip():
            out.setdefault(m.group(1), []).append(value.strip())
    return out


def service_of(code: str | None) -> Service:
    if not code:
        raise Open311Error(400, "service_code was not provided: take one from services.json")
    service = SERVICES.get(code)
    if service is None:
        raise Open311Error(404, f"service_code '{code}' was not found: see services.json")
    return service


def _checked_attributes(service: Service, given: dict[str, list[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    problems = []
    for spec in attributes(service):
        code, values = spec["code"], given.get(spec["code"], [])
        if not values:
            if spec["required"]:
                problems.append(f"attribute[{code}] is required: {spec['description']}")
            continue
        keys = [v["key"] for v in spec.get("values", [])]
        if keys and values[0] not in keys:
            problems.append(f"attribute[{code}] must be one of: {', '.join(keys)}")
            continue
        out[code] = values[0]
    if problems:
        raise Open311Error(400, problems)
    return out


def _location(form: Form) -> tuple[str, list[str]]:
    """The address intake resolves, and the location lines for the handling unit."""
    address = first(form, "address_string")
    lat, long = first(form, "lat"), first(form, "long")
    lines = []
    if (lat is None) != (long is None):
        raise Open311Error(400, "lat and long must be sent together")
    if lat is not None and long is not None:
        try:
            point = float(lat), float(long)
        except ValueError as bad:
            raise Open311Error(400, "lat and long must be decimal degrees (WGS84)") from bad
        if not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
            raise Open311Error(400, "lat must lie within ±90 and long within ±180 degrees")
        lines.append(f"坐标（WGS84）：{lat}, {long}")
    if address is None:
        if lat is not None:
            raise Open311Error(
                400,
                "a point alone cannot be placed: the platform has no boundary data to find the "
                "region of lat/long; send address_string naming the province, city, county or "
                "township (e.g. 北京市石景山区鲁谷街道鲁谷路1号)",
            )
        if first(form, "address_id"):
            raise Open311Error(400, "address_id is not supported: send address_string instead")
        raise Open311Error(
            400, "a location is required: send address_string (lat/long may be added to it)"
        )
    if len(address) > 200:
        raise Open311Error(400, "address_string must be at most 200 characters")
    return address, [f"地点：{address}", *lines]


def _name(form: Form) -> str | None:
    given, family = first(form, "first_name"), first(form, "last_name")
    if given and family and _CJK.search(given + family):
        return family + given  # 张 + 三
    return " ".join(p for p in (given, family) if p) or None


def title_of(description: str, service: Service) -> str:
    """The petition's title: the description's first sentence, else the service's name."""
    head = _SENTENCE.split(description.strip(), maxsplit=1)[0].strip()
    if len(head) < 2:
        return service.name
    return head if len(head) <= 40 else head[:39] + "…"


def petition_from_form(form: Form, client: str) -> tuple[Service, dict[str, Any]]:
    """The petition body for intake. Raises :class:`Open311Error` (400/404) naming the
    Open311 fields to fix; intake then checks everything else (its answers are mapped by
    :func:`errors_from_problem`)."""
    service = service_of(first(form, "service_code"))
    extra = _checked_attributes(service, attribute_values(form))
    address, where = _location(form)
    description = first(form, "description")
    if description is None or len(description) < 5:
        raise Open311Error(400, "description is required: describe the matter (5 characters+)")
    if len(description) > 4000:
        raise Open311Error(400, "description must be at most 4,000 characters")
    media = first(form, "media_url")
    lines = [description, "", *where, *([f"媒体：{media}"] if media else [])]
    content = "\n".join([*lines, f"提交渠道：Open311（{client}）"])
    body: dict[str, Any] = {
        "kind": service.kind,
        "channel": CHANNEL,
        "title": title_of(description, service),
        "content": content,
        "location": {"address": address},
        "category": service.code,
    }
    if extra.get(ANONYMOUS) == "true":
        body["anonymous"] = True
    else:
        person = {
            "name": _name(form),
            "phone": first(form, "phone"),
            "address": extra.get(PETITIONER_ADDRESS),
            "id_number": extra.get(ID_NUMBER),
        }
        body["petitioner"] = {k: v for k, v in person.items() if v is not None}
    return service, body


# Intake's field names, as the Open311 client knows them
_FIELDS = {
    "petitioner.name": "first_name/last_name",
    "petitioner.phone": "phone",
    "petitioner.address": f"attribute[{PETITIONER_ADDRESS}]",
    "petitioner.id_number": f"attribute[{ID_NUMBER}]",
    "petitioner": "first_name/last_name/phone",
    "anonymous": f"attribute[{ANONYMOUS}]",
    "location.address": "address_string",
    "location.region_code": "address_string",
    "location": "address_string",
    "title": "description",
    "content": "description",
    "category": "service_code",
}


def errors_from_problem(problem: dict[str, Any]) -> list[str]:
    """Intake's problem+json as Open311 error descriptions, one per bad field."""
    out = []
    for error in problem.get("errors") or []:
        field = _FIELDS.get(str(error.get("field")), str(error.get("field")))
        text = f"{field}: {error.get('message', 'invalid')}"
        candidates = error.get("candidates") or []
        if candidates:
            text += "; candidates: " + ", ".join(str(c.get("name")) for c in candidates)
        out.append(text)
    return out or [str(problem.get("detail") or "the petition was refused")]


def w3(moment: str | datetime) -> str:
    """A W3C-DTF date-time in China Standard Time, to the second."""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return when.astimezone(CST).replace(microsecond=0).isoformat()


def parse_w3(value: str, field: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as bad:
        example = "2026-11-28T00:00:00Z"
        raise Open311Error(400, f"{field} must be a w3 date-time, e.g. {example}") from bad
    if when.tzinfo is None:
        raise Open311Error(400, f"{field} must carry a time zone (Z or ±hh:mm)")
    return when


def date_range(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The spec's window: at most 90 days, the last 90 days by default."""
    span = timedelta(days=90)
    lo = parse_w3(start, "start_date") if start else None
    hi = parse_w3(end, "end_date") if end else None
    if lo is None and hi is None:
        return now - span, now
    if lo is None:
        assert hi is not None
        return hi - span, hi
    if hi is None:
        return lo, lo + span
    if hi < lo:
        raise Open311Error(400, "end_date must not be before start_date")
    if hi - lo > span:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    return lo, hi


def expected(deadlines: dict[str, Any]) -> str | None:
    """The end of the last day of the running deadline the petitioner waits on."""
    for kind in EXPECTED:
        clock = deadlines.get(kind)
        if clock and clock.get("state") in ("on_time", "due_soon", "overdue"):
            return f"{clock['due']}T23:59:59+08:00"
    return None


def request_from_case(
    view: dict[str, Any], agency: str | None, place: str | None
) -> dict[str, Any]:
    """An Open311 service request from a case view (tracking's, or intake's until tracking
    has the case), as its petitioner sees it."""
    status = str(view["status"])
    service = SERVICES.get(str(view.get("category")))
    moments = [str(e["at"]) for e in view.get("timeline") or [] if e.get("at")]
    updated = max(moments, key=datetime.fromisoformat) if moments else view["received_at"]
    due = expected(view.get("deadlines") or {})
    note = f"{status}: {NOTES.get(status, status)}"
    if view.get("linked_to"):
        note += f"（并入 {view['linked_to']}）"
    legal = view.get("legal_channel") or {}
    return {
        "service_request_id": view["tracking_number"],
        "status": "closed" if status in CLOSED else "open",
        "status_notes": note,
        "service_name": service.name if service else None,
        "service_code": service.code if service else view.get("category"),
        "description": view.get("title"),
        "agency_responsible": agency,
        "service_notice": f"请通过法定途径办理：{legal['name']}" if legal.get("name") else None,
        "requested_datetime": w3(view["received_at"]),
        "updated_datetime": w3(updated),
        "expected_datetime": due,
        "address": place,
    }
