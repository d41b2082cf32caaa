"""Evaluation's read model of every case (``case_reads``), kept from intake's and tracking's
events: what ratings need to decide eligibility and authorize the petitioner, and what
scorecards and the situation count. Events of one case come in order per topic, not across
topics: a tracking event before the case is known parks until intake's or tracking's
registration arrives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evaluation.models import case_reads, receptions
from evaluation.ratings_store import Writer
from shared.contracts import (
    CaseAccepted,
    CaseAssigned,
    CaseExtended,
    CaseRegistered,
    CaseReplied,
    CaseStatusChanged,
    PetitionSubmitted,
    ReceptionCancelled,
    ReceptionHeld,
    ReceptionRequested,
    ReceptionScheduled,
    SupervisionOpened,
)
from shared.events import Envelope, EventData
from shared.messaging.consumer import Handler, NotReady
from shared.settings import CommonSettings

# A case in one of these has reached its end (PROCEDURE §6)
FINAL = (
    "diverted",
    "linked_duplicate",
    "not_reaccepted",
    "not_accepted",
    "withdrawn",
    "closed",
    "terminated",
)


async def known(session: AsyncSession, case_id: str) -> Any:
    row = (await session.execute(select(case_reads).where(case_reads.c.case_id == case_id))).first()
    if row is None:
        raise NotReady("case not in the read model yet: waiting for its registration")
    return row


async def change(session: AsyncSession, case_id: str, **values: object) -> None:
    await session.execute(
        case_reads.update()
        .where(case_reads.c.case_id == case_id)
        .values(updated_at=datetime.now(UTC), **values)
    )


def handlers(settings: CommonSettings) -> dict[str, Handler]:
    async def on_submitted(session: AsyncSession, _env: Envelope, data: EventData) -> None:
        assert isinstance(data, PetitionSubmitted)
        facts = {
            "received_at": data.received_at,
            "owner_ref": data.owner_ref,
            "query_code_hash": data.query_code_hash,
            "repeat_of": data.repeat_of,
            "collective_id": data.collective_id,
            "theme": data.theme,
            "proactive": data.proactive,
        }
        exists = (
            await session.execute(
                select(case_reads.c.case_id).where(case_reads.c.case_id == data.petition_id)
            )
        ).first()
        if exists:
            await change(session, data.petition_id, **facts)
            return
        await session.execute(
            case_reads.insert().values(
                case_id=data.petition_id,
                tracking_number=data.tracking_number,
                status="received",
                kind=data.kind,
                channel=data.channel,
                category=data.category,
                region_code=data.region_code,
                anonymous=data.anonymous,
                identity_unclear=data.identity_unclear,
                registered_at=data.submitted_at,
                updated_at=datetime.now(UTC),
                **facts,
            )
        )

    async def on_registered(session: AsyncSession, _env: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseRegistered)
        if (
            await session.execute(
                select(case_reads.c.case_id).where(case_reads.c.case_id == data.case_id)
            )
        ).first():
            return
        await session.execute(
            case_reads.insert().values(
                case_id=data.case_id,
                tracking_number=data.tracking_number,
                status=data.status,
                kind=data.kind,
                channel=data.channel,
                category=data.category,
                region_code=data.region_code,
                anonymous=data.anonymous,
                identity_unclear=data.identity_unclear,
                registered_at=data.registered_at,
                updated_at=datetime.now(UTC),
            )
        )

    async def on_assigned(session: AsyncSession, _env: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseAssigned)
        await known(session, data.case_id)
        await change(
            session,
            data.case_id,
            unit_id=data.unit_id,
            routed_at=data.routed_at,
            acceptance_due=data.acceptance_due,
            # a new unit starts from the beginning
            track=None,
            accepted_at=None,
            reply_due=None,
            extension_days=None,
        )

    async def on_status(session: AsyncSession, _env: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseStatusChanged)
        await known(session, data.case_id)
        values: dict[str, object] = {"status": data.status}
        if data.status in FINAL:
            values["concluded_at"] = data.changed_at
        await change(session, data.case_id, **values)

    async def on_accepted(session: AsyncSession, env: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseAccepted)
        row = await known(session, data.case_id)
        await change(
            session,
            data.case_id,
            track=data.track,
            accepted_at=data.accepted_at,
            reply_due=data.reply_due,
        )
        # the acceptance notice: the petitioner's window to rate it opens (PROCEDURE §8)
        w = Writer(session, settings, env.correlationid, env.id)
        await w.open_window(row, "acceptance", data.accepted_at, data.unit_id)

    async def on_extended(session: AsyncSession, _env: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseExtended)
        await known(session, data.case_id)
        await change(session, data.case_id, extension_days=data.days, reply_due=data.reply_due)

    async def on_replied(session: AsyncSession, env: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseReplied)
        row = await known(session, data.case_id)
        await change(session, data.case_id, replied_at=data.replied_at)
        w = Writer(session, settings, env.correlationid, env.id)
        await w.open_window(row, "reply", data.replied_at, data.unit_id)

    async def on_supervision(session: AsyncSession, _env: Envelope, data: EventData) -> None:
        assert isinstance(data, SupervisionOpened)
        row = await known(session, data.case_id)
        await change(session, data.case_id, supervision_count=row.supervision_count + 1)

    async def on_reception(session: AsyncSession, _env: Envelope, data: EventData) -> None:
        """A reception's latest state: one row per reception, events applied in their order
        (one case's events share a partition), a replay changes nothing."""
        assert isinstance(
            data, ReceptionRequested | ReceptionScheduled | ReceptionCancelled | ReceptionHeld
        )
        now = datetime.now(UTC)
        values: dict[str, object]
        if isinstance(data, ReceptionRequested):
            values = {"status": "requested"}
        elif isinstance(data, ReceptionScheduled):
            values = {
                "status": "scheduled",
                "starts_at": data.starts_at,
                "unit_ids": list(data.unit_ids),
                "reschedules": data.reschedules,
            }
        elif isinstance(data, ReceptionCancelled):
            values = {"status": "cancelled", "recorded_at": data.cancelled_at}
        else:
            values = {
                "status": data.outcome,
                "starts_at": data.starts_at,
                "unit_ids": list(data.unit_ids),
                "recorded_at": data.recorded_at,
            }
        r = receptions.c
        found = (
            await session.execute(select(r.reception_id).where(r.reception_id == data.reception_id))
        ).first()
        if found:
            await session.execute(
                receptions.update()
                .where(r.reception_id == data.reception_id)
                .values(updated_at=now, **values)
            )
            return
        requested_at = data.requested_at if isinstance(data, ReceptionRequested) else now
        await session.execute(
            receptions.insert().values(
                reception_id=data.reception_id,
                case_id=data.case_id,
                tracking_number=data.tracking_number,
                region_code=data.region_code,
                unit_id=data.unit_id,
                requested_at=requested_at,
                updated_at=now,
                **values,
            )
        )

    return {
        ReceptionRequested.TYPE: on_reception,
        ReceptionScheduled.TYPE: on_reception,
        ReceptionCancelled.TYPE: on_reception,
        ReceptionHeld.TYPE: on_reception,
        PetitionSubmitted.TYPE: on_submitted,
        CaseRegistered.TYPE: on_registered,
        CaseAssigned.TYPE: on_assigned,
        CaseStatusChanged.TYPE: on_status,
        CaseAccepted.TYPE: on_accepted,
        CaseExtended.TYPE: on_extended,
        CaseReplied.TYPE: on_replied,
        SupervisionOpened.TYPE: on_supervision,
    }


def consumed(settings: CommonSettings) -> dict[str, Handler]:
    """Everything evaluation's consumer applies: the handlers above, each followed by the
    case's scorecard rollups, and the facts only analytics use (evaluation/rollups.py)."""
    from evaluation.rollups import with_analytics

    return with_analytics(handlers(settings), settings)
