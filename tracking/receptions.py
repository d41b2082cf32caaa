"""Video and joint receptions (视频接访 / 联合接访): the rules without I/O, and the reminders
the clock scheduler sends ahead of a reception's start.

The petition bureau of the case's county receives; it proposes slots on official working days
inside the reception hours (China time), invites the handling and co-handling units, the
petitioner confirms one, the bureau records the outcome. Xinfang carries no video: the meeting
link comes from a configured template (``XINFANG_RECEPTION_MEETING_URL``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from shared.auth import Principal
from shared.calendar import WorkCalendar
from shared.contracts import NotificationRequested, ReceptionReminder
from shared.db import Database
from shared.regions import scope_prefix, within
from shared.settings import CommonSettings
from shared.vocabulary import CST, county_of
from tracking.clocks import calendar_of
from tracking.models import cases, receptions
from tracking.store import Writer

log = logging.getLogger(__name__)

BUREAU = "petition_bureau"
STATUSES = ("requested", "proposed", "scheduled", "held", "no_show", "cancelled")
OPEN = ("requested", "proposed", "scheduled")
DONE = ("held", "no_show", "cancelled")
# A case that is over takes no reception
FINAL_CASE_STATUSES = (
    "diverted",
    "linked_duplicate",
    "not_reaccepted",
    "not_accepted",
    "withdrawn",
    "closed",
    "terminated",
)

Period = tuple[int, int]  # minutes after midnight, China time


# --- who is who (pure) ------------------------------------------------------------------------


def bureau_of(region_code: str) -> str:
    """The petition bureau that receives for a case: its county's."""
    return f"{county_of(region_code)}:{BUREAU}"


def is_bureau(principal: Principal, region_code: str) -> bool:
    """An operator whose region covers the case (or who has no region claim), or a petition
    bureau whose region contains it (the county's, the city's, the province's)."""
    if principal.role == "operator":
        return within(region_code, principal.region_code)
    if principal.role == "unit" and principal.unit_id:
        prefix, _, function = principal.unit_id.partition(":")
        return function == BUREAU and bool(prefix) and region_code.startswith(scope_prefix(prefix))
    return False


def is_petitioner(principal: Principal, case: Any) -> bool:
    return (
        principal.role == "petitioner"
        and case.owner_ref is not None
        and principal.sub == case.owner_ref
        and not case.proactive
    )


def is_handler(principal: Principal, case: Any) -> bool:
    return (
        principal.role == "unit"
        and principal.unit_id is not None
        and (principal.unit_id == case.unit_id)
    )


def takes_part(principal: Principal, row: Any) -> bool:
    return principal.role == "unit" and principal.unit_id in (row.unit_ids or [])


def participants(bureau: str, lead: str | None, co: Iterable[str] | None) -> list[tuple[str, str]]:
    """(unit, role) of every unit taking part: the bureau, the lead, the co-handlers, each once."""
    out: list[tuple[str, str]] = [(bureau, "bureau")]
    for unit, role in [(lead, "lead")] + [(c, "co") for c in co or []]:
        if unit and unit not in [u for u, _ in out]:
            out.append((unit, role))
    return out


# --- slots (pure) -----------------------------------------------------------------------------


def parse_hours(spec: str) -> list[Period]:
    """``"09:00-12:00,13:30-17:30"`` as periods of a day, in minutes after midnight."""
    periods = []
    for part in spec.split(","):
        start, end = (_minutes(p) for p in part.split("-"))
        periods.append((start, end))
    return periods


def _minutes(text: str) -> int:
    h, m = (int(x) for x in text.strip().split(":"))
    return h * 60 + m


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def slot_problem(
    start: datetime,
    minutes: int,
    now: datetime,
    calendar: WorkCalendar,
    periods: Sequence[Period],
) -> str | None:
    """Why a slot is refused, or None: in the future, on an official working day, the whole
    slot [start, start + minutes] inside one reception period (China time)."""
    if start.tzinfo is None:
        return "give a time zone (…Z or +08:00)"
    if start <= now:
        return "must be in the future"
    local = start.astimezone(CST)
    if not calendar.is_workday(local.date()):
        return f"{local.date().isoformat()} is not an official working day"
    first = local.hour * 60 + local.minute + (local.second or local.microsecond > 0) / 60
    last = first + minutes
    if any(a <= first and last <= b for a, b in periods):
        return None
    hours = ", ".join(f"{_clock(a)}-{_clock(b)}" for a, b in periods)
    end = local + timedelta(minutes=minutes)
    return (
        f"{local:%H:%M}-{end:%H:%M} China time is not inside one reception period ({hours}); "
        "a slot does not straddle a break"
    )


def due_leads(
    starts_at: datetime, now: datetime, leads: Iterable[int], sent: Iterable[int]
) -> list[int]:
    """The reminder leads (minutes) due now and not sent yet, for a reception not started."""
    if starts_at <= now:
        return []
    done = set(sent)
    return sorted(
        m for m in set(leads) if m not in done and starts_at - now <= timedelta(minutes=m)
    )


def meeting_url(template: str, reception_id: str) -> str:
    return template.replace("{reception_id}", reception_id)


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


# --- reminders (the clock scheduler's replica) ----------------------------------------------


async def remind(db: Database, settings: CommonSettings, now: datetime) -> int:
    """One reminder per unit taking part (their webhooks), and a notice to the petitioner,
    for every scheduled reception whose start is within a reminder lead not sent yet. When
    several leads have come at once (scheduled at short notice) only the nearest is sent, and
    all of them are recorded. Returns how many receptions were reminded."""
    leads = list(settings.reception_reminder_minutes)
    if not leads:
        return 0
    horizon = now + timedelta(minutes=max(leads))
    q = (
        select(receptions, cases.c.owner_ref, cases.c.proactive)
        .join(cases, cases.c.id == receptions.c.case_id)
        .where(
            receptions.c.status == "scheduled",
            receptions.c.starts_at > now,
            receptions.c.starts_at <= horizon,
        )
        .order_by(receptions.c.starts_at)
    )
    if db.dialect == "postgresql":
        q = q.with_for_update(of=receptions, skip_locked=True)
    calendar = calendar_of(settings)
    done = 0
    async with db.transaction() as s:
        for row in (await s.execute(q)).all():
            due = due_leads(row.starts_at, now, leads, row.reminders_sent or [])
            if not due:
                continue
            claimed = await s.execute(
                update(receptions)
                .where(
                    receptions.c.id == row.id,
                    receptions.c.status == "scheduled",
                    receptions.c.starts_at == row.starts_at,
                )
                .values(reminders_sent=sorted({*(row.reminders_sent or []), *due}))
            )
            if claimed.rowcount != 1:
                continue
            lead = due[0]
            w = Writer(s, settings.topic("tracking"), row.case_id, None, calendar)
            for unit in row.unit_ids or []:
                await w.emit(
                    ReceptionReminder(
                        reception_id=row.id,
                        case_id=row.case_id,
                        tracking_number=row.tracking_number,
                        unit_id=unit,
                        starts_at=row.starts_at,
                        meeting_url=row.meeting_url or "",
                        lead_minutes=lead,
                        reminded_at=now,
                    ),
                    row.case_id,
                )
            if not row.proactive:
                await w.emit(
                    NotificationRequested(
                        case_id=row.case_id,
                        tracking_number=row.tracking_number,
                        template="reception.reminder",
                        recipient_ref=row.owner_ref,
                        params={
                            "starts_at": iso(row.starts_at) or "",
                            "meeting_url": row.meeting_url or "",
                            "lead_minutes": str(lead),
                        },
                        requested_at=now,
                    ),
                    row.case_id,
                )
            done += 1
    return done
