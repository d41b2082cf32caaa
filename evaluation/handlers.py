from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evaluation.models import case_reads
from shared.contracts import CaseAssigned, CaseRegistered
from shared.events import Envelope, EventData
from shared.messaging.consumer import Handler, NotReady
from shared.settings import CommonSettings


def handlers(_settings: CommonSettings) -> dict[str, Handler]:
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
        if not (
            await session.execute(
                select(case_reads.c.case_id).where(case_reads.c.case_id == data.case_id)
            )
        ).first():
            raise NotReady("case not in the read model yet: waiting for its registration")
        await session.execute(
            case_reads.update()
            .where(case_reads.c.case_id == data.case_id)
            .values(
                status=data.status,
                unit_id=data.unit_id,
                routed_at=data.routed_at,
                acceptance_due=data.acceptance_due,
                updated_at=datetime.now(UTC),
            )
        )

    return {CaseRegistered.TYPE: on_registered, CaseAssigned.TYPE: on_assigned}
