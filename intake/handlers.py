"""Intake follows case status from tracking, to tell open cases from concluded ones when the
same petitioner comes back with the same matter."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from intake.models import case_states
from shared.contracts import CaseStatusChanged
from shared.events import Envelope, EventData
from shared.messaging.consumer import Handler
from shared.settings import CommonSettings


def handlers(_settings: CommonSettings) -> dict[str, Handler]:
    async def on_status(session: AsyncSession, _env: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseStatusChanged)
        dialect = session.bind.dialect.name if session.bind else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        values = {"status": data.status, "updated_at": data.changed_at}
        if data.unit_id:
            values["unit_id"] = data.unit_id
        stmt = insert(case_states).values(petition_id=data.case_id, **values)
        # Events of one case arrive in order (one key, one partition); never go back in time.
        stmt = stmt.on_conflict_do_update(
            index_elements=[case_states.c.petition_id],
            set_=values,
            where=case_states.c.updated_at <= data.changed_at,
        )
        await session.execute(stmt)

    return {CaseStatusChanged.TYPE: on_status}
