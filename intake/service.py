"""Registering a petition: one transaction writes the petition, its sequence number, the
idempotency record and the outbox event."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from intake.models import idempotency_keys, messaging, petitions, tracking_sequences
from intake.rules import identity_unclear
from intake.schemas import PetitionCreate, PetitionCreated
from shared import pii, querycode
from shared import tracking_number as numbers
from shared.auth import Principal
from shared.contracts import PetitionSubmitted
from shared.db import Database
from shared.errors import Invalid
from shared.events import new_envelope
from shared.logging import correlation_id
from shared.messaging import outbox
from shared.settings import ServiceSettings
from shared.vocabulary import CST, county_of


def request_hash(body: PetitionCreate) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


async def replay_idempotent(
    db: Database, cipher: pii.PiiCipher, principal: Principal, key: str, body: PetitionCreate
) -> PetitionCreated | None:
    async with db.sessions() as s:
        row = (
            await s.execute(
                select(idempotency_keys).where(
                    idempotency_keys.c.principal == principal.sub, idempotency_keys.c.key == key
                )
            )
        ).first()
    if row is None:
        return None
    if row.request_hash != request_hash(body):
        raise Invalid(
            "Idempotency-Key",
            "this key was already used with a different body; use a new key for a new petition",
        )
    # The stored answer holds the query code, so it is sealed like personal data.
    sealed = cipher.decrypt(row.response["sealed"], context=f"idem:{row.petition_id}")
    return PetitionCreated.model_validate_json(sealed or "{}")


async def next_sequence(session: AsyncSession, dialect: str, county: str, day) -> int:  # type: ignore[no-untyped-def]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    t = tracking_sequences
    stmt = insert(t).values(county=county, day=day, last=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.county, t.c.day], set_={"last": t.c.last + 1}
    ).returning(t.c.last)
    return int((await session.execute(stmt)).scalar_one())


async def register(
    db: Database,
    settings: ServiceSettings,
    cipher: pii.PiiCipher,
    principal: Principal,
    body: PetitionCreate,
    idempotency_key: str | None,
) -> PetitionCreated:
    unclear = identity_unclear(body)
    code = querycode.new_code()
    code_hash = await asyncio.to_thread(querycode.hash_code, code)
    now = datetime.now(UTC)
    received = body.received_at or now
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    petition_id = str(uuid.uuid4())
    region = body.location.region_code or ""
    county = county_of(region)
    p = body.petitioner
    people = ([p] if p else []) + list(body.representatives)
    own = {
        "names": [x.name for x in people],
        "id_numbers": [x.id_number for x in people],
        "phones": [x.phone for x in people],
        "addresses": [x.address for x in people],
    }
    title = pii.scrub_text(body.title, **own)
    content = pii.scrub_text(body.content, **own)
    enc = lambda v, f: cipher.encrypt(v, context=f"{petition_id}:{f}")  # noqa: E731
    reps = json.dumps([r.model_dump() for r in body.representatives], ensure_ascii=False)
    hmac_key = settings.hmac_key.get_secret_value()
    owner_ref = principal.sub if principal.role == "petitioner" else None
    try:
        async with db.transaction() as s:
            seq = await next_sequence(s, db.dialect, county, now.astimezone(CST).date())
            tracking_number = numbers.make(county, now.astimezone(CST).date(), seq)
            result = PetitionCreated(
                petition_id=petition_id,
                tracking_number=tracking_number,
                tracking_number_display=numbers.display(tracking_number),
                query_code=code,
            )
            await s.execute(
                petitions.insert().values(
                    id=petition_id,
                    tracking_number=tracking_number,
                    kind=body.kind,
                    channel=body.channel,
                    title=body.title,
                    content=body.content,
                    category=body.category,
                    region_code=region,
                    location_address=body.location.address,
                    accused_unit_id=body.accused_unit_id,
                    anonymous=body.anonymous,
                    identity_unclear=unclear,
                    owner_ref=owner_ref,
                    registered_by=f"{principal.role}:{principal.sub}",
                    name_enc=enc(p and p.name, "name"),
                    id_number_enc=enc(p and p.id_number, "id"),
                    phone_enc=enc(p and p.phone, "phone"),
                    address_enc=enc(p and p.address, "addr"),
                    representatives_enc=enc(reps, "reps") if body.representatives else None,
                    name_masked=pii.mask_name(p and p.name),
                    id_number_hmac=pii.keyed_hash(hmac_key, p.id_number)
                    if p and p.id_number
                    else None,
                    headcount=body.headcount,
                    attachments=[a.model_dump() for a in body.attachments],
                    query_code_hash=code_hash,
                    received_at=received,
                    submitted_at=now,
                )
            )
            event = PetitionSubmitted(
                petition_id=petition_id,
                tracking_number=tracking_number,
                kind=body.kind,
                channel=body.channel,
                title=title,
                content=content,
                category=body.category,
                region_code=region,
                location_address=pii.scrub_text(body.location.address, **own)
                if body.location.address
                else None,
                accused_unit_id=body.accused_unit_id,
                anonymous=body.anonymous,
                identity_unclear=unclear,
                owner_ref=owner_ref,
                petitioner_masked_name=pii.mask_name(p and p.name),
                id_number_hmac=pii.keyed_hash(hmac_key, p.id_number) if p and p.id_number else None,
                query_code_hash=code_hash,
                headcount=body.headcount,
                received_at=received,
                submitted_at=now,
            )
            await outbox.record(
                s,
                messaging,
                settings.topic("intake"),
                new_envelope(
                    event, subject=petition_id, correlation_id=correlation_id.get() or petition_id
                ),
            )
            if idempotency_key:
                await s.execute(
                    idempotency_keys.insert().values(
                        principal=principal.sub,
                        key=idempotency_key,
                        request_hash=request_hash(body),
                        petition_id=petition_id,
                        response={
                            "sealed": cipher.encrypt(
                                result.model_dump_json(), context=f"idem:{petition_id}"
                            )
                        },
                        created_at=now,
                    )
                )
    except IntegrityError:
        if idempotency_key:  # a concurrent request with the same key won the race
            replay = await replay_idempotent(db, cipher, principal, idempotency_key, body)
            if replay is not None:
                return replay
        raise
    return result
