"""API shapes of the fund books. Amounts are strings of yuan with at most two decimals ("1234.50");
numbers (floats) are refused so no fen is ever lost. The idempotency key goes in the ``Idempotency-Key``
header or in the ``idempotency_key`` body field."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from assoc_ledger.core.money import fmt, from_fen
from assoc_ledger.core.schemas import IdField, Page, Schema
from assoc_ledger.fund.models import FundBook, FundEntry, FundPosting

AMOUNT = Field(description='金额（元），字符串，最多两位小数，例如 "1234.50"', max_length=20)
KEY = Field(default=None, description="幂等键（也可用 Idempotency-Key 请求头）", max_length=120)
META = Field(default=None, description="附加元数据（写入分录），键为小写字母、数字和连字符")


class BookOpen(Schema):
    org_id: IdField


class BookOut(Schema):
    id: int
    org_id: int
    slug: str
    title: str
    opened_on: dt.date
    closed_through: dt.date | None
    entries: int
    last_hash: str
    main_file: str

    @classmethod
    def of(cls, book: FundBook, main_file: str) -> BookOut:
        return cls(id=book.id, org_id=book.org_id, slug=book.slug, title=book.title, opened_on=book.opened_on,
                   closed_through=book.closed_through, entries=book.next_seq - 1, last_hash=book.last_hash,
                   main_file=main_file)


class AccountOut(Schema):
    name: str
    zh: str
    kind: str
    fund: str | None
    category: str | None
    balance: str


class IncomeIn(Schema):
    date: dt.date
    amount: str = AMOUNT
    source: str = Field(description="budget 财政拨款 | donation_person | donation_company | maintenance_fee "
                                    "社会抚养费分成 | central_transfer 中央转移支付分成 | interest | other",
                        max_length=40)
    payer: str = Field(max_length=200)
    voucher: str = Field(max_length=60)
    narration: str | None = Field(default=None, max_length=300)
    via: str = Field(default="Bank", description="Bank 银行 | Cash 现金", max_length=10)
    meta: dict[str, str] | None = META
    idempotency_key: str | None = KEY


class PaymentIn(Schema):
    date: dt.date
    amount: str = AMOUNT
    category: str = Field(description="支出类别：general key emergency long_term visits insurance student "
                                      "only_child_reward special_family production publicity administration",
                          max_length=40)
    fund: str = Field(default="General", description="General 非限定 | JiangLiFuZhu 限定用途·奖励扶助", max_length=40)
    payee: str = Field(max_length=200)
    voucher: str = Field(max_length=60)
    narration: str | None = Field(default=None, max_length=300)
    via: str = Field(default="Bank", max_length=10)
    meta: dict[str, str] | None = META
    idempotency_key: str | None = KEY


class RollLineIn(Schema):
    payee: str = Field(description="领款人（户主）", max_length=60)
    resident_id: str = Field(description="公民身份号码，须遮蔽：341122********123X", max_length=18)
    period: str = Field(description="期间 YYYY-MM", max_length=7)
    amount: str = AMOUNT
    reference: str = Field(description="参考号，如光荣证号", max_length=60)


class RollIn(Schema):
    """发放花名册：one voucher whose roll (one line per payee and period) is attached as a CSV file."""

    date: dt.date
    category: str = Field(default="only_child_reward", max_length=40)
    fund: str = Field(default="General", description="General 非限定 | JiangLiFuZhu 限定用途·奖励扶助", max_length=40)
    roll: str = Field(description="花名册名称（文件名），如 2025-11-only-child-reward", max_length=100)
    lines: list[RollLineIn] = Field(max_length=500_000)
    voucher: str = Field(max_length=60)
    narration: str | None = Field(default=None, max_length=300)
    via: str = Field(default="Bank", max_length=10)
    idempotency_key: str | None = KEY


class TransferIn(Schema):
    from_book_id: IdField
    to_book_id: IdField
    date: dt.date
    amount: str = AMOUNT
    fund: str = Field(default="General", max_length=40)
    voucher: str = Field(max_length=60)
    narration: str | None = Field(default=None, max_length=300)
    via: str = Field(default="Bank", max_length=10)
    idempotency_key: str | None = KEY


class LegIn(Schema):
    account: str = Field(max_length=120)
    amount: str = Field(description="带符号金额（元）：借为正，贷为负", max_length=20)


class EntryIn(Schema):
    date: dt.date
    narration: str = Field(max_length=300)
    payee: str | None = Field(default=None, max_length=200)
    voucher: str = Field(max_length=60)
    postings: list[LegIn] = Field(min_length=2, max_length=50)
    meta: dict[str, str] | None = META
    idempotency_key: str | None = KEY


class ReverseIn(Schema):
    date: dt.date
    reason: str = Field(max_length=300)
    voucher: str = Field(max_length=60)
    idempotency_key: str | None = KEY


class CloseIn(Schema):
    month: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")
    idempotency_key: str | None = KEY


class PostedOut(Schema):
    book_id: int
    seq: int
    entry_id: int
    hash: str
    replayed: bool


class LegOut(Schema):
    account: str
    amount: str


class JournalOut(Schema):
    book_id: int
    seq: int
    kind: str
    date: dt.date
    payee: str | None
    narration: str
    voucher: str | None
    category: str | None
    links: list[str]
    meta: dict[str, str]
    postings: list[LegOut]
    balances: list[LegOut]
    hash: str

    @classmethod
    def of(cls, entry: FundEntry, legs: list[FundPosting]) -> JournalOut:
        meta: dict[str, Any] = dict(entry.meta)
        return cls(book_id=entry.book_id, seq=entry.seq, kind=entry.kind, date=entry.date, payee=entry.payee,
                   narration=entry.narration, voucher=entry.voucher, category=entry.category,
                   links=list(entry.links), meta=meta,
                   postings=[LegOut(account=p.account, amount=str(from_fen(p.amount_fen))) for p in legs],
                   balances=[LegOut(account=a, amount=str(from_fen(int(f)))) for a, f in (entry.balances or [])],
                   hash=entry.hash)


class JournalPageOut(Page[JournalOut]):
    """A journal page; ``next``/``prev`` are cursors for ``after=``/``before=`` (keyset paging)."""

    offset: int | None = Field(description="本页第一条在结果中的位置；用游标翻页时为空")  # type: ignore[assignment]
    total_exact: bool = Field(default=True, description="total 是否为确切数；文字搜索最多数到 10000 条，"
                                                          "超过时 total 为 10000、此处为 false（显示为 10000+）")
    next: str | None = Field(default=None, description="下一页：after=此值；为空表示没有下一页")
    prev: str | None = Field(default=None, description="上一页：before=此值；为空表示没有上一页")


class BalanceOut(Schema):
    account: str
    zh: str
    balance: str
    display: str

    @classmethod
    def of(cls, account: str, zh: str, amount: Any) -> BalanceOut:
        return cls(account=account, zh=zh, balance=str(amount), display=fmt(amount))


class BalancesOut(Schema):
    book_id: int
    on: dt.date | None
    accounts: list[BalanceOut]


class FundBalanceOut(Schema):
    fund: str
    zh: str
    restricted: bool
    balance: str


class VerifyOut(Schema):
    """A verify job of a book: its state and progress, and once done its report."""

    book: str
    entries: int
    ok: bool | None = Field(description="完成后：账簿文件与数据库一致、哈希链完整为 true；未完成为空")
    first: str | None
    problems: list[str]
    job_id: int | None = None
    state: str = Field(default="done", description="none 未核对过 | running 进行中 | done 完成 | failed 出错")
    full: bool = False
    checked: int = Field(default=0, description="已核对的分录数")
    total: int = Field(default=0, description="本次要核对的分录数（增量核对只含上次核对之后的分录）")
    error: str | None = None


class EarmarkIn(Schema):
    source: str = Field(description="收入来源，例如 maintenance_fee 社会抚养费分成、central_transfer 中央转移支付分成",
                        max_length=40)
    fund: str = Field(description="限定基金，例如 JiangLiFuZhu 奖励扶助", max_length=40)
    percent: str = Field(description='提取比例（百分数字符串，最多两位小数，0 表示停止提取），例如 "10" 或 "12.5"',
                         max_length=10)
    effective_from: dt.date = Field(description="生效日期：须晚于本账簿最后一笔分录的日期")


class EarmarkOut(Schema):
    id: int
    source: str | None
    income_account: str
    fund: str
    percent: str = Field(description='提取比例（百分数字符串），例如 "10.00"')
    effective_from: dt.date
