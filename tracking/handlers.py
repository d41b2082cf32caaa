"""How tracking follows the other services' events. Tracking owns the status: every change
goes through :meth:`tracking.store.Writer.transition`, which writes the timeline and announces
the new status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    CaseAssigned,
    CaseDiverted,
    CaseRegistered,
    CaseRerouted,
    CaseRouted,
    CaseStatusChanged,
    PetitionCollectiveFlagged,
    PetitionSubmitted,
)
from shared.events import Envelope, EventData
from shared.messaging.consumer import Handler, NotReady
from shared.settings import CommonSettings
from shared.vocabulary import CST, MOVABLE_STATUSES
from tracking.clocks import calendar_of
from tracking.models import cases, clocks
from tracking.store import THEME_CLOCK, Writer

REPEAT_NOTES = {
    "linked_duplicate": "same petitioner, same matter as open case {tn}: linked to it, no new "
    "case is opened",
    "not_reaccepted": "same petitioner, same facts as case {tn}, which is concluded: not "
    "accepted again (Art. 36, 37); a notice is given",
}


def handlers(settings: CommonSettings) -> dict[str, Handler]:
    topic = settings.topic("tracking")

    calendar = calendar_of(settings)

    def writer(session: AsyncSession, envelope: Envelope) -> Writer:
        return Writer(session, topic, envelope.correlationid, envelope.id, calendar)

    async def on_submitted(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, PetitionSubmitted)
        w = writer(session, envelope)
        if await w.case(data.petition_id):
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
                theme=data.theme,
                priority=data.priority,
                target_response_hours=data.target_response_hours,
                theme_fields=dict(data.theme_fields) or None,
                proactive=data.proactive,
                representatives=data.representatives,
                received_at=data.received_at,
                registered_at=now,
                updated_at=now,
            )
        )
        first = (
            "registered by a grid worker on rounds (源头化解): no petitioner behind it"
            if data.proactive
            else f"petition received by {data.channel}"
        )
        if data.theme:
            first += f" through the themed channel {data.theme}"
        await w.note(
            data.petition_id,
            data.submitted_at,
            "received",
            "grid_worker" if data.proactive else "intake",
            first,
        )
        if data.target_response_hours:
            await w.start_precise_clock(
                data.petition_id,
                THEME_CLOCK,
                data.received_at,
                data.target_response_hours,
                basis=f"themed channel {data.theme or '-'}: first response within "
                f"{data.target_response_hours} hours of receipt",
            )
        await w.emit(
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
            data.petition_id,
        )
        await w.emit(
            CaseStatusChanged(
                case_id=data.petition_id,
                tracking_number=data.tracking_number,
                status="received",
                changed_at=data.submitted_at,
            ),
            data.petition_id,
        )
        if data.repeat_outcome in REPEAT_NOTES:
            text = REPEAT_NOTES[data.repeat_outcome].format(tn=data.repeat_of_tracking_number)
            await w.transition(
                data.petition_id,
                data.tracking_number,
                "received",
                data.repeat_outcome,
                data.submitted_at,
                "intake",
                text,
            )

    async def assign(w: Writer, case: Any, data: CaseRouted, text: str, revision: int) -> None:
        """Puts the case at the unit routing named (a triage bureau, or a handling unit whose
        clocks start now) and records why, publicly and internally."""
        unit = data.unit_name or data.unit_id
        at = data.routed_at
        common: dict[str, object] = {
            "routed_at": at,
            "routing_revision": revision,
            "transfers": getattr(data, "transfers", 0),
            "objection_allowed": data.objection_allowed,
            "co_unit_ids": list(data.co_unit_ids),
            "review_chain": list(data.review_chain),
            "report_due": data.report_due,
            "reported_at": None,
            # a new unit handles it from the start: acceptance, track, reply deadline
            "track": None,
            "accepted_at": None,
            "reply_due": None,
            "extension_days": None,
            "extension_reason": None,
            "extension_approved_by": None,
        }
        for kind in ("acceptance", "objection", "report", "handling"):
            await w.stop_clock(data.case_id, kind, at, met=None)  # the former unit's clocks
        # the channel's response clock keeps running from receipt, now the new unit's to meet
        await w.session.execute(
            update(clocks)
            .where(
                clocks.c.case_id == data.case_id,
                clocks.c.kind == THEME_CLOCK,
                clocks.c.stopped_at.is_(None),
            )
            .values(unit_id=data.unit_id)
        )
        if data.outcome == "triage":  # the petition bureau must name the handling unit
            await w.transition(
                data.case_id,
                data.tracking_number,
                case.status,
                "triage",
                at,
                "routing",
                text.format(unit=unit),
                unit_id=data.unit_id,
                acceptance_due=None,
                objection_due=None,
                **common,
            )
        else:
            acceptance_due = None
            if not case.identity_unclear:  # no notice can reach an unclear petitioner
                acceptance_due = await w.start_clock(
                    data.case_id,
                    "acceptance",
                    at,
                    settings.acceptance_days,
                    basis="acceptance notice: 15 days from receipt by the unit (Art. 23)",
                    unit_id=data.unit_id,
                )
            objection_due = None
            if data.objection_allowed:
                objection_due = await w.start_clock(
                    data.case_id,
                    "objection",
                    at,
                    settings.objection_working_days,
                    unit="working",
                    basis="jurisdiction objection: 5 working days from receipt (Art. 23)",
                    unit_id=data.unit_id,
                )
            if data.report_due:
                days = (data.report_due - at.astimezone(CST).date()).days
                await w.start_clock(
                    data.case_id,
                    "report",
                    at,
                    max(days, 0),
                    basis="report-back date set by the assigning bureau (交办)",
                    unit_id=data.unit_id,
                )
            await w.transition(
                data.case_id,
                data.tracking_number,
                case.status,
                "routed",
                at,
                "routing",
                text.format(unit=unit),
                unit_id=data.unit_id,
                acceptance_due=acceptance_due,
                objection_due=objection_due,
                **common,
            )
            await w.emit(
                CaseAssigned(
                    case_id=data.case_id,
                    tracking_number=data.tracking_number,
                    status="routed",
                    unit_id=data.unit_id,
                    routed_at=at,
                    acceptance_due=acceptance_due,
                    objection_due=objection_due,
                ),
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
        for note in internal:
            await w.note(data.case_id, at, data.outcome, "routing", note, public=False)

    async def on_routed(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseRouted)
        w = writer(session, envelope)
        case = await w.case(data.case_id)
        if case is None:
            raise NotReady("case not registered yet: waiting for intake.petition.submitted")
        if case.status != "received" or case.unit_id:
            return  # already routed, or concluded by intake: a redelivery or a stale decision
        text = (
            "sent to {unit} to name the handling unit"
            if data.outcome == "triage"
            else "forwarded to {unit}"
        )
        await assign(w, case, data, text, 0)

    async def on_rerouted(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseRerouted)
        w = writer(session, envelope)
        case = await w.case(data.case_id)
        if case is None:
            raise NotReady("case not registered yet: waiting for intake.petition.submitted")
        if data.revision <= case.routing_revision:
            return  # applied already
        unit = data.unit_name or data.unit_id
        if case.status not in MOVABLE_STATUSES:
            await session.execute(
                update(cases)
                .where(cases.c.id == data.case_id)
                .values(routing_revision=data.revision)
            )
            await w.note(
                data.case_id,
                data.routed_at,
                case.status,
                "routing",
                f"routing moved the case to {unit}, but it is {case.status} already: not applied",
                public=False,
            )
            return
        text = {
            "objection": "transferred to {unit}: the previous unit found it outside its remit",
            "operator": "transferred to {unit} by the petition bureau",
            "transfer_cap": f"moved {data.transfers - 1} times: "
            + "{unit} now names the handling unit itself",
        }.get(data.cause, "transferred to {unit}")
        if data.outcome == "triage" and data.cause != "transfer_cap":
            text = "sent to {unit} to name the handling unit"
        await assign(w, case, data, text, data.revision)
        await w.note(
            data.case_id,
            data.routed_at,
            data.outcome,
            data.actor,
            f"moved ({data.cause}) from {data.previous_unit_id or 'no unit'} by {data.actor}: "
            f"{data.reason}",
            public=False,
        )

    async def on_diverted(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseDiverted)
        w = writer(session, envelope)
        case = await w.case(data.case_id)
        if case is None:
            raise NotReady("case not registered yet: waiting for intake.petition.submitted")
        if case.status != "received":
            return
        channel = data.legal_channel_name or "the legal channel that fits the matter"
        await w.transition(
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
        w = writer(session, envelope)
        case = await w.case(data.petition_id)
        if case is None:
            raise NotReady("case not registered yet: waiting for intake.petition.submitted")
        if case.collective_id == data.collective_id:
            return
        await session.execute(
            cases.update()
            .where(cases.c.id == data.petition_id)
            .values(collective_id=data.collective_id, updated_at=datetime.now(UTC))
        )
        await w.note(
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
        CaseRerouted.TYPE: on_rerouted,
        CaseDiverted.TYPE: on_diverted,
        PetitionCollectiveFlagged.TYPE: on_collective,
    }
