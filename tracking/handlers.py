from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import CaseAssigned, CaseRegistered, CaseRouted, PetitionSubmitted
from shared.events import Envelope, EventData, new_envelope
from shared.messaging import outbox
from shared.messaging.consumer import Handler, NotReady
from shared.settings import CommonSettings
from tracking.clocks import due_after
from tracking.models import cases, messaging, timeline


def handlers(settings: CommonSettings) -> dict[str, Handler]:
    topic = settings.topic("tracking")

    async def emit(session: AsyncSession, data: EventData, cause: Envelope, case_id: str) -> None:
        await outbox.record(
            session,
            messaging,
            topic,
            new_envelope(
                data, subject=case_id, correlation_id=cause.correlationid, causation_id=cause.id
            ),
        )

    async def on_submitted(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, PetitionSubmitted)
        exists = (
            await session.execute(select(cases.c.id).where(cases.c.id == data.petition_id))
        ).first()
        if exists:
            return
        now = datetime.now(UTC)
        await session.execute(
            cases.insert().values(
                id=data.petition_id,
                tracking_number=data.tracking_number,
                kind=data.kind,
                channel=data.channel,
                title=data.title,
                category=data.category,
                region_code=data.region_code,
                status="received",
                owner_ref=data.owner_ref,
                petitioner_masked_name=data.petitioner_masked_name,
                query_code_hash=data.query_code_hash,
                anonymous=data.anonymous,
                identity_unclear=data.identity_unclear,
                received_at=data.received_at,
                registered_at=now,
                updated_at=now,
            )
        )
        await session.execute(
            timeline.insert().values(
                case_id=data.petition_id,
                at=data.submitted_at,
                status="received",
                actor="intake",
                note=f"petition received by {data.channel}",
                public=True,
            )
        )
        await emit(
            session,
            CaseRegistered(
                case_id=data.petition_id,
                tracking_number=data.tracking_number,
                status="received",
                kind=data.kind,
                channel=data.channel,
                category=data.category,
                region_code=data.region_code,
                anonymous=data.anonymous,
                identity_unclear=data.identity_unclear,
                registered_at=now,
            ),
            envelope,
            data.petition_id,
        )

    async def on_routed(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseRouted)
        case = (
            await session.execute(select(cases.c.status).where(cases.c.id == data.case_id))
        ).first()
        if case is None:
            raise NotReady("case not registered yet: waiting for intake.petition.submitted")
        if case.status != "received":
            return  # already routed: a redelivery or a stale decision
        due = due_after(data.routed_at, settings.acceptance_days)
        await session.execute(
            cases.update()
            .where(cases.c.id == data.case_id)
            .values(
                status="routed",
                unit_id=data.unit_id,
                routed_at=data.routed_at,
                acceptance_due=due,
                updated_at=datetime.now(UTC),
            )
        )
        await session.execute(
            timeline.insert().values(
                case_id=data.case_id,
                at=data.routed_at,
                status="routed",
                actor="routing",
                note=f"forwarded to {data.unit_name or data.unit_id}",
                public=True,
            )
        )
        await session.execute(
            timeline.insert().values(
                case_id=data.case_id,
                at=data.routed_at,
                status="routed",
                actor="routing",
                note=f"routing rule {data.rule}: {data.explanation}",
                public=False,
            )
        )
        await emit(
            session,
            CaseAssigned(
                case_id=data.case_id,
                tracking_number=data.tracking_number,
                status="routed",
                unit_id=data.unit_id,
                routed_at=data.routed_at,
                acceptance_due=due,
            ),
            envelope,
            data.case_id,
        )

    return {PetitionSubmitted.TYPE: on_submitted, CaseRouted.TYPE: on_routed}
