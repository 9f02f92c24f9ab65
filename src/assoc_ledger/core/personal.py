"""Personal data: resident ID numbers (公民身份号码, GB 11643) and phone numbers.

Validation uses python-stdnum's ``stdnum.cn.ric`` for the birth date and check character (the
region is checked for shape only: codes retired from stdnum's table still appear on valid cards);
messages are in Chinese because a secretary reads them. Masking is the default everywhere a number is shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from stdnum import exceptions as stdnum_exc
from stdnum.cn import ric

_REGION_SHAPE = re.compile(r"^[1-9]\d{5}$")
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


class ResidentIdError(ValueError):
    """A resident ID that fails GB 11643; the message says why, in Chinese."""


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: date
    sex: str  # "M" / "F"


def parse_resident_id(raw: str) -> ResidentId:
    """Validate an 18-character resident ID and derive birth date and sex from it."""
    if not isinstance(raw, str):
        raise ResidentIdError("身份证号必须是文本")
    number = raw.strip().replace(" ", "").upper()
    if len(number) == 15 and number.isdigit():
        raise ResidentIdError("不再接受15位旧身份证号，请填写18位公民身份号码")
    if len(number) != 18:
        raise ResidentIdError(f"身份证号应为18位，实际为{len(number)}位")
    if not (number[:17].isdigit() and (number[17].isdigit() or number[17] == "X")):
        raise ResidentIdError("身份证号前17位必须是数字，最后一位是数字或X")
    if not _REGION_SHAPE.match(number[:6]):
        raise ResidentIdError("身份证号前6位行政区划代码格式不正确")
    try:
        birth = ric.get_birth_date(number)
    except (stdnum_exc.ValidationError, ValueError) as exc:
        raise ResidentIdError("身份证号中的出生日期无效") from exc
    if birth > date.today() or birth.year < 1890:
        raise ResidentIdError("身份证号中的出生日期无效")
    check = ric.calc_check_digit(number)
    if check != number[17]:
        raise ResidentIdError(f"身份证号校验位错误（最后一位应为{check}）")
    sex = "M" if int(number[16]) % 2 == 1 else "F"
    return ResidentId(number=number, birth_date=birth, sex=sex)


def mask_resident_id(number: str | None) -> str | None:
    """110101********123X: region code and last four only."""
    if not number:
        return number
    if len(number) < 10:
        return "*" * len(number)
    return mask_id_parts(number[:6], number[-4:], len(number))


def mask_id_parts(region: str, tail: str, length: int = 18) -> str:
    """The masked number from its stored parts (region code, last four), without the number itself."""
    return region + "*" * (length - len(region) - len(tail)) + tail


def validate_phone(raw: str) -> str:
    phone = raw.strip().replace(" ", "")
    if not _PHONE.match(phone):
        raise ValueError("联系电话格式不正确（11位手机号或带区号的固定电话）")
    return phone


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
