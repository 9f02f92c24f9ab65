"""Money is Decimal CNY with two places; never float. The API speaks strings or integer fen."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CURRENCY = "CNY"
CENT = Decimal("0.01")


class MoneyError(ValueError):
    """An amount that is not valid money; the message is for a user to read (Chinese)."""


def parse_amount(value: object, *, positive: bool = True) -> Decimal:
    """Parse a yuan amount given as str/int/Decimal. Floats are refused: they cannot hold fen exactly."""
    if isinstance(value, (bool, float)):
        raise MoneyError("金额必须以字符串或整数分表示，不能使用浮点数")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:
            raise MoneyError(f"金额格式无效：{value!r}") from exc
    else:
        raise MoneyError(f"金额格式无效：{value!r}")
    if not amount.is_finite():
        raise MoneyError("金额必须是有限数")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise MoneyError("金额最多两位小数（精确到分）")
    if positive and amount <= 0:
        raise MoneyError("金额必须大于零")
    return amount.quantize(CENT)


def to_fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_UP))


def from_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(CENT)


def fmt(amount: Decimal) -> str:
    """Format for people: thousands separators, two places."""
    return f"{amount.quantize(CENT):,.2f}"
