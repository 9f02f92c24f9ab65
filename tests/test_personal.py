"""Resident ID numbers (GB 11643): checksum, dates, old 15-digit numbers, masking."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum.cn import ric

from assoc_ledger.core.personal import ResidentIdError, mask_phone, mask_resident_id, parse_resident_id

VALID = "11010519491231002X"  # the standard's own example


def test_valid_id_gives_birth_date_and_sex() -> None:
    rid = parse_resident_id(VALID)
    assert rid.number == VALID
    assert rid.birth_date == date(1949, 12, 31)
    assert rid.sex == "F"  # 17th digit 2 is even


def test_lowercase_x_is_accepted_and_normalised() -> None:
    assert parse_resident_id(VALID.lower()).number == VALID


def test_male_from_odd_17th_digit() -> None:
    body = "34112219850312001"
    number = body + ric.calc_check_digit(body + "0")
    assert parse_resident_id(number).sex == "M"


@pytest.mark.parametrize("wrong", ["0", "1", "2", "9"])
def test_wrong_check_character_is_refused_and_says_which(wrong: str) -> None:
    with pytest.raises(ResidentIdError, match=r"校验位错误.*X"):
        parse_resident_id(VALID[:17] + wrong)


def test_bad_birth_date_refused() -> None:
    body = "11010519490231002"  # 31 February
    with pytest.raises(ResidentIdError, match="出生日期"):
        parse_resident_id(body + ric.calc_check_digit(body + "0"))


def test_future_birth_date_refused() -> None:
    body = "11010520991231002"
    with pytest.raises(ResidentIdError, match="出生日期"):
        parse_resident_id(body + ric.calc_check_digit(body + "0"))


def test_fifteen_digit_old_id_refused_with_clear_message() -> None:
    with pytest.raises(ResidentIdError, match="15位旧身份证号"):
        parse_resident_id("110105491231002")


@pytest.mark.parametrize("bad", ["", "1234", "11010519491231002XX", "A1010519491231002X", "11010519491231X02X",
                                 "01010519491231002X"])
def test_malformed_refused(bad: str) -> None:
    with pytest.raises(ResidentIdError):
        parse_resident_id(bad)


def test_masking() -> None:
    assert mask_resident_id(VALID) == "110105********002X"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_resident_id(None) is None
