from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag

from shared import pii


def key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def test_encryption_round_trips_and_hides_the_value() -> None:
    c = pii.PiiCipher("k1", key())
    token = c.encrypt("13812345678", context="case1:phone")
    assert token and "13812345678" not in token and token.startswith("k1:")
    assert c.decrypt(token, context="case1:phone") == "13812345678"


def test_ciphertext_is_bound_to_its_case_and_field() -> None:
    c = pii.PiiCipher("k1", key())
    token = c.encrypt("张三", context="case1:name")
    with pytest.raises(InvalidTag):
        c.decrypt(token, context="case2:name")


def test_rotation_reads_old_keys_and_writes_the_new_one() -> None:
    old, new = key(), key()
    token = pii.PiiCipher("k1", old).encrypt("x", context="c")
    rotated = pii.PiiCipher("k2", new, old_keys={"k1": old})
    assert rotated.decrypt(token, context="c") == "x"
    assert rotated.encrypt("x", context="c").startswith("k2:")


def test_masks() -> None:
    assert pii.mask_name("张三") == "张*"
    assert pii.mask_name("欧阳娜娜") == "欧***"
    assert pii.mask_id_number("11010519491231002X") == "110***********002X"
    assert pii.mask_phone("13812345678") == "138****5678"


def test_scrub_masks_own_identity_and_any_id_or_phone_in_text() -> None:
    text = "我是张三，身份证11010519491231002X，电话13812345678，邻居电话13900001111"
    out = pii.scrub_text(
        text, names=["张三"], id_numbers=["11010519491231002X"], phones=["13812345678", None]
    )
    assert "张三" not in out and "11010519491231002X" not in out
    assert "13812345678" not in out and "13900001111" not in out
    assert "张*" in out and "139****1111" in out
    assert "110***********002X" in out and "138****5678" in out


def test_scrub_masks_the_street_part_of_the_own_address_but_not_region_names() -> None:
    out = pii.scrub_text("我住幸福路88号，在石景山区上班", addresses=["北京市石景山区幸福路88号"])
    assert "幸福路88号" not in out and "幸*****" in out
    assert "石景山区" in out
    assert pii.address_detail("辽宁省沈阳市浑南区创新路1号") == "创新路1号"


def test_keyed_hash_matches_equal_ids_only() -> None:
    a = pii.keyed_hash("k", "11010519491231002x")
    assert a == pii.keyed_hash("k", "11010519491231002X")
    assert a != pii.keyed_hash("other", "11010519491231002X")
    assert "11010519491231002" not in a
