from __future__ import annotations

from datetime import date

import pytest

from intake.schemas import valid_resident_id
from shared import querycode
from shared import tracking_number as numbers
from shared.vocabulary import short_region


def test_check_character_is_the_resident_id_scheme() -> None:
    # 11010519491231002X is the standard's published example of a resident ID.
    assert numbers.check_char("11010519491231002") == "X"
    assert valid_resident_id("11010519491231002X")
    assert not valid_resident_id("110105194912310021")


def test_tracking_number_layout_and_display() -> None:
    n = numbers.make("110107", date(2026, 11, 28), 123)
    assert len(n) == 18 and n.startswith("11010726112800123")
    assert numbers.is_valid(n)
    assert numbers.display(n) == f"110107-261128-00123-{n[-1]}"
    assert numbers.is_valid(numbers.display(n).lower())


def test_a_single_wrong_digit_is_caught() -> None:
    n = numbers.make("110107", date(2026, 11, 28), 123)
    wrong = n[:10] + str((int(n[10]) + 1) % 10) + n[11:]
    assert not numbers.is_valid(wrong)


@pytest.mark.parametrize("seq", [0, 100000])
def test_sequence_bounds(seq: int) -> None:
    with pytest.raises(ValueError):
        numbers.make("110107", date(2026, 11, 28), seq)


def test_query_codes_avoid_look_alikes_and_verify_only_their_hash() -> None:
    code = querycode.new_code()
    assert len(code) == 8 and not set(code) & set("0O1IL")
    stored = querycode.hash_code(code)
    assert code not in stored and stored.startswith("scrypt$")
    assert querycode.verify(code.lower(), stored)
    assert querycode.verify(f"{code[:4]}-{code[4:]}", stored)
    assert not querycode.verify("ABCDEFGH", stored)
    assert querycode.hash_code(code) != stored  # a fresh salt each time


def test_region_codes_show_their_shortest_form() -> None:
    assert short_region("110107000000") == "110107"
    assert short_region("110107011000") == "110107011"
    assert short_region("110107011001") == "110107011001"


def test_query_code_work_factor_is_a_setting_that_travels_with_the_hash() -> None:
    code = querycode.new_code()
    light = querycode.hash_code(code, n=2**10)
    assert light.startswith("scrypt$1024$")
    assert querycode.verify(code, light)  # old and new hashes verify whatever the setting
    assert querycode.hash_code(code).startswith(f"scrypt${2**14}$")


def test_a_weaker_query_code_hash_is_refused_in_production() -> None:
    from shared.settings import CommonSettings

    assert CommonSettings(env="test", query_code_scrypt_n=2**10).query_code_scrypt_n == 1024
    with pytest.raises(ValueError, match="power of two"):
        CommonSettings(query_code_scrypt_n=3000)
    with pytest.raises(ValueError, match="refused in production"):
        CommonSettings(env="production", jwt_secret="x" * 40, query_code_scrypt_n=2**12)
    assert CommonSettings(env="production", jwt_secret="x" * 40).query_code_scrypt_n == 2**14
