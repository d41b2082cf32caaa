"""The submission contract (ARCHITECTURE §4). Field limits live here; identity rules that
depend on kind and channel live in ``intake.rules``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.tracking_number import check_char
from shared.vocabulary import CATEGORIES, CHANNELS

Kind = Literal["grievance", "suggestion", "accusation"]
Channel = Literal["web", "mobile", "wechat", "video", "letter", "visit", "phone", "fax", "grid"]
assert set(Channel.__args__) == set(CHANNELS)  # type: ignore[attr-defined]

_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


def valid_resident_id(value: str) -> bool:
    """18 digits (the last may be X) with the ISO 7064 MOD 11-2 check of GB 11643."""
    return (
        bool(re.fullmatch(r"\d{17}[\dXx]", value)) and check_char(value[:17]) == value[17].upper()
    )


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Person(Strict):
    name: str | None = Field(None, min_length=1, max_length=50)
    id_number: str | None = Field(None, description="18-digit resident ID, checksum validated")
    phone: str | None = Field(None, description="mobile (11 digits) or landline with area code")
    address: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, v: str | None) -> str | None:
        if v is not None and not valid_resident_id(v):
            raise ValueError("must be an 18-digit resident ID number with a valid check digit")
        return v.upper() if v else v

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v is not None and not _PHONE.match(v):
            raise ValueError("must be an 11-digit mobile number or a landline like 010-12345678")
        return v


class Location(Strict):
    region_code: str | None = Field(None, description="GB/T 2260 code, 6, 9 or 12 digits")
    address: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("region_code")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\d{6}|\d{9}|\d{12}", v):
            raise ValueError("must be a region code of 6, 9 or 12 digits, e.g. 110107")
        if v is not None and v[:2] == "00":
            raise ValueError("must name a province, prefecture, county or township")
        return v


class Attachment(Strict):
    name: str = Field(min_length=1, max_length=200)
    content_type: str = Field(min_length=3, max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+$")
    size: int = Field(ge=1, le=50 * 1024 * 1024, description="bytes, at most 50 MiB")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="lower-case hex SHA-256")
    url: str = Field(min_length=8, max_length=1000, pattern=r"^https?://")


class PetitionCreate(Strict):
    kind: Kind
    channel: Channel
    title: str = Field(min_length=2, max_length=200)
    content: str = Field(min_length=5, max_length=10000)
    petitioner: Person | None = None
    anonymous: bool = False
    representatives: list[Person] = Field(
        default_factory=list, max_length=5, description="group visits: at most 5 (Art. 20)"
    )
    headcount: int = Field(1, ge=1, le=100000)
    location: Location
    category: str | None = None
    accused_unit_id: str | None = Field(None, min_length=3, max_length=100)
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
    received_at: datetime | None = None
    # A themed channel (专题通道) by its code, and the answers to its extra form fields
    theme: str | None = Field(None, min_length=2, max_length=40)
    theme_fields: dict[str, Any] = Field(default_factory=dict, max_length=20)

    @field_validator("category")
    @classmethod
    def _category(cls, v: str | None) -> str | None:
        if v is not None and v not in CATEGORIES:
            raise ValueError(f"unknown category; use one of: {', '.join(CATEGORIES)}")
        return v


class PetitionCreated(BaseModel):
    petition_id: str
    tracking_number: str
    tracking_number_display: str
    query_code: str
    status: Literal["received"] = "received"
    # What the window needs at once (无差别受理): where, what, and where it goes next
    region_code: str | None = None
    category: str | None = None
    category_source: str | None = None
    classification_matched: list[str] = Field(default_factory=list)
    litigation: bool = False
    legal_channel: str | None = None
    legal_channel_name: str | None = None
    repeat_outcome: str | None = None
    repeat_of_tracking_number: str | None = None
    collective: bool = False
    proactive: bool = False
    theme: str | None = None
    # The unit a themed channel's routing overrides name (routing checks it is active)
    routing_unit_id: str | None = None


class PetitionPublic(BaseModel):
    """Intake's answer for a case tracking has not recorded yet (a few milliseconds)."""

    petition_id: str
    tracking_number: str
    tracking_number_display: str
    status: Literal["received"] = "received"
    kind: str
    channel: str
    title: str
    category: str | None
    region_code: str
    petitioner_name: str | None
    received_at: datetime
    unit: None = None
    deadlines: dict[str, str] = Field(default_factory=dict)
    timeline: list[dict[str, object]] = Field(default_factory=list)
