from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from intake.rules import check_submitter, identity_unclear
from intake.schemas import PetitionCreate
from shared.auth import Principal
from shared.errors import Forbidden, Invalid

FULL = {"name": "张三", "phone": "13812345678", "address": "北京市石景山区鲁谷路1号"}


def body(**over: Any) -> PetitionCreate:
    base: dict[str, Any] = {
        "kind": "grievance",
        "channel": "web",
        "title": "拖欠工资",
        "content": "公司拖欠三个月工资",
        "petitioner": dict(FULL),
        "location": {"region_code": "110107"},
    }
    base.update(over)
    return PetitionCreate.model_validate(base)


def test_complete_online_grievance_is_clear() -> None:
    assert identity_unclear(body()) is False


@pytest.mark.parametrize("missing", ["name", "phone", "address"])
def test_online_grievance_needs_name_phone_address(missing: str) -> None:
    p = {k: v for k, v in FULL.items() if k != missing}
    with pytest.raises(Invalid) as err:
        identity_unclear(body(petitioner=p))
    assert err.value.errors == [
        {"field": f"petitioner.{missing}", "message": pytest.approx(err.value.errors[0]["message"])}
    ]


def test_online_suggestion_needs_name_and_phone_only() -> None:
    assert (
        identity_unclear(
            body(kind="suggestion", petitioner={"name": "李四", "phone": "13812345678"})
        )
        is False
    )


@pytest.mark.parametrize("kind", ["suggestion", "accusation"])
def test_anonymous_allowed_for_suggestions_and_accusations(kind: str) -> None:
    assert identity_unclear(body(kind=kind, anonymous=True, petitioner=None)) is False


def test_anonymous_grievance_is_refused() -> None:
    with pytest.raises(Invalid, match="anonymous"):
        identity_unclear(body(anonymous=True, petitioner=None))


def test_anonymous_with_petitioner_is_refused() -> None:
    with pytest.raises(Invalid, match="petitioner"):
        identity_unclear(body(kind="suggestion", anonymous=True))


@pytest.mark.parametrize("channel", ["letter", "visit", "phone", "fax"])
def test_staff_entered_grievance_without_address_is_identity_unclear(channel: str) -> None:
    assert identity_unclear(body(channel=channel, petitioner={"name": "张三"})) is True
    assert identity_unclear(body(channel=channel, petitioner=None)) is True


def test_staff_entered_accusation_with_name_is_clear() -> None:
    assert (
        identity_unclear(body(kind="accusation", channel="letter", petitioner={"name": "王五"}))
        is False
    )


def test_received_at_only_for_staff_and_not_in_future() -> None:
    past = datetime.now(UTC) - timedelta(days=2)
    assert identity_unclear(body(channel="letter", received_at=past)) is False
    with pytest.raises(Invalid, match="received_at"):
        identity_unclear(body(received_at=past))
    with pytest.raises(Invalid, match="future"):
        identity_unclear(body(channel="letter", received_at=datetime.now(UTC) + timedelta(1)))


def test_group_visit_has_at_most_five_representatives() -> None:
    reps = [{"name": f"代表{i}"} for i in range(6)]
    with pytest.raises(ValidationError) as err:
        body(channel="visit", representatives=reps)
    assert err.value.errors()[0]["loc"] == ("representatives",)


def test_bad_resident_id_is_refused_with_its_field() -> None:
    with pytest.raises(ValidationError) as err:
        body(petitioner={**FULL, "id_number": "110105194912310021"})
    assert err.value.errors()[0]["loc"] == ("petitioner", "id_number")


def test_channels_need_the_right_token() -> None:
    petitioner = Principal(sub="u1", role="petitioner")
    clerk = Principal(sub="c1", role="unit", unit_id="110107:petition_bureau")
    check_submitter(body(), petitioner)
    check_submitter(body(channel="visit"), clerk)
    with pytest.raises(Forbidden):
        check_submitter(body(channel="visit"), petitioner)
    with pytest.raises(Forbidden):
        check_submitter(body(), clerk)
