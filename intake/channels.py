"""Themed channels (专题通道): what an operator opens, and the pure rules a petition through
one must meet (open now, located within its scope, its extra form fields answered)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.errors import Invalid
from shared.regions import within
from shared.vocabulary import CATEGORIES

CODE = r"^[a-z0-9][a-z0-9-]{1,39}$"
FIELD_NAME = r"^[a-z][a-z0-9_]{0,39}$"
_REGION = re.compile(r"\d{6}|\d{9}|\d{12}")

FieldType = Literal["string", "integer", "number", "boolean", "date", "enum"]
State = Literal["scheduled", "open", "closed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _region_code(v: str | None) -> str | None:
    if v is not None and (not _REGION.fullmatch(v) or v[:2] == "00"):
        raise ValueError("must be a region code of 6, 9 or 12 digits, e.g. 110107")
    return v


def _aware(v: datetime | None) -> datetime | None:
    return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v


class ChannelField(_Strict):
    """One extra form field of a channel."""

    name: str = Field(pattern=FIELD_NAME)
    label: str = Field(min_length=1, max_length=100)
    type: FieldType
    required: bool = False
    max_length: int | None = Field(None, ge=1, le=2000, description="string: default 500")
    min: float | None = Field(None, description="integer and number fields")
    max: float | None = None
    options: list[str] | None = Field(None, min_length=1, max_length=50, description="enum")

    @model_validator(mode="after")
    def _by_type(self) -> ChannelField:
        if self.max_length is not None and self.type != "string":
            raise ValueError(f"max_length is for string fields, not {self.type}")
        if self.type == "string" and self.max_length is None:
            self.max_length = 500
        if (self.min is not None or self.max is not None) and self.type not in (
            "integer",
            "number",
        ):
            raise ValueError(f"min and max are for integer and number fields, not {self.type}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        if self.type == "enum":
            if not self.options:
                raise ValueError("an enum field needs options (1 to 50 strings)")
            if any(not o or len(o) > 100 for o in self.options):
                raise ValueError("each option has 1 to 100 characters")
            if len(set(self.options)) != len(self.options):
                raise ValueError("options must be distinct")
        elif self.options is not None:
            raise ValueError(f"options are for enum fields, not {self.type}")
        return self


class RoutingOverride(_Strict):
    """Petitions of this category (None: any) located within this scope (None: anywhere) go
    to this unit. The first matching override of the list decides."""

    category: str | None = None
    region_code: str | None = None
    unit_id: str = Field(min_length=3, max_length=100)

    @field_validator("category")
    @classmethod
    def _category(cls, v: str | None) -> str | None:
        if v is not None and v not in CATEGORIES:
            raise ValueError(f"unknown category; use one of: {', '.join(CATEGORIES)}")
        return v

    @field_validator("region_code")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        return _region_code(v)


def _unique_names(fields: list[ChannelField]) -> list[ChannelField]:
    seen: set[str] = set()
    for f in fields:
        if f.name in seen:
            raise ValueError(f"field name '{f.name}' is used twice")
        seen.add(f.name)
    return fields


class ChannelCreate(_Strict):
    code: str = Field(pattern=CODE, description="slug: a-z, 0-9 and -, 2 to 40 characters")
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)
    region_code: str | None = Field(None, description="scope: petitions must lie within it")
    opens_at: datetime | None = Field(None, description="default: now")
    closes_at: datetime | None = None
    default_category: str | None = None
    priority: int = Field(1, ge=0, le=9, description="0 normal; higher jumps the queues")
    target_response_hours: int | None = Field(None, ge=1, le=720)
    fields: list[ChannelField] = Field(default_factory=list, max_length=20)
    routing_overrides: list[RoutingOverride] = Field(default_factory=list, max_length=50)

    @field_validator("region_code")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        return _region_code(v)

    @field_validator("fields")
    @classmethod
    def _names(cls, v: list[ChannelField]) -> list[ChannelField]:
        return _unique_names(v)

    @field_validator("opens_at", "closes_at")
    @classmethod
    def _when(cls, v: datetime | None) -> datetime | None:
        return _aware(v)

    @field_validator("default_category")
    @classmethod
    def _category(cls, v: str | None) -> str | None:
        if v is not None and v not in CATEGORIES:
            raise ValueError(f"unknown category; use one of: {', '.join(CATEGORIES)}")
        return v


class ChannelPatch(_Strict):
    """Only the fields sent change; ``closes_at: null`` removes the end date, ``description:
    null`` the description."""

    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)
    closes_at: datetime | None = None
    priority: int | None = Field(None, ge=0, le=9)
    target_response_hours: int | None = Field(None, ge=1, le=720)
    routing_overrides: list[RoutingOverride] | None = Field(None, max_length=50)

    @field_validator("closes_at")
    @classmethod
    def _when(cls, v: datetime | None) -> datetime | None:
        return _aware(v)

    @model_validator(mode="after")
    def _not_null(self) -> ChannelPatch:
        for name in ("name", "priority", "routing_overrides"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ChannelOut(BaseModel):
    code: str
    name: str
    description: str | None
    region_code: str | None
    opens_at: datetime
    closes_at: datetime | None
    closed_at: datetime | None
    state: State
    default_category: str | None
    priority: int
    target_response_hours: int | None
    fields: list[ChannelField]
    routing_overrides: list[RoutingOverride]
    created_at: datetime
    updated_at: datetime


class ChannelList(BaseModel):
    channels: list[ChannelOut]


@dataclass(frozen=True)
class Channel:
    """A stored channel, as the submission rules see it."""

    code: str
    name: str
    region_code: str | None
    opens_at: datetime
    closes_at: datetime | None
    closed_at: datetime | None
    default_category: str | None
    priority: int
    target_response_hours: int | None
    fields: tuple[ChannelField, ...]
    routing_overrides: tuple[RoutingOverride, ...]

    @classmethod
    def from_row(cls, row: Any) -> Channel:
        return cls(
            code=row.code,
            name=row.name,
            region_code=row.region_code,
            opens_at=row.opens_at,
            closes_at=row.closes_at,
            closed_at=row.closed_at,
            default_category=row.default_category,
            priority=row.priority,
            target_response_hours=row.target_response_hours,
            fields=tuple(ChannelField.model_validate(f) for f in row.fields or []),
            routing_overrides=tuple(
                RoutingOverride.model_validate(o) for o in row.routing_overrides or []
            ),
        )


def state_of(
    opens_at: datetime, closes_at: datetime | None, closed_at: datetime | None, now: datetime
) -> State:
    if closed_at is not None or (closes_at is not None and now >= closes_at):
        return "closed"
    return "scheduled" if now < opens_at else "open"


def _when(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="minutes").replace("+00:00", "Z")


def check_open(channel: Channel, now: datetime) -> None:
    """A petition goes through an open channel only: 422 on ``theme`` saying since or until
    when otherwise."""
    if channel.closed_at is not None:
        raise Invalid(
            "theme",
            f"channel '{channel.code}' was closed on {_when(channel.closed_at)}; "
            "submit without a theme",
        )
    if channel.closes_at is not None and now >= channel.closes_at:
        raise Invalid(
            "theme",
            f"channel '{channel.code}' closed on {_when(channel.closes_at)}; "
            "submit without a theme",
        )
    if now < channel.opens_at:
        raise Invalid(
            "theme",
            f"channel '{channel.code}' opens on {_when(channel.opens_at)}; "
            "it does not take petitions until then",
        )


def check_scope(channel: Channel, region_code: str) -> None:
    if not within(region_code, channel.region_code):
        raise Invalid(
            "location.region_code",
            f"channel '{channel.code}' takes petitions located within {channel.region_code} "
            f"only; {region_code} lies outside it",
        )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_value(spec: ChannelField, value: Any) -> str | int | float | bool:
    """The value as stored, or ValueError saying what is wrong."""
    if spec.type == "string":
        if not isinstance(value, str):
            raise ValueError("must be text")
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise ValueError(f"is {len(value)} characters long; at most {spec.max_length}")
        return value
    if spec.type == "boolean":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if spec.type == "date":
        if not isinstance(value, str):
            raise ValueError("must be a date like 2026-11-28")
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValueError("must be a date like 2026-11-28") from None
    if spec.type == "enum":
        if not isinstance(value, str) or value not in (spec.options or []):
            raise ValueError(f"must be one of: {', '.join(spec.options or [])}")
        return value
    # integer, number
    if spec.type == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("must be a whole number")
    elif not _number(value):
        raise ValueError("must be a number")
    if spec.min is not None and value < spec.min:
        raise ValueError(f"must be at least {_fmt(spec.min)}")
    if spec.max is not None and value > spec.max:
        raise ValueError(f"must be at most {_fmt(spec.max)}")
    return value  # type: ignore[no-any-return]


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def check_theme_fields(
    fields: tuple[ChannelField, ...] | list[ChannelField], values: dict[str, Any]
) -> dict[str, str | int | float | bool]:
    """The answers, checked against the channel's form: 422 on ``theme_fields.<name>``."""
    specs = {f.name: f for f in fields}
    for name in values:
        if name not in specs:
            known = ", ".join(specs) or "none"
            raise Invalid(
                f"theme_fields.{name}", f"this channel has no field '{name}'; its fields: {known}"
            )
    out: dict[str, str | int | float | bool] = {}
    for spec in fields:
        value = values.get(spec.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.required:
                raise Invalid(f"theme_fields.{spec.name}", f"「{spec.label}」 is required")
            continue
        try:
            out[spec.name] = _check_value(spec, value)
        except ValueError as wrong:
            raise Invalid(f"theme_fields.{spec.name}", f"「{spec.label}」 {wrong}") from None
    return out


def routing_unit(channel: Channel, category: str, region_code: str) -> str | None:
    """The unit the first matching override names. A litigation-related matter is diverted
    (诉访分离): only an override naming the category litigation itself applies to it."""
    for o in channel.routing_overrides:
        if o.category is None and category == "litigation":
            continue
        if o.category not in (None, category):
            continue
        if o.region_code and not within(region_code, o.region_code):
            continue
        return o.unit_id
    return None
