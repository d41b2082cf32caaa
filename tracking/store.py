"""How tracking writes a case: every status change goes through :func:`transition`, which
writes the timeline and announces the new status in the same transaction (outbox)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import CaseStatusChanged
from shared.events import EventData, new_envelope
from shared.messaging import outbox
from tracking.models import cases, messaging, timeline


class Writer:
    """Writes for one cause: an event consumed, or a request (its correlation id)."""

    def __init__(
        self, session: AsyncSession, topic: str, correlation_id: str, causation_id: str | None
    ) -> None:
        self.session, self.topic = session, topic
        self.correlation_id, self.causation_id = correlation_id, causation_id

    async def case(self, case_id: str) -> Any:
        return (await self.session.execute(select(cases).where(cases.c.id == case_id))).first()

    async def emit(self, data: EventData, case_id: str) -> None:
        envelope = new_envelope(
            data,
            subject=case_id,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
        )
        await outbox.record(self.session, messaging, self.topic, envelope)

    async def note(
        self,
        case_id: str,
        at: datetime,
        status: str,
        actor: str,
        text: str,
        public: bool = True,
    ) -> None:
        await self.session.execute(
            timeline.insert().values(
                case_id=case_id, at=at, status=status, actor=actor, note=text, public=public
            )
        )

    async def transition(
        self,
        case_id: str,
        number: str,
        previous: str | None,
        status: str,
        at: datetime,
        actor: str,
        text: str,
        unit_id: str | None = None,
        **values: object,
    ) -> None:
        if unit_id:
            values["unit_id"] = unit_id
        await self.session.execute(
            cases.update()
            .where(cases.c.id == case_id)
            .values(status=status, updated_at=datetime.now(UTC), **values)
        )
        await self.note(case_id, at, status, actor, text)
        await self.emit(
            CaseStatusChanged(
                case_id=case_id,
                tracking_number=number,
                status=status,
                previous=previous,
                unit_id=unit_id,
                changed_at=at,
            ),
            case_id,
        )
