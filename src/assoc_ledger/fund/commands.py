"""The writes a fund book accepts, as frozen values parsed from raw input with every problem collected.

``parse`` refuses a malformed request with :class:`Invalid` (400) listing all its problems, then a
well-formed one that a rule visible in the request alone forbids with :class:`DomainError` (422).
Rules that need the books (balances, closed months, earmarks) are the writer's. The idempotency
request hash is taken over every field of the value, so a new field cannot be left out of it.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, TypeVar

from assoc_ledger.core.errors import DomainError, Invalid, Problem, Problems
from assoc_ledger.core.money import MoneyError, parse_amount
from assoc_ledger.fund import rolls
from assoc_ledger.fund.chart import CATEGORIES, FUND_ZH, RESTRICTED_PURPOSES, Category, Fund, Source, Via
from assoc_ledger.fund.rolls import RollLine

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,119}$")
_META_KEY_RE = re.compile(r"^[a-z][a-z0-9\-]{0,30}$")
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})")
_RESERVED_META = frozenset({"key", "seq", "voucher", "hash", "prev-hash", "category", "fund", "source",
                            "reverses", "reason", "kind", "filename", "lineno", rolls.META_FILE, rolls.META_SHA256,
                            rolls.META_LINES})
MAX_AMOUNT = Decimal("10000000000")
MAX_ROLL_LINES = 500_000
MAX_LISTED_PROBLEMS = 200  # a roll of 100,000 bad lines answers with the first ones, not a 30 MB body

Meta = tuple[tuple[str, str], ...]
E = TypeVar("E", bound=Enum)


# --- field parsers: each records its problem and returns a placeholder, so parsing goes on -----


def amount_of(problems: Problems, value: object, field_name: str = "amount", *, positive: bool = True) -> Decimal:
    try:
        parsed = parse_amount(value, positive=positive)
    except MoneyError as exc:
        problems.add(field_name, str(exc))
        return Decimal(0)
    if not positive and parsed == 0:
        problems.add(field_name, "金额不能为零")
    if abs(parsed) >= MAX_AMOUNT:
        problems.add(field_name, "金额过大")
    return parsed


def date_of(problems: Problems, value: object, field_name: str = "date") -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        problems.add(field_name, "日期格式无效，应为 YYYY-MM-DD")
        return dt.date.min


def text_of(problems: Problems, value: str | None, field_name: str, label: str, *, required: bool,
         max_len: int = 200) -> str | None:
    cleaned = (value or "").strip()
    if not cleaned:
        if required:
            problems.add(field_name, f"{label}不能为空")
        return None
    if len(cleaned) > max_len:
        problems.add(field_name, f"{label}过长（最多{max_len}字）")
    if any(ch in cleaned for ch in "\n\r\t\x00"):
        problems.add(field_name, f"{label}不能包含换行或控制字符")
    return cleaned


def key_of(problems: Problems, key: str | None) -> str:
    if not key or not _KEY_RE.match(key):
        problems.add("idempotency_key", "幂等键必填：1-120 个字母、数字或 . _ : -（可用 Idempotency-Key 请求头）")
        return ""
    return key


def meta_of(problems: Problems, extra: Mapping[str, str] | None) -> Meta:
    out: list[tuple[str, str]] = []
    for k, v in sorted((extra or {}).items()):
        if not _META_KEY_RE.match(k) or k in _RESERVED_META:
            problems.add(f"meta.{k}", "元数据键只能是小写字母开头的字母、数字和连字符，且不能使用保留键")
            continue
        value = text_of(problems, v, f"meta.{k}", "元数据值", required=True, max_len=200)
        if value:
            out.append((k, value))
    return tuple(out)


def choice_of(problems: Problems, cls: type[E], value: object, field_name: str, label: str) -> E:
    try:
        return cls(value)
    except ValueError:
        allowed = "、".join(str(m.value) for m in cls)
        problems.add(field_name, f"{label}无效：{value}（可选：{allowed}）")
        return next(iter(cls))  # placeholder; parse refuses before the value is built


def percent_of(problems: Problems, value: object, field_name: str = "percent") -> int:
    """A share given as a percent string ("10", "12.5", "12.50"): whole basis points, 0 to 100 %."""
    if isinstance(value, bool | float) or not isinstance(value, str | int):
        problems.add(field_name, "比例须为字符串形式的百分数，例如 \"10\" 或 \"12.5\"")
        return 0
    try:
        pct = Decimal(str(value).strip().rstrip("%"))
    except ArithmeticError:
        problems.add(field_name, f"比例格式无效：{value}")
        return 0
    exponent = pct.as_tuple().exponent
    if not pct.is_finite() or (isinstance(exponent, int) and exponent < -2):
        problems.add(field_name, "比例最多两位小数")
        return 0
    if not Decimal(0) <= pct <= Decimal(100):
        problems.add(field_name, "比例须在 0 到 100 之间")
        return 0
    return int(pct * 100)


def _refuse(problems: Problems) -> None:
    problems.raise_if_any(Invalid)


def _check_purpose(category: Category, fund: Fund) -> None:
    """Restricted money pays only its fund's purposes (422)."""
    line = CATEGORIES[category]
    if fund is not Fund.general and line.account not in RESTRICTED_PURPOSES[fund]:
        raise DomainError(f"{FUND_ZH[fund]}只能用于规定用途，不能支付“{line.zh}”", field="fund")


# --- the commands -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Income:
    """收入：a receipt; earmarked sources are split into their restricted fund by the writer."""

    kind: ClassVar[str] = "income"
    book_id: int
    key: str
    date: dt.date
    amount: Decimal
    source: Source
    via: Via
    payer: str
    voucher: str
    narration: str | None
    meta: Meta

    @classmethod
    def parse(cls, book_id: int, *, key: str | None, date: object, amount: object, source: object,
              payer: str | None, voucher: str | None, narration: str | None = None, via: object = "Bank",
              meta: Mapping[str, str] | None = None) -> Income:
        p = Problems()
        value = cls(book_id, key_of(p, key), date_of(p, date), amount_of(p, amount),
                    choice_of(p, Source, source, "source", "收入来源"), choice_of(p, Via, via, "via", "收付方式"),
                    text_of(p, payer, "payer", "交款人", required=True) or "",
                    text_of(p, voucher, "voucher", "凭证号", required=True, max_len=60) or "",
                    text_of(p, narration, "narration", "摘要", required=False, max_len=300), meta_of(p, meta))
        _refuse(p)
        return value


@dataclass(frozen=True)
class Payment:
    """支出：a payment for a relief category (or publicity, administration) from one fund."""

    kind: ClassVar[str] = "payment"
    book_id: int
    key: str
    date: dt.date
    amount: Decimal
    category: Category
    fund: Fund
    via: Via
    payee: str
    voucher: str
    narration: str | None
    meta: Meta

    @classmethod
    def parse(cls, book_id: int, *, key: str | None, date: object, amount: object, category: object,
              payee: str | None, voucher: str | None, fund: object = "General", narration: str | None = None,
              via: object = "Bank", meta: Mapping[str, str] | None = None) -> Payment:
        p = Problems()
        value = cls(book_id, key_of(p, key), date_of(p, date), amount_of(p, amount),
                    choice_of(p, Category, category, "category", "支出类别"),
                    choice_of(p, Fund, fund, "fund", "资金"), choice_of(p, Via, via, "via", "收付方式"),
                    text_of(p, payee, "payee", "收款人", required=True) or "",
                    text_of(p, voucher, "voucher", "凭证号", required=True, max_len=60) or "",
                    text_of(p, narration, "narration", "摘要", required=False, max_len=300), meta_of(p, meta))
        _refuse(p)
        _check_purpose(value.category, value.fund)
        return value


@dataclass(frozen=True)
class Transfer:
    """拨付下级：one linked entry in each book, committed together."""

    kind: ClassVar[str] = "transfer"
    book_id: int
    to_book_id: int
    key: str
    date: dt.date
    amount: Decimal
    fund: Fund
    via: Via
    voucher: str
    narration: str | None

    @classmethod
    def parse(cls, book_id: int, to_book_id: int, *, key: str | None, date: object, amount: object,
              voucher: str | None, fund: object = "General", narration: str | None = None, via: object = "Bank",
              found: Iterable[Problem] = ()) -> Transfer:
        """``found``: problems the caller saw first (a receiving book outside the caller's scope)."""
        p = Problems()
        p.items.extend(found)
        value = cls(book_id, to_book_id, key_of(p, key), date_of(p, date), amount_of(p, amount),
                    choice_of(p, Fund, fund, "fund", "资金"), choice_of(p, Via, via, "via", "收付方式"),
                    text_of(p, voucher, "voucher", "凭证号", required=True, max_len=60) or "",
                    text_of(p, narration, "narration", "摘要", required=False, max_len=300))
        _refuse(p)
        if to_book_id == book_id:
            raise DomainError("不能向本账簿划拨", field="to_book_id")
        return value


@dataclass(frozen=True)
class Entry:
    """通用分录：explicit postings (e.g. bank ↔ cash, interest) under the same rules as every other write."""

    kind: ClassVar[str] = "entry"
    book_id: int
    key: str
    date: dt.date
    narration: str
    payee: str | None
    voucher: str
    postings: tuple[tuple[str, Decimal], ...]
    meta: Meta

    @classmethod
    def parse(cls, book_id: int, *, key: str | None, date: object, narration: str | None, voucher: str | None,
              postings: Sequence[Mapping[str, Any]], payee: str | None = None,
              meta: Mapping[str, str] | None = None) -> Entry:
        p = Problems()
        k, when = key_of(p, key), date_of(p, date)
        note = text_of(p, narration, "narration", "摘要", required=True, max_len=300) or ""
        payee_ = text_of(p, payee, "payee", "往来单位", required=False)
        voucher_ = text_of(p, voucher, "voucher", "凭证号", required=True, max_len=60) or ""
        extra = meta_of(p, meta)
        if len(postings) < 2:
            p.add("postings", "分录至少需要两行")
        legs: list[tuple[str, Decimal]] = []
        for i, leg in enumerate(postings):
            account = str(leg.get("account", "")).strip()
            if not account:
                p.add(f"postings.{i}.account", "科目不能为空")
            legs.append((account, amount_of(p, leg.get("amount"), f"postings.{i}.amount", positive=False)))
        _refuse(p)
        return cls(book_id, k, when, note, payee_, voucher_, tuple(legs), extra)


@dataclass(frozen=True)
class Reversal:
    """冲销：a reversing entry linked to the original; a transfer is reversed on both sides together."""

    kind: ClassVar[str] = "reverse"
    book_id: int
    seq: int
    key: str
    date: dt.date
    reason: str
    voucher: str

    @classmethod
    def parse(cls, book_id: int, seq: int, *, key: str | None, date: object, reason: str | None,
              voucher: str | None) -> Reversal:
        p = Problems()
        value = cls(book_id, seq, key_of(p, key), date_of(p, date),
                    text_of(p, reason, "reason", "冲销原因", required=True, max_len=300) or "",
                    text_of(p, voucher, "voucher", "凭证号", required=True, max_len=60) or "")
        _refuse(p)
        return value


@dataclass(frozen=True)
class Close:
    """月结：balance assertions for bank and cash; nothing dated in the month may be posted after it."""

    kind: ClassVar[str] = "close"
    book_id: int
    key: str
    month: str

    @property
    def last_day(self) -> dt.date:
        year, mon = (int(part) for part in self.month.split("-"))
        return dt.date(year, mon, calendar.monthrange(year, mon)[1])

    @classmethod
    def parse(cls, book_id: int, month: str, *, key: str | None = None, today: dt.date | None = None) -> Close:
        match = _MONTH_RE.fullmatch(month or "")
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise Invalid("月份格式无效，应为 YYYY-MM", field="month")
        p = Problems()
        value = cls(book_id, key_of(p, key or f"close-{month}"), month)
        if value.last_day >= (today or dt.date.today()):
            raise DomainError(f"{month} 尚未结束，不能结账", field="month")
        _refuse(p)
        return value


@dataclass(frozen=True)
class RollPayment:
    """发放花名册：a batch payment (e.g. a month of 独生子女父母奖励) as one voucher with its roll attached.

    ``lines`` are in the roll's sort order, so the same lines given in any order are the same value
    (and the same request hash, and the same file).
    """

    kind: ClassVar[str] = "roll"
    book_id: int
    key: str
    date: dt.date
    category: Category
    fund: Fund
    via: Via
    voucher: str
    narration: str | None
    roll: str
    lines: tuple[RollLine, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @classmethod
    def parse(cls, book_id: int, *, key: str | None, date: object, category: object, roll: str | None,
              lines: Sequence[Mapping[str, Any]], voucher: str | None, fund: object = "General",
              narration: str | None = None, via: object = "Bank") -> RollPayment:
        p = Problems()
        k, when = key_of(p, key), date_of(p, date)
        category_ = choice_of(p, Category, category, "category", "支出类别")
        fund_, via_ = choice_of(p, Fund, fund, "fund", "资金"), choice_of(p, Via, via, "via", "收付方式")
        voucher_ = text_of(p, voucher, "voucher", "凭证号", required=True, max_len=60) or ""
        note = text_of(p, narration, "narration", "摘要", required=False, max_len=300)
        name = (roll or "").strip()
        if not rolls.NAME_RE.match(name):
            p.add("roll", "花名册名称须为 1-100 个字母、数字或 . _ -，以字母或数字开头，如 2025-11-only-child-reward")
        if not lines:
            p.add("lines", "花名册至少需要一行")
        elif len(lines) > MAX_ROLL_LINES:
            p.add("lines", f"花名册最多 {MAX_ROLL_LINES} 行，请分册发放")
        parsed = _roll_lines(p, lines[:MAX_ROLL_LINES])
        if len(p.items) > MAX_LISTED_PROBLEMS:
            left = len(p.items) - MAX_LISTED_PROBLEMS
            del p.items[MAX_LISTED_PROBLEMS:]
            p.add("lines", f"另有 {left} 个问题未列出")
        _refuse(p)
        value = cls(book_id, k, when, category_, fund_, via_, voucher_, note, name,
                    tuple(sorted(parsed, key=RollLine.sort_key)))
        if value.total >= MAX_AMOUNT:
            raise Invalid("花名册合计金额过大", field="lines")
        _check_purpose(value.category, value.fund)
        seen: dict[tuple[str, str], int] = {}
        twice = Problems()
        for row, line in enumerate(parsed, start=1):
            first = seen.setdefault((line.reference, line.period), row)
            if first != row:
                # 不该奖的一个不多: one payee reference is paid once per period.
                twice.add(f"lines.{row - 1}.reference", f"参考号 {line.reference} 在 {line.period} 重复发放"
                                                        f"（与第 {first} 行相同）", row=row)
        del twice.items[MAX_LISTED_PROBLEMS:]
        twice.raise_if_any(DomainError)
        return value


def _roll_lines(p: Problems, lines: Sequence[Mapping[str, Any]]) -> list[RollLine]:
    """Each line checked on its own; a problem names the line (``row``, from 1) and its field."""
    out: list[RollLine] = []
    for i, raw in enumerate(lines):
        row, at = i + 1, f"lines.{i}."
        if not isinstance(raw, Mapping):
            p.add(f"lines.{i}", "花名册行应为对象（payee、resident_id、period、amount、reference）", row=row)
            continue
        fields: dict[str, str] = {}
        for name, label, max_len in (("payee", "领款人", 60), ("reference", "参考号", 60),
                                     ("resident_id", "公民身份号码", 18), ("period", "期间", 7)):
            value = raw.get(name)
            cleaned = value.strip() if isinstance(value, str) else ""
            if not cleaned:
                p.add(at + name, f"{label}不能为空", row=row)
            elif len(cleaned) > max_len or any(ch in cleaned for ch in "\n\r\t\x00"):
                p.add(at + name, f"{label}过长或含控制字符（最多{max_len}字）", row=row)
            fields[name] = cleaned
        resident_id = fields["resident_id"]
        if resident_id and not rolls.MASKED_ID_RE.match(resident_id):
            # Personal data: the roll keeps the region code and last four only (core.personal.mask_resident_id).
            p.add(at + "resident_id", "公民身份号码须遮蔽后提交（如 341122********123X），不接受完整号码", row=row)
        if fields["period"] and not rolls.PERIOD_RE.match(fields["period"]):
            p.add(at + "period", "期间格式无效，应为 YYYY-MM", row=row)
        try:
            amount = parse_amount(raw.get("amount"))
        except MoneyError as exc:
            p.add(at + "amount", str(exc), row=row)
            continue
        if amount >= MAX_AMOUNT:
            p.add(at + "amount", "金额过大", row=row)
        out.append(RollLine(fields["payee"], resident_id, fields["period"], amount, fields["reference"]))
    return out


Command = Income | Payment | Transfer | Entry | Reversal | Close | RollPayment


def request_hash(command: Command) -> str:
    """What the idempotency key stands for: the kind and every field of the value, canonical JSON."""
    body = {f.name: getattr(command, f.name) for f in dataclasses.fields(command)}
    payload = json.dumps({"kind": command.kind, **body}, sort_keys=True, ensure_ascii=False, default=_plain)
    return hashlib.sha256(payload.encode()).hexdigest()


def _plain(value: object) -> object:
    """Nested values (a roll's lines) by every field too; anything else (dates, Decimals, enums) as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [getattr(value, f.name) for f in dataclasses.fields(value)]
    return str(value)

