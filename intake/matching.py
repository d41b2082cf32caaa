"""The database side of repeats and collective petitions (the rules are in intake.repeats)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.models import case_states, petition_bands, petitions
from intake.repeats import jaccard, repeat_outcome, shingles


@dataclass(frozen=True)
class Repeat:
    outcome: str  # linked_duplicate | not_reaccepted
    case_id: str
    tracking_number: str
    similarity: float


async def find_repeat(
    session: AsyncSession, key: str, grams: set[str], threshold: float
) -> Repeat | None:
    """The same petitioner's most recent petition on the same matter, judged by the status
    of the case it belongs to (a linked duplicate belongs to the case it was linked to)."""
    p = petitions
    earlier = (
        await session.execute(
            select(p.c.id, p.c.title, p.c.content, p.c.repeat_of)
            .where(p.c.petitioner_key == key)
            .order_by(p.c.submitted_at.desc())
            .limit(50)
        )
    ).all()
    for row in earlier:
        similarity = jaccard(grams, shingles(row.title + row.content))
        if similarity < threshold:
            continue
        root = row.repeat_of or row.id
        number = (
            await session.execute(select(p.c.tracking_number).where(p.c.id == root))
        ).scalar_one()
        status = (
            await session.execute(
                select(case_states.c.status).where(case_states.c.petition_id == root)
            )
        ).scalar()
        outcome = repeat_outcome(status or "received")
        return Repeat(outcome, root, number, similarity) if outcome else None
    return None


@dataclass(frozen=True)
class Similar:
    petition_id: str
    tracking_number: str
    petitioner_key: str | None
    collective_id: str | None


async def find_similar_in_county(
    session: AsyncSession,
    county: str,
    since: datetime,
    grams: set[str],
    bands: list[tuple[int, int]],
    threshold: float,
) -> list[Similar]:
    """Recent petitions of the county on the same matter, oldest first."""
    b = petition_bands
    candidates = (
        (
            await session.execute(
                select(b.c.petition_id)
                .distinct()
                .where(
                    b.c.county == county,
                    b.c.submitted_at >= since,
                    or_(*[and_(b.c.band == band, b.c.hash == value) for band, value in bands]),
                )
            )
        )
        .scalars()
        .all()
    )
    if not candidates:
        return []
    p = petitions
    rows = (
        await session.execute(
            select(
                p.c.id,
                p.c.tracking_number,
                p.c.petitioner_key,
                p.c.collective_id,
                p.c.title,
                p.c.content,
            )
            .where(p.c.id.in_(candidates))
            .order_by(p.c.submitted_at)
        )
    ).all()
    return [
        Similar(r.id, r.tracking_number, r.petitioner_key, r.collective_id)
        for r in rows
        if jaccard(grams, shingles(r.title + r.content)) >= threshold
    ]


async def remember_bands(
    session: AsyncSession,
    petition_id: str,
    county: str,
    key: str | None,
    bands: list[tuple[int, int]],
    at: datetime,
) -> None:
    await session.execute(
        petition_bands.insert(),
        [
            {
                "petition_id": petition_id,
                "band": band,
                "hash": value,
                "county": county,
                "petitioner_key": key,
                "submitted_at": at,
            }
            for band, value in bands
        ],
    )
