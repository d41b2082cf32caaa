"""How tracking follows the other services' events. Tracking owns the status: every change
goes through :func:`transition`, which writes the timeline and announces the new status."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    CaseAssigned,
    CaseDiverted,
    CaseRegistered,
    CaseRouted,
    CaseStatusChanged,
    PetitionCollectiveFlagged,
    PetitionSubmitted,
)
from shared.events import Envelope, EventData, new_envelope
from shared.messaging import outbox
from shared.messaging.consumer import Handler, NotReady
from shared.settings import CommonSettings
from tracking.clocks import due_after
from tracking.models import cases, messaging, timeline

REPEAT_NOTES = {
    "linked_duplicate": "same petitioner, same matter as open case {tn}: linked to it, no new "
    "case is opened",
    "not_reaccepted": "same petitioner, same facts as case {tn}, which is concluded: not "
    "accepted again (Art. 36, 37); a notice is given",
}


def handlers(settings: CommonSettings) -> dict[str, Handler]:
    topic = settings.topic("tracking")

    async def emit(session: AsyncSession, data: EventData, cause: Envelope, case_id: str) -> None:
        envelope = new_envelope(
            data, subject=case_id, correlation_id=cause.correlationid, causation_id=cause.id
        )
        await outbox.record(session, messaging, topic, envelope)

    async def note(
        session: AsyncSession,
        case_id: str,
        at: datetime,
        status: str,
        actor: str,
        text: str,
        public: bool = True,
    ) -> None:
        await session.execute(
            timeline.insert().values(
                case_id=case_id, at=at, status=status, actor=actor, note=text, public=public
            )
        )

    async def transition(
        session: AsyncSession,
        cause: Envelope,
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
        await session.execute(
            cases.update()
            .where(cases.c.id == case_id)
            .values(status=status, updated_at=datetime.now(UTC), **values)
        )
        await note(session, case_id, at, status, actor, text)
        await emit(
            session,
            CaseStatusChanged(
                case_id=case_id,
                tracking_number=number,
                status=status,
                previous=previous,
                unit_id=unit_id,
                changed_at=at,
            ),
            cause,
            case_id,
        )

    async def current(session: AsyncSession, case_id: str):  # type: ignore[no-untyped-def]
        return (await session.execute(select(cases).where(cases.c.id == case_id))).first()

    async def on_submitted(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, PetitionSubmitted)
        if await current(session, data.petition_id):
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
                category_source=data.category_source,
                legal_channel=data.legal_channel,
                legal_channel_name=data.legal_channel_name,
                region_code=data.region_code,
                status="received",
                owner_ref=data.owner_ref,
                petitioner_masked_name=data.petitioner_masked_name,
                query_code_hash=data.query_code_hash,
                anonymous=data.anonymous,
                identity_unclear=data.identity_unclear,
                repeat_of=data.repeat_of,
                repeat_of_tracking_number=data.repeat_of_tracking_number,
                collective_id=data.collective_id,
                received_at=data.received_at,
                registered_at=now,
                updated_at=now,
            )
        )
        await note(
            session,
            data.petition_id,
            data.submitted_at,
            "received",
            "intake",
            f"petition received by {data.channel}",
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
        await emit(
            session,
            CaseStatusChanged(
                case_id=data.petition_id,
                tracking_number=data.tracking_number,
                status="received",
                changed_at=data.submitted_at,
            ),
            envelope,
            data.petition_id,
        )
        if data.repeat_outcome in REPEAT_NOTES:
            text = REPEAT_NOTES[data.repeat_outcome].format(tn=data.repeat_of_tracking_number)
            await transition(
                session,
                envelope,
                data.petition_id,
                data.tracking_number,
                "received",
                data.repeat_outcome,
                data.submitted_at,
                "intake",
                text,
            )

    async def on_routed(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseRouted)
        case = await current(session, data.case_id)
        if case is None:
            raise NotReady("case not registered yet: waiting for intake.petition.submitted")
        if case.status != "received":
            return  # already routed, or concluded by intake: a redelivery or a stale decision
        unit = data.unit_name or data.unit_id
        if data.outcome == "triage":  # the petition bureau must name the handling unit
            await transition(
                session,
                envelope,
                data.case_id,
                data.tracking_number,
                "received",
                "triage",
                data.routed_at,
                "routing",
                f"sent to {unit} to name the handling unit",
                unit_id=data.unit_id,
                routed_at=data.routed_at,
            )
        else:
            due = due_after(data.routed_at, settings.acceptance_days)
            await transition(
                session,
                envelope,
                data.case_id,
                data.tracking_number,
                "received",
                "routed",
                data.routed_at,
                "routing",
                f"forwarded to {unit}",
                unit_id=data.unit_id,
                routed_at=data.routed_at,
                acceptance_due=due,
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
        internal = [f"routing rule {data.rule}: {data.explanation}"]
        if data.co_unit_ids:
            internal.append("co-handling units (the lead replies): " + ", ".join(data.co_unit_ids))
        if data.major:
            internal.append(
                "major or urgent matter; told: "
                + (", ".join(data.notify_unit_ids) or "the petition bureau")
            )
        for text in internal:
            await note(
                session, data.case_id, data.routed_at, data.outcome, "routing", text, public=False
            )

    async def on_diverted(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseDiverted)
        case = await current(session, data.case_id)
        if case is None:
            raise NotReady("case not registered yet: waiting for intake.petition.submitted")
        if case.status != "received":
            return
        channel = data.legal_channel_name or "the legal channel that fits the matter"
        await transition(
            session,
            envelope,
            data.case_id,
            data.tracking_number,
            "received",
            "diverted",
            data.diverted_at,
            "routing",
            f"litigation-related (诉访分离): not handled as a petition; use: {channel}",
            unit_id=data.unit_id,
        )

    async def on_collective(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, PetitionCollectiveFlagged)
        case = await current(session, data.petition_id)
        if case is None:
            raise NotReady("case not registered yet: waiting for intake.petition.submitted")
        if case.collective_id == data.collective_id:
            return
        await session.execute(
            cases.update()
            .where(cases.c.id == data.petition_id)
            .values(collective_id=data.collective_id, updated_at=datetime.now(UTC))
        )
        await note(
            session,
            data.petition_id,
            data.flagged_at,
            case.status,
            "intake",
            f"collective: {data.petitioners} petitioners raise the same matter in "
            f"{data.region_code} (group {data.collective_id})",
            public=False,
        )

    return {
        PetitionSubmitted.TYPE: on_submitted,
        CaseRouted.TYPE: on_routed,
        CaseDiverted.TYPE: on_diverted,
        PetitionCollectiveFlagged.TYPE: on_collective,
    }
