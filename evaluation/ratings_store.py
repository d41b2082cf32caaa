"""How evaluation writes ratings and call-back tasks: each change and its event commit in one
transaction (outbox), and every change is claimed with a conditional update, so two requests
(or two replicas) never both apply."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from evaluation import ratings as rules
from evaluation.models import callbacks, messaging, ratings
from shared.calendar import WorkCalendar, default_calendar
from shared.contracts import CallbackCancelled, CallbackOpened, RatingRecorded
from shared.events import EventData, new_envelope
from shared.messaging import outbox
from shared.settings import CommonSettings

RUNNING = ("open", "overdue")  # call-backs still to do


def calendar_of(settings: CommonSettings) -> WorkCalendar:
    return default_calendar(settings.holidays_file)


class Writer:
    """Writes for one cause: an event consumed, a request, or a scan."""

    def __init__(
        self,
        session: AsyncSession,
        settings: CommonSettings,
        correlation_id: str,
        causation_id: str | None = None,
    ) -> None:
        self.session, self.settings = session, settings
        self.topic = settings.topic("evaluation")
        self.calendar = calendar_of(settings)
        self.correlation_id, self.causation_id = correlation_id, causation_id

    async def emit(self, data: EventData, case_id: str) -> None:
        envelope = new_envelope(
            data,
            subject=case_id,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
        )
        await outbox.record(self.session, messaging, self.topic, envelope)

    async def slot(self, case_id: str, moment: str) -> Any:
        q = select(ratings).where(ratings.c.case_id == case_id, ratings.c.moment == moment)
        return (await self.session.execute(q)).first()

    async def open_window(
        self, case: Any, moment: str, at: datetime, unit_id: str | None
    ) -> Any | None:
        """The moment came for a case that may be rated: its window opens (once; a moment
        reached again before any rating, after a move to another unit, starts it afresh).
        Returns the slot, or None for a case that is never rated."""
        if rules.ineligible(case) is not None:
            return None
        closes = rules.window_closes(self.calendar, at, self.settings.rating_window_days)
        now = datetime.now(UTC)
        row = await self.slot(case.case_id, moment)
        if row is None:
            await self.session.execute(
                ratings.insert().values(
                    id=str(uuid.uuid4()),
                    case_id=case.case_id,
                    tracking_number=case.tracking_number,
                    moment=moment,
                    unit_id=unit_id,
                    region_code=case.region_code,
                    opened_at=at,
                    window_closes=closes,
                    state="open",
                    updated_at=now,
                )
            )
        elif row.state == "open" and row.opened_at != at:
            await self.session.execute(
                update(ratings)
                .where(ratings.c.id == row.id, ratings.c.state == "open")
                .values(unit_id=unit_id, opened_at=at, window_closes=closes, updated_at=now)
            )
        return await self.slot(case.case_id, moment)

    async def rate(
        self, slot: Any, *, level: str, comment: str | None, by: str, now: datetime
    ) -> bool:
        """The first rating of a moment; False if someone rated it meanwhile."""
        done = await self.session.execute(
            update(ratings)
            .where(ratings.c.id == slot.id, ratings.c.state == "open")
            .values(
                state="rated",
                level=level,
                comment=comment,
                rated_by=by,
                rated_at=now,
                updated_at=now,
            )
        )
        if done.rowcount != 1:
            return False
        await self._recorded(slot, level, comment, by, now, previous=None)
        if level == rules.DISSATISFIED:
            await self.open_callback(slot, now)
        return True

    async def change(
        self, slot: Any, *, level: str, comment: str | None, by: str, now: datetime
    ) -> bool:
        """A change within the hours allowed; False if it changed meanwhile."""
        done = await self.session.execute(
            update(ratings)
            .where(
                ratings.c.id == slot.id,
                ratings.c.state == "rated",
                ratings.c.changes == slot.changes,
            )
            .values(
                level=level,
                comment=comment,
                rated_by=by,
                changed_at=now,
                changes=slot.changes + 1,
                updated_at=now,
            )
        )
        if done.rowcount != 1:
            return False
        await self._recorded(slot, level, comment, by, now, previous=slot.level)
        was, now_dissatisfied = slot.level == rules.DISSATISFIED, level == rules.DISSATISFIED
        if was and not now_dissatisfied:
            await self.cancel_callbacks(slot, now)
        elif now_dissatisfied and not await self._running(slot.id):
            await self.open_callback(slot, now)
        return True

    async def _recorded(
        self,
        slot: Any,
        level: str,
        comment: str | None,
        by: str,
        now: datetime,
        previous: str | None,
    ) -> None:
        await self.emit(
            RatingRecorded(
                rating_id=slot.id,
                case_id=slot.case_id,
                tracking_number=slot.tracking_number,
                moment=slot.moment,
                level=level,
                unit_id=slot.unit_id,
                region_code=slot.region_code,
                rated_at=now,
                changed=previous is not None,
                previous_level=previous,
                has_comment=bool(comment),
                rated_by=by,
            ),
            slot.case_id,
        )

    async def _running(self, rating_id: str) -> bool:
        q = select(callbacks.c.id).where(
            callbacks.c.rating_id == rating_id, callbacks.c.status.in_(RUNNING)
        )
        return (await self.session.execute(q)).first() is not None

    async def open_callback(self, slot: Any, now: datetime) -> str | None:
        """不满意: the handling unit calls the petitioner back within its own clock. No
        review opens: the petitioner asks for one separately."""
        if slot.unit_id is None:
            return None
        callback_id = str(uuid.uuid4())
        due = self.calendar.due(now, self.settings.callback_days).date
        await self.session.execute(
            callbacks.insert().values(
                id=callback_id,
                rating_id=slot.id,
                case_id=slot.case_id,
                tracking_number=slot.tracking_number,
                moment=slot.moment,
                unit_id=slot.unit_id,
                region_code=slot.region_code,
                status="open",
                opened_at=now,
                due=due,
            )
        )
        await self.emit(
            CallbackOpened(
                callback_id=callback_id,
                rating_id=slot.id,
                case_id=slot.case_id,
                tracking_number=slot.tracking_number,
                moment=slot.moment,
                unit_id=slot.unit_id,
                region_code=slot.region_code,
                opened_at=now,
                due=due,
            ),
            slot.case_id,
        )
        return callback_id

    async def cancel_callbacks(self, slot: Any, now: datetime) -> None:
        q = select(callbacks).where(
            callbacks.c.rating_id == slot.id, callbacks.c.status.in_(RUNNING)
        )
        for cb in (await self.session.execute(q)).all():
            done = await self.session.execute(
                update(callbacks)
                .where(callbacks.c.id == cb.id, callbacks.c.status == cb.status)
                .values(status="cancelled", cancelled_at=now)
            )
            if done.rowcount == 1:
                await self.emit(
                    CallbackCancelled(
                        callback_id=cb.id,
                        case_id=cb.case_id,
                        tracking_number=cb.tracking_number,
                        unit_id=cb.unit_id,
                        cancelled_at=now,
                    ),
                    cb.case_id,
                )
