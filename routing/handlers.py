from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing.models import decisions, messaging
from routing.rules import route
from shared.contracts import CaseDiverted, CaseRouted, PetitionSubmitted
from shared.events import Envelope, EventData, new_envelope
from shared.messaging import outbox
from shared.messaging.consumer import Handler
from shared.settings import CommonSettings


def handlers(settings: CommonSettings) -> dict[str, Handler]:
    topic = settings.topic("routing")

    async def on_submitted(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, PetitionSubmitted)
        done = (
            await session.execute(
                select(decisions.c.case_id).where(decisions.c.case_id == data.petition_id)
            )
        ).first()
        if done or data.repeat_outcome:
            return  # one decision per case; a repeat joins its earlier case, not a new route
        decision = route(data.region_code, data.category)
        now = datetime.now(UTC)
        await session.execute(
            decisions.insert().values(
                case_id=data.petition_id,
                tracking_number=data.tracking_number,
                unit_id=decision.unit_id,
                function=decision.function,
                region_code=decision.region_code,
                level=decision.level,
                rule=decision.rule,
                explanation=decision.explanation,
                decided_at=now,
            )
        )
        event: CaseRouted | CaseDiverted
        if decision.divert:
            event = CaseDiverted(
                case_id=data.petition_id,
                tracking_number=data.tracking_number,
                unit_id=decision.unit_id,
                region_code=decision.region_code,
                legal_channel=data.legal_channel,
                legal_channel_name=data.legal_channel_name,
                rule=decision.rule,
                explanation=decision.explanation,
                diverted_at=now,
            )
        else:
            event = CaseRouted(
                case_id=data.petition_id,
                tracking_number=data.tracking_number,
                unit_id=decision.unit_id,
                function=decision.function,
                region_code=decision.region_code,
                level=decision.level,
                rule=decision.rule,
                explanation=decision.explanation,
                routed_at=now,
            )
        await outbox.record(
            session,
            messaging,
            topic,
            new_envelope(
                event,
                subject=data.petition_id,
                correlation_id=envelope.correlationid,
                causation_id=envelope.id,
            ),
        )

    return {PetitionSubmitted.TYPE: on_submitted}
