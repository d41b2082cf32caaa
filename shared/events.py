"""The event envelope (CloudEvents 1.0, structured mode) and the registry of event types.

A payload is a pydantic model registered under its versioned type, e.g.
``intake.petition.submitted.v1``. Adding an optional field is compatible; anything else is a
new type with a new major version, registered beside the old one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class EventData(BaseModel):
    """Base of every event payload. Unknown fields are kept, so newer producers are readable."""

    model_config = ConfigDict(extra="allow", frozen=True)
    TYPE: ClassVar[str]
    SOURCE: ClassVar[str]


class Envelope(BaseModel):
    """A CloudEvent as it travels: the Kafka value is ``model_dump_json()`` of this."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: str = Field(min_length=1)
    causationid: str | None = None
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> Envelope:
        if raw is None:
            raise InvalidEvent("empty message value")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidEvent(
                f"not a CloudEvent: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
            ) from exc


class InvalidEvent(ValueError):
    """A message that can never be processed (not JSON, not a CloudEvent, bad payload)."""


E = TypeVar("E", bound=EventData)
_REGISTRY: dict[str, type[EventData]] = {}


def event_type(type_: str, source: str):  # type: ignore[no-untyped-def]
    """Class decorator registering a payload model under its CloudEvents type."""

    def register(cls: type[E]) -> type[E]:
        if type_ in _REGISTRY:
            raise ValueError(f"event type {type_} registered twice")
        cls.TYPE = type_
        cls.SOURCE = source
        _REGISTRY[type_] = cls
        return cls

    return register


def registered_types() -> dict[str, type[EventData]]:
    return dict(_REGISTRY)


def parse_data(envelope: Envelope) -> EventData:
    """The typed payload of an envelope; ``InvalidEvent`` if its data does not validate."""
    model = _REGISTRY.get(envelope.type)
    if model is None:
        raise InvalidEvent(f"unknown event type {envelope.type}")
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidEvent(f"{envelope.type}: data.{loc}: {first['msg']}") from exc


def new_envelope(
    data: EventData,
    *,
    subject: str,
    correlation_id: str,
    causation_id: str | None = None,
) -> Envelope:
    return Envelope(
        source=data.SOURCE,
        type=data.TYPE,
        subject=subject,
        correlationid=correlation_id,
        causationid=causation_id,
        data=data.model_dump(mode="json"),
    )
