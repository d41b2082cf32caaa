from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.contracts import CaseRouted, PetitionSubmitted
from shared.events import Envelope, InvalidEvent, new_envelope, parse_data, registered_types


def submitted(**over: object) -> PetitionSubmitted:
    base = dict(
        petition_id="c1",
        tracking_number="11010726112800001X",
        kind="grievance",
        channel="web",
        title="t",
        content="c",
        region_code="110107",
        query_code_hash="scrypt$1$1$1$a$b",
        received_at=datetime.now(UTC),
        submitted_at=datetime.now(UTC),
    )
    base.update(over)
    return PetitionSubmitted(**base)  # type: ignore[arg-type]


def test_envelope_is_a_structured_cloudevent_with_correlation() -> None:
    env = new_envelope(submitted(), subject="c1", correlation_id="corr-1", causation_id="e0")
    wire = json.loads(env.to_bytes())
    assert wire["specversion"] == "1.0"
    assert wire["type"] == "intake.petition.submitted.v1"
    assert wire["source"] == "xinfang/intake"
    assert wire["subject"] == "c1"
    assert wire["datacontenttype"] == "application/json"
    assert (wire["correlationid"], wire["causationid"]) == ("corr-1", "e0")
    assert wire["data"]["petition_id"] == "c1"
    assert wire["id"] and wire["time"]


def test_round_trip_gives_the_typed_payload() -> None:
    env = Envelope.from_bytes(
        new_envelope(submitted(), subject="c1", correlation_id="x").to_bytes()
    )
    data = parse_data(env)
    assert isinstance(data, PetitionSubmitted) and data.tracking_number.endswith("X")


def test_newer_producer_fields_are_kept_not_rejected() -> None:
    env = new_envelope(submitted(), subject="c1", correlation_id="x")
    env.data["field_added_later"] = 42
    data = parse_data(Envelope.from_bytes(env.to_bytes()))
    assert data.model_extra == {"field_added_later": 42}


@pytest.mark.parametrize("raw", [b"not json", b"{}", b'{"specversion":"0.3"}', None])
def test_malformed_messages_are_invalid_events(raw: bytes | None) -> None:
    with pytest.raises(InvalidEvent):
        Envelope.from_bytes(raw)


def test_payload_that_does_not_validate_names_the_field() -> None:
    env = new_envelope(submitted(), subject="c1", correlation_id="x")
    del env.data["tracking_number"]
    with pytest.raises(InvalidEvent, match="data.tracking_number"):
        parse_data(env)


def test_registry_holds_each_versioned_type_once() -> None:
    types = registered_types()
    assert types["routing.case.routed.v1"] is CaseRouted
    assert all(t.rsplit(".", 1)[-1].startswith("v") for t in types)
