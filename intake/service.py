"""Registering a petition: one transaction writes the petition, its sequence number, the
idempotency record and the outbox event."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from intake.channels import (
    Channel,
    check_open,
    check_scope,
    check_theme_fields,
    routing_unit,
)
from intake.channels_api import load_channel
from intake.enrich import categorize, locate, locate_report
from intake.idempotency import replay_idempotent, request_hash
from intake.matching import find_repeat, find_similar_in_county, remember_bands
from intake.models import idempotency_keys, messaging, petitions, tracking_sequences
from intake.repeats import bands, shingles
from intake.rules import check_reporter_region, identity_unclear, owner_of
from intake.schemas import PetitionCreate, PetitionCreated
from shared import pii, querycode
from shared import tracking_number as numbers
from shared.auth import Principal
from shared.contracts import PetitionCollectiveFlagged, PetitionSubmitted
from shared.db import Database
from shared.errors import Invalid
from shared.events import new_envelope
from shared.logging import correlation_id
from shared.messaging import outbox
from shared.settings import ServiceSettings
from shared.vocabulary import CST, PROACTIVE_CHANNELS, county_of


async def next_sequence(session: AsyncSession, dialect: str, county: str, day) -> int:  # type: ignore[no-untyped-def]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    t = tracking_sequences
    stmt = insert(t).values(county=county, day=day, last=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.county, t.c.day], set_={"last": t.c.last + 1}
    ).returning(t.c.last)
    return int((await session.execute(stmt)).scalar_one())


@dataclass
class Prepared:
    """Everything computed before the transaction: validation, identity, text, location."""

    petition_id: str
    body: PetitionCreate
    principal: Principal
    unclear: bool
    code: str
    code_hash: str
    now: datetime
    received: datetime
    region: str
    county: str
    title: str  # identity masked: what leaves intake
    content: str
    location_address: str | None
    category: str
    category_source: str
    classification_matched: list[str]
    legal_channel: str | None
    legal_channel_name: str | None
    petitioner_key: str | None
    id_number_hmac: str | None
    grams: set[str]
    # Themed channel: the answers to its form (as given, and scrubbed for the event), its
    # priority, response clock and the unit its routing overrides name
    theme_fields: dict[str, str | int | float | bool]
    theme_fields_scrubbed: dict[str, str | int | float | bool]
    priority: int
    target_response_hours: int | None
    routing_unit_id: str | None
    # A grid worker's report, and the village it names when the directory knows only townships
    proactive: bool
    village_code: str | None


def _with_village(address: str | None, village: str | None) -> str | None:
    """The village code stays visible next to the address of a report routed on its township."""
    if not village:
        return address
    note = f"[村级区划代码 {village}]"
    return f"{address} {note}" if address else note


async def prepare(
    settings: ServiceSettings,
    principal: Principal,
    body: PetitionCreate,
    channel: Channel | None = None,
) -> Prepared:
    unclear = identity_unclear(body)
    proactive = body.channel in PROACTIVE_CHANNELS
    village = None
    if proactive:
        region, village = locate_report(body)
    else:
        region = locate(body)
    check_reporter_region(principal, region)
    now = datetime.now(UTC)
    fields: dict[str, str | int | float | bool] = {}
    if channel is not None:
        check_open(channel, now)
        check_scope(channel, region)
        fields = check_theme_fields(channel.fields, body.theme_fields)
    code = querycode.new_code()
    code_hash = await asyncio.to_thread(querycode.hash_code, code, n=settings.query_code_scrypt_n)
    received = body.received_at or now
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    people = ([body.petitioner] if body.petitioner else []) + list(body.representatives)
    own = {
        "names": [x.name for x in people],
        "id_numbers": [x.id_number for x in people],
        "phones": [x.phone for x in people],
        "addresses": [x.address for x in people],
    }
    found = categorize(body, channel.default_category if channel else None)
    p = body.petitioner
    id_hmac = (
        pii.keyed_hash(settings.hmac_key.get_secret_value(), p.id_number)
        if p and p.id_number
        else None
    )
    owner_ref = principal.sub if principal.role == "petitioner" else None
    key = f"acct:{owner_ref}" if owner_ref else (f"id:{id_hmac}" if id_hmac else None)
    return Prepared(
        petition_id=str(uuid.uuid4()),
        body=body,
        principal=principal,
        unclear=unclear,
        code=code,
        code_hash=code_hash,
        now=now,
        received=received,
        region=region,
        county=county_of(region),
        title=pii.scrub_text(body.title, **own),
        content=pii.scrub_text(body.content, **own),
        location_address=_with_village(
            pii.scrub_text(body.location.address, **own) if body.location.address else None,
            village,
        ),
        category=found.category,
        category_source=found.source,
        classification_matched=list(found.matched),
        legal_channel=found.legal_channel,
        legal_channel_name=found.legal_channel_name,
        petitioner_key=key,
        id_number_hmac=id_hmac,
        grams=shingles(body.title + body.content),
        theme_fields=fields,
        theme_fields_scrubbed={
            k: pii.scrub_text(v, **own) if isinstance(v, str) else v for k, v in fields.items()
        },
        priority=channel.priority if channel else 0,
        target_response_hours=channel.target_response_hours if channel else None,
        routing_unit_id=routing_unit(channel, found.category, region) if channel else None,
        proactive=proactive,
        village_code=village,
    )


async def register(
    db: Database,
    settings: ServiceSettings,
    cipher: pii.PiiCipher,
    principal: Principal,
    body: PetitionCreate,
    idempotency_key: str | None,
) -> PetitionCreated:
    channel = None
    if body.theme:
        channel = await load_channel(db, body.theme)
        if channel is None:
            raise Invalid(
                "theme", f"no themed channel has the code '{body.theme}'; see GET /api/v1/channels"
            )
    prep = await prepare(settings, principal, body, channel)
    try:
        async with db.transaction() as s:
            result = await _store(s, db.dialect, settings, cipher, prep)
            if idempotency_key:
                await s.execute(
                    idempotency_keys.insert().values(
                        principal=principal.sub,
                        key=idempotency_key,
                        request_hash=request_hash(body),
                        petition_id=prep.petition_id,
                        response={
                            "sealed": cipher.encrypt(
                                result.model_dump_json(), context=f"idem:{prep.petition_id}"
                            )
                        },
                        created_at=prep.now,
                    )
                )
    except IntegrityError:
        if idempotency_key:  # a concurrent request with the same key won the race
            replay = await replay_idempotent(db, cipher, principal, idempotency_key, body)
            if replay is not None:
                return replay
        raise
    return result


async def _store(
    s: AsyncSession, dialect: str, settings: ServiceSettings, cipher: pii.PiiCipher, prep: Prepared
) -> PetitionCreated:
    body, p, pid = prep.body, prep.body.petitioner, prep.petition_id
    day = prep.now.astimezone(CST).date()
    tracking_number = numbers.make(
        prep.county, day, await next_sequence(s, dialect, prep.county, day)
    )
    repeat = None
    if prep.petitioner_key:
        repeat = await find_repeat(s, prep.petitioner_key, prep.grams, settings.repeat_similarity)
    collective_id = await _collective(s, settings, prep, tracking_number)

    def enc(value: str | None, field: str) -> str | None:
        return cipher.encrypt(value, context=f"{pid}:{field}")

    reps = json.dumps([r.model_dump() for r in body.representatives], ensure_ascii=False)
    owner_ref = owner_of(prep.principal)
    await s.execute(
        petitions.insert().values(
            id=pid,
            tracking_number=tracking_number,
            kind=body.kind,
            channel=body.channel,
            title=body.title,
            content=body.content,
            category=prep.category,
            category_source=prep.category_source,
            legal_channel=prep.legal_channel,
            region_code=prep.region,
            location_address=_with_village(body.location.address, prep.village_code),
            accused_unit_id=body.accused_unit_id,
            anonymous=body.anonymous,
            identity_unclear=prep.unclear,
            owner_ref=owner_ref,
            petitioner_key=prep.petitioner_key,
            repeat_outcome=repeat.outcome if repeat else None,
            repeat_of=repeat.case_id if repeat else None,
            collective_id=collective_id,
            registered_by=f"{prep.principal.role}:{prep.principal.sub}",
            name_enc=enc(p and p.name, "name"),
            id_number_enc=enc(p and p.id_number, "id"),
            phone_enc=enc(p and p.phone, "phone"),
            address_enc=enc(p and p.address, "addr"),
            representatives_enc=enc(reps, "reps") if body.representatives else None,
            name_masked=pii.mask_name(p and p.name),
            id_number_hmac=prep.id_number_hmac,
            headcount=body.headcount,
            attachments=[a.model_dump() for a in body.attachments],
            query_code_hash=prep.code_hash,
            received_at=prep.received,
            submitted_at=prep.now,
            theme=body.theme,
            priority=prep.priority,
            routing_unit_id=prep.routing_unit_id,
            theme_fields_enc=enc(json.dumps(prep.theme_fields, ensure_ascii=False), "theme_fields")
            if prep.theme_fields
            else None,
            proactive=prep.proactive,
            village_code=prep.village_code,
        )
    )
    event = PetitionSubmitted(
        petition_id=pid,
        tracking_number=tracking_number,
        kind=body.kind,
        channel=body.channel,
        title=prep.title,
        content=prep.content,
        category=prep.category,
        category_source=prep.category_source,
        classification_matched=prep.classification_matched,
        legal_channel=prep.legal_channel,
        legal_channel_name=prep.legal_channel_name,
        region_code=prep.region,
        location_address=prep.location_address,
        accused_unit_id=body.accused_unit_id,
        anonymous=body.anonymous,
        identity_unclear=prep.unclear,
        owner_ref=owner_ref,
        petitioner_masked_name=pii.mask_name(p and p.name),
        id_number_hmac=prep.id_number_hmac,
        query_code_hash=prep.code_hash,
        headcount=body.headcount,
        received_at=prep.received,
        submitted_at=prep.now,
        repeat_outcome=repeat.outcome if repeat else None,
        repeat_of=repeat.case_id if repeat else None,
        repeat_of_tracking_number=repeat.tracking_number if repeat else None,
        collective_id=collective_id,
        theme=body.theme,
        priority=prep.priority,
        target_response_hours=prep.target_response_hours,
        routing_unit_id=prep.routing_unit_id,
        theme_fields=prep.theme_fields_scrubbed,
        proactive=prep.proactive,
        representatives=len(body.representatives),
    )
    await outbox.record(
        s,
        messaging,
        settings.topic("intake"),
        new_envelope(event, subject=pid, correlation_id=correlation_id.get() or pid),
    )
    return PetitionCreated(
        petition_id=pid,
        tracking_number=tracking_number,
        tracking_number_display=numbers.display(tracking_number),
        query_code=prep.code,
        region_code=prep.region,
        category=prep.category,
        category_source=prep.category_source,
        classification_matched=prep.classification_matched,
        litigation=prep.category == "litigation",
        legal_channel=prep.legal_channel,
        legal_channel_name=prep.legal_channel_name,
        repeat_outcome=repeat.outcome if repeat else None,
        repeat_of_tracking_number=repeat.tracking_number if repeat else None,
        collective=collective_id is not None,
        proactive=prep.proactive,
        theme=body.theme,
        routing_unit_id=prep.routing_unit_id,
    )


async def _collective(
    s: AsyncSession, settings: ServiceSettings, prep: Prepared, tracking_number: str
) -> str | None:
    """Flag a petition raised by many petitioners: a group visit with a large head count, or
    enough distinct petitioners on the same matter in the county within the window. When the
    threshold is first crossed, the earlier petitions of the group are flagged too."""
    band_list = bands(prep.grams)
    since = prep.now - timedelta(days=settings.collective_window_days)
    similar = await find_similar_in_county(
        s, prep.county, since, prep.grams, band_list, settings.collective_similarity
    )
    await remember_bands(s, prep.petition_id, prep.county, prep.petitioner_key, band_list, prep.now)
    others = {x.petitioner_key for x in similar if x.petitioner_key} - {prep.petitioner_key}
    petitioners = len(others) + (1 if prep.petitioner_key else 0)
    minimum = settings.collective_min_petitioners
    if prep.body.headcount < minimum and petitioners < minimum:
        return None
    if petitioners < minimum:
        return prep.petition_id  # a group visit is collective by itself
    group = next((x.collective_id for x in similar if x.collective_id), None)
    group = group or (similar[0].petition_id if similar else prep.petition_id)
    for x in similar:
        if x.collective_id == group:
            continue
        await s.execute(
            petitions.update().where(petitions.c.id == x.petition_id).values(collective_id=group)
        )
        await outbox.record(
            s,
            messaging,
            settings.topic("intake"),
            new_envelope(
                PetitionCollectiveFlagged(
                    petition_id=x.petition_id,
                    tracking_number=x.tracking_number,
                    collective_id=group,
                    petitioners=petitioners,
                    region_code=prep.county,
                    flagged_at=prep.now,
                ),
                subject=x.petition_id,
                correlation_id=correlation_id.get() or prep.petition_id,
            ),
        )
    return group
