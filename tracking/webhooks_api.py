"""A unit's webhooks: register, list, delete, their deliveries, and replay of one delivery.

A unit manages its own; an operator those of the units in their region. Anyone else's are
answered 404, never 403, so that nobody learns what another unit subscribed to.
"""

from __future__ import annotations

import base64
import ipaddress
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, or_, select, update

import shared.contracts  # noqa: F401 - registers the event types
from shared.auth import Principal, require_role
from shared.contracts import TRACKING
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.events import registered_types
from shared.regions import within
from tracking import webhooks
from tracking.models import webhook_deliveries as deliveries
from tracking.models import webhook_subscriptions as subscriptions

router = APIRouter(prefix="/api/v1/units/{unit_id}/webhooks", tags=["webhooks"])
Staff = Annotated[Principal, Depends(require_role("unit", "operator"))]
MAX_PER_UNIT = 20


def deliverable_types() -> list[str]:
    """Tracking's event types that name a unit: the only ones a webhook can ever receive."""
    return sorted(
        t
        for t, model in registered_types().items()
        if model.SOURCE == TRACKING and "unit_id" in model.model_fields
    )


def url_problem(url: str, production: bool) -> str | None:
    """Why a receiver URL is refused, or None. Production needs https to a public host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "must be an absolute http or https URL"
    if parts.username or parts.password:
        return "must not carry credentials: the secret authenticates the platform"
    if not production:
        return None
    if parts.scheme != "https":
        return "must use https in production"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "must name a public host" if host == "localhost" else None
    return None if address.is_global else "must name a public host"


def check_event_types(types: list[str]) -> list[str]:
    if types == [webhooks.ALL_TYPES]:
        return types
    if webhooks.ALL_TYPES in types:
        raise Invalid("event_types", 'use ["*"] alone for every event type, or list types')
    allowed = deliverable_types()
    unknown = [t for t in types if t not in allowed]
    if unknown:
        raise Invalid(
            "event_types",
            f"unknown or not deliverable: {', '.join(unknown)}",
            allowed=allowed + [webhooks.ALL_TYPES],
        )
    return sorted(set(types))


def check_owner(principal: Principal, unit_id: str) -> None:
    """A unit keeps its own webhooks; an operator those of the units in its region."""
    if principal.role == "unit" and principal.unit_id != unit_id:
        raise Forbidden("a unit keeps only its own webhooks")
    if principal.role == "operator" and not within(unit_id.split(":")[0], principal.region_code):
        raise Forbidden(f"your token is limited to region {principal.region_code}")


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    url: str = Field(
        min_length=1, max_length=2000, description="your receiver; https in production"
    )
    secret: str = Field(
        min_length=16,
        max_length=200,
        description="signs every delivery (HMAC-SHA256); stored encrypted, never shown again",
    )
    event_types: list[str] = Field(
        min_length=1, max_length=50, description='tracking event types, or ["*"] for all'
    )


def _webhook(row: Mapping[str, Any]) -> dict[str, Any]:
    """Everything but the secret."""
    fields = ("id", "unit_id", "url", "event_types", "active", "created_by")
    return {**{f: row[f] for f in fields}, "created_at": row["created_at"].isoformat()}


def _delivery(row: Any) -> dict[str, Any]:
    def iso(at: datetime | None) -> str | None:
        return at.isoformat() if at else None

    return {
        "id": row.id,
        "webhook_id": row.subscription_id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "case_id": row.case_id,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at) if row.status == "pending" else None,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "created_at": iso(row.created_at),
        "delivered_at": iso(row.delivered_at),
    }


@router.post("", status_code=201, summary="Register a webhook (the unit, or an operator)")
async def register_webhook(
    request: Request, response: Response, unit_id: str, body: WebhookCreate, principal: Staff
) -> dict[str, Any]:
    check_owner(principal, unit_id)
    settings = request.app.state.settings
    problem = url_problem(body.url, settings.env == "production")
    if problem:
        raise Invalid("url", problem)
    types = check_event_types(body.event_types)
    webhook_id, now = str(uuid.uuid4()), datetime.now(UTC)
    active = and_(subscriptions.c.unit_id == unit_id, subscriptions.c.active.is_(True))
    async with request.app.state.db.transaction() as s:
        urls = (await s.execute(select(subscriptions.c.url).where(active))).scalars().all()
        if body.url in urls:
            raise Conflict("this unit already has a webhook with this URL; delete it first")
        if len(urls) >= MAX_PER_UNIT:
            raise Conflict(f"a unit may have at most {MAX_PER_UNIT} webhooks; delete one first")
        row = {
            "id": webhook_id,
            "unit_id": unit_id,
            "url": body.url,
            "secret": webhooks.cipher(settings).encrypt(
                body.secret, context=webhooks.secret_context(webhook_id)
            ),
            "event_types": types,
            "active": True,
            "created_by": f"{principal.role}:{principal.sub}"[:200],
            "created_at": now,
        }
        await s.execute(subscriptions.insert().values(**row))
    response.headers["Location"] = f"/api/v1/units/{unit_id}/webhooks/{webhook_id}"
    return _webhook(row)


@router.get("", summary="A unit's webhooks (the secret is never shown)")
async def list_webhooks(request: Request, unit_id: str, principal: Staff) -> dict[str, Any]:
    check_owner(principal, unit_id)
    q = (
        select(subscriptions)
        .where(subscriptions.c.unit_id == unit_id, subscriptions.c.active.is_(True))
        .order_by(subscriptions.c.created_at, subscriptions.c.id)
    )
    async with request.app.state.db.sessions() as s:
        rows = (await s.execute(q)).all()
    return {"items": [_webhook(r._mapping) for r in rows]}


async def _subscription(request: Request, unit_id: str, webhook_id: str) -> Any:
    async with request.app.state.db.sessions() as s:
        row = (
            await s.execute(
                select(subscriptions).where(
                    subscriptions.c.id == webhook_id, subscriptions.c.unit_id == unit_id
                )
            )
        ).first()
    if row is None:
        raise NotFound("no such webhook is visible to you")
    return row


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook")
async def delete_webhook(
    request: Request, unit_id: str, webhook_id: str, principal: Staff
) -> Response:
    """Its pending deliveries are failed at once; its delivery log stays readable."""
    check_owner(principal, unit_id)
    row = await _subscription(request, unit_id, webhook_id)
    if not row.active:
        raise NotFound("no such webhook is visible to you")
    async with request.app.state.db.transaction() as s:
        await s.execute(
            update(subscriptions).where(subscriptions.c.id == webhook_id).values(active=False)
        )
        await s.execute(
            update(deliveries)
            .where(deliveries.c.subscription_id == webhook_id, deliveries.c.status == "pending")
            .values(status="failed", next_attempt_at=None, last_error="webhook deleted")
        )
    return Response(status_code=204)


def _cursor(row: Any) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, delivery_id = raw.partition("|")
        created = datetime.fromisoformat(at)
    except ValueError as exc:
        raise Invalid("cursor", "is not a next_cursor this API gave") from exc
    c = deliveries.c
    return or_(c.created_at < created, and_(c.created_at == created, c.id < delivery_id))


@router.get("/{webhook_id}/deliveries", summary="A webhook's deliveries, newest first")
async def list_deliveries(
    request: Request,
    unit_id: str,
    webhook_id: str,
    principal: Staff,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    status: Literal["pending", "delivered", "failed"] | None = None,
) -> dict[str, Any]:
    check_owner(principal, unit_id)
    await _subscription(request, unit_id, webhook_id)
    q = select(deliveries).where(deliveries.c.subscription_id == webhook_id)
    if status:
        q = q.where(deliveries.c.status == status)
    if cursor:
        q = q.where(_after(cursor))
    q = q.order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc()).limit(limit + 1)
    async with request.app.state.db.sessions() as s:
        rows = (await s.execute(q)).all()
    more = len(rows) > limit
    return {
        "items": [_delivery(r) for r in rows[:limit]],
        "next_cursor": _cursor(rows[limit - 1]) if more else None,
    }


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=202,
    summary="Send a delivery again, now (whatever its status)",
)
async def replay_delivery(
    request: Request, unit_id: str, delivery_id: str, principal: Staff
) -> dict[str, Any]:
    check_owner(principal, unit_id)
    now = datetime.now(UTC)
    async with request.app.state.db.transaction() as s:
        row = (
            await s.execute(
                select(deliveries, subscriptions.c.active)
                .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
                .where(deliveries.c.id == delivery_id, deliveries.c.unit_id == unit_id)
            )
        ).first()
        if row is None:
            raise NotFound("no such delivery is visible to you")
        if not row.active:
            raise Conflict("its webhook was deleted; register the URL again")
        await s.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(status="pending", next_attempt_at=now, delivered_at=None)
        )
        fresh = (await s.execute(select(deliveries).where(deliveries.c.id == delivery_id))).one()
    return _delivery(fresh)
