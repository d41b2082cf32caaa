"""Idempotency-Key: a retry with the same key and body gets the first answer, never a
second petition; the same key with another body is refused. Keys are kept (at least the 24 h a
client may retry in; in practice as long as the petition)."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from intake.models import idempotency_keys
from intake.schemas import PetitionCreate, PetitionCreated
from shared import pii
from shared.auth import Principal
from shared.db import Database
from shared.errors import Invalid


def request_hash(body: PetitionCreate) -> str:
    # A body without a theme hashes as it did before themed channels existed, so keys stored
    # then still replay.
    unused = {"theme", "theme_fields"} if not body.theme and not body.theme_fields else None
    return hashlib.sha256(body.model_dump_json(exclude=unused).encode()).hexdigest()


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
