"""The last complete year (2025) of realistic welfare-fund activity for the demo county and its townships.

Deterministic (fixed seed) and idempotent: every posting has a fixed idempotency key, so a second run
posts nothing. Each month's 独生子女父母奖励 is one voucher with its payment roll (发放花名册) attached,
one line per registered household at the aid standard in force (``fund.standards``).
Figures follow the seeds: the county puts in at least 200,000 yuan a year and each
township or street at least 50,000; a share of the social maintenance fee and of central transfer
payments is earmarked for reward-and-assistance (奖励扶助).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.config import Settings
from assoc_ledger.fund import service, standards
from assoc_ledger.fund.chart import Category
from assoc_ledger.fund.models import FundBook
from assoc_ledger.orgs.models import Organisation, OrgKind

SEED = 20260101
YEAR = 2025  # a complete past year: every entry is in the past and all twelve months close
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ["秀英", "桂兰", "建国", "志强", "海燕", "玉兰", "德明", "春花", "永福", "丽娟", "国庆", "小平"]
_COMPANIES = ["县农商银行", "宏达建材有限公司", "惠民医药连锁", "金穗米业合作社", "县电力公司"]


@dataclass
class _Event:
    date: dt.date
    order: int
    post: Callable[[Session], Any]


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN)


def _money(rng: random.Random, low: int, high: int) -> str:
    return f"{rng.randint(low, high)}.{rng.choice([0, 0, 0, 50, 20, 80]):02d}"


def load_fund_demo(session_factory: sessionmaker[Session], settings: Settings,
                   today: dt.date | None = None) -> dict[str, int]:
    """Post the demo year into the county's and townships' books; returns entries posted per book slug."""
    ledger_dir = Path(settings.ledger_dir)
    scope = Scope.everything(Perm.fund_write)
    today = today or dt.date.today()
    posted: dict[str, int] = {}
    with session_factory() as db:
        counties = db.scalars(select(Organisation).where(Organisation.kind == OrgKind.county.value,
                                                         Organisation.closed_on.is_(None))
                              .order_by(Organisation.id)).all()
        plan: list[tuple[Organisation, list[Organisation]]] = []
        for county in counties:
            towns = db.scalars(select(Organisation).where(Organisation.parent_id == county.id,
                                                          Organisation.kind.in_(service.BOOK_KINDS),
                                                          Organisation.closed_on.is_(None))
                               .order_by(Organisation.id)).all()
            plan.append((county, list(towns)))
        org_ids = [(c.id, [t.id for t in ts]) for c, ts in plan]
    for county_id, town_ids in org_ids:
        with session_factory() as db:
            county_book = service.open_book(db, ledger_dir, county_id, scope)
            town_books = [service.open_book(db, ledger_dir, t, scope) for t in town_ids]
            cb = (county_book.id, county_book.slug, county_book.title)
            tbs = [(b.id, b.slug, b.title) for b in town_books]
        events = _county_events(ledger_dir, scope, cb, tbs)
        for tb in tbs:
            events += _town_events(ledger_dir, scope, tb)
        events.sort(key=lambda e: (e.date, e.order))
        with session_factory() as db:
            for event in events:
                result = event.post(db)
                for p in result if isinstance(result, list) else [result]:
                    if not p.replayed:
                        slug = next(s for i, s, _ in [cb, *tbs] if i == p.book_id)
                        posted[slug] = posted.get(slug, 0) + 1
            for book_id, slug, _ in [cb, *tbs]:
                for month in range(1, 13):
                    last = dt.date(YEAR, month, 28) + dt.timedelta(days=4)
                    if last.replace(day=1) - dt.timedelta(days=1) >= today:
                        break
                    p = service.close_month(db, ledger_dir, scope, book_id, f"{YEAR}-{month:02d}", today=today)
                    if not p.replayed:
                        posted[slug] = posted.get(slug, 0) + 1
    return posted


def _transfer(ledger_dir: Path, scope: Scope, from_id: int, to_id: int, key: str, day: dt.date, amount: str,
              fund: str, voucher: str, narration: str) -> Callable[[Session], Any]:
    def post(db: Session) -> Any:
        return service.post_transfer(db, ledger_dir, scope, from_id, to_id, key=key, date=day, amount=amount,
                                     fund=fund, voucher=voucher, narration=narration)
    return post


def _reward_roll(ledger_dir: Path, scope: Scope, book: tuple[int, str, str], month: int,
                 households: list[tuple[str, str]]) -> Callable[[Session], Any]:
    """A month of 独生子女父母奖励 for a book's registered households, as one voucher with its roll."""
    book_id, slug, _title = book
    day = dt.date(YEAR, month, 25)

    def post(db: Session) -> Any:
        fund_book = db.get(FundBook, book_id)
        assert fund_book is not None
        org = db.get(Organisation, fund_book.org_id)
        region = (org.code if org and org.code else "341100")[:6]
        due = standards.aid_standard(db, standards.AidScheme.only_child_reward, fund_book.org_id, day).amount
        lines = [{"payee": f"{name}户", "resident_id": f"{region}********{tail}", "period": f"{YEAR}-{month:02d}",
                  "amount": str(due), "reference": f"GRZ-{slug}-{k:04d}"}
                 for k, (name, tail) in enumerate(households, start=1)]
        return service.post_roll(db, ledger_dir, scope, book_id, key=f"demo-{slug}-roll-{month:02d}", date=day,
                                 category=Category.only_child_reward.value, fund="JiangLiFuZhu",
                                 roll=f"{YEAR}-{month:02d}-only-child-reward", lines=lines,
                                 voucher=f"付-{month:02d}-奖励", narration=f"{month}月独生子女父母奖励（发放花名册）")
    return post


def _households(slug: str, count: int) -> list[tuple[str, str]]:
    """The book's registered only-child households (name, last four of the ID), the same every month."""
    rng = random.Random(f"{SEED}-{slug}-households")  # noqa: S311 - demo data
    return [(_person(rng), f"{rng.randint(0, 999):03d}{rng.choice('0123456789X')}") for _ in range(count)]


def _petty_cash(ledger_dir: Path, scope: Scope, book_id: int, day: dt.date) -> Callable[[Session, str, str], Any]:
    def post(db: Session, key: str, voucher: str) -> Any:
        return service.post_entry(db, ledger_dir, scope, book_id, key=key, date=day, narration="提取备用金",
                                  voucher=voucher, postings=[{"account": "Assets:Cash:General", "amount": "1200.00"},
                                                             {"account": "Assets:Bank:General", "amount": "-1200.00"}])
    return post


def _county_events(ledger_dir: Path, scope: Scope, county: tuple[int, str, str],
                   towns: list[tuple[int, str, str]]) -> list[_Event]:
    rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
    book_id, slug, _title = county
    events: list[_Event] = []
    n = 0

    def income(day: dt.date, amount: str, source: str, payer: str, narration: str | None = None) -> None:
        nonlocal n
        n += 1
        key, voucher = f"demo-{slug}-{n}", f"收-{day:%m}-{n:03d}"
        events.append(_Event(day, 0, lambda db: service.post_income(
            db, ledger_dir, scope, book_id, key=key, date=day, amount=amount, source=source, payer=payer,
            voucher=voucher, narration=narration)))

    def pay(day: dt.date, amount: str, category: Category, payee: str, fund: str = "General",
            narration: str | None = None, via: str = "Bank") -> None:
        nonlocal n
        n += 1
        key, voucher = f"demo-{slug}-{n}", f"付-{day:%m}-{n:03d}"
        events.append(_Event(day, 2, lambda db: service.post_payment(
            db, ledger_dir, scope, book_id, key=key, date=day, amount=amount, category=category.value, fund=fund,
            payee=payee, voucher=voucher, narration=narration, via=via)))

    def d(month: int, day: int) -> dt.date:
        return dt.date(YEAR, month, day)

    income(d(1, 5), "120000.00", "budget", "县财政局", "县财政拨付计生公益金（上半年）")
    income(d(7, 6), "80000.00", "budget", "县财政局", "县财政拨付计生公益金（下半年）")
    income(d(1, 12), "60000.00", "central_transfer", "县财政局", "中央转移支付计生项目资金分成")
    income(d(7, 10), "40000.00", "central_transfer", "县财政局", "中央转移支付计生项目资金分成")
    for month in (2, 5, 8, 11):
        income(d(month, 15), _money(rng, 14000, 16000), "maintenance_fee", "县卫生健康委员会",
               "社会抚养费征收分成")
    for month in range(1, 13):
        income(d(month, 18), _money(rng, 500, 3000), "donation_person", _person(rng), "个人捐赠")
    for month in (3, 6, 9, 12):
        income(d(month, 20), _money(rng, 5000, 12000), "donation_company", rng.choice(_COMPANIES), "企业捐赠")
        income(d(month, 21), _money(rng, 150, 400), "interest", "县农商银行", "存款利息")
    income(d(10, 8), "2000.00", "other", "县计生协会员", "会员会费收入")
    # Allocations to townships: general money in March and September, earmarked money in April.
    for i, (town_id, _town_slug, town_title) in enumerate(towns):
        for month, amount, fund in ((3, "3000.00", "General"), (9, "3000.00", "General"),
                                    (4, "600.00", "JiangLiFuZhu")):
            n += 1
            key, voucher = f"demo-{slug}-{n}", f"拨-{month:02d}-{i + 1:02d}"
            day = d(month, 10)
            events.append(_Event(day, 1, _transfer(ledger_dir, scope, book_id, town_id, key, day, amount, fund,
                                                   voucher, f"拨付{town_title}公益金")))
    households = _households(slug, 25)
    for month in range(1, 13):
        n += 1  # the key numbering of the other entries stays as it was
        events.append(_Event(d(month, 25), 2, _reward_roll(ledger_dir, scope, county, month, households)))
        pay(d(month, 12), _money(rng, 600, 1500), Category.visits, _person(rng), narration="走访慰问困难计生家庭")
        pay(d(month, 14), _money(rng, 800, 2000), Category.general, _person(rng), narration="一般帮扶")
        pay(d(month, 16), _money(rng, 1200, 1800), Category.publicity, "县新华书店", narration="计生协宣传品印制")
        pay(d(month, 27), _money(rng, 300, 600), Category.administration, "县计生协办公室", narration="办公用品",
            via="Bank")
        if month % 2 == 0:
            pay(d(month, 19), _money(rng, 3000, 6000), Category.key, _person(rng), narration="重点救助")
        if month % 3 == 0:
            pay(d(month, 22), "1200.00", Category.special_family, "特殊家庭扶助对象", "JiangLiFuZhu",
                "独生子女伤残/死亡家庭扶助金")
            pay(d(month, 23), _money(rng, 1000, 2000), Category.long_term, _person(rng), narration="长效帮扶")
    pay(d(4, 3), "4500.00", Category.emergency, _person(rng), narration="火灾应急救助")
    pay(d(8, 17), "3800.00", Category.emergency, _person(rng), narration="洪灾应急救助")
    pay(d(5, 8), "12000.00", Category.insurance, "人保财险县支公司", narration="计生家庭意外伤害保险（三保）保费")
    pay(d(9, 5), "9000.00", Category.student, "特困独生子女大学生（3人）", narration="特困独生子女大学生救助")
    pay(d(4, 20), "8000.00", Category.production, "少生快富养殖户", narration="少生快富生产帮扶")
    # One correction: a duplicated visit payment, reversed a week later with a reason.
    n += 1
    dup_key = f"demo-{slug}-{n}"
    dup_day = d(6, 3)
    events.append(_Event(dup_day, 2, lambda db: service.post_payment(
        db, ledger_dir, scope, book_id, key=dup_key, date=dup_day, amount="800.00", category="visits",
        payee="张秀英", voucher="付-06-dup", narration="走访慰问（重复录入）")))
    n += 1
    rev_key = f"demo-{slug}-{n}"

    def reverse_duplicate(db: Session) -> Any:
        from assoc_ledger.fund.models import FundEntry

        seq = db.scalar(select(FundEntry.seq).where(FundEntry.book_id == book_id, FundEntry.idem_key == dup_key))
        assert seq is not None
        return service.reverse(db, ledger_dir, scope, book_id, seq, key=rev_key, date=d(6, 10),
                               reason="与 6 月 3 日走访慰问支出重复录入", voucher="冲-06-001")

    events.append(_Event(d(6, 10), 3, reverse_duplicate))
    return events


def _town_events(ledger_dir: Path, scope: Scope, town: tuple[int, str, str]) -> list[_Event]:
    book_id, slug, title = town
    rng = random.Random(f"{SEED}-{slug}")  # noqa: S311 - demo data
    households = _households(slug, 2)
    events: list[_Event] = []
    n = 0

    def add(day: dt.date, order: int, fn: Callable[[Session, str, str], Any], prefix: str) -> None:
        nonlocal n
        n += 1
        key, voucher = f"demo-{slug}-{n}", f"{prefix}-{day:%m}-{n:03d}"
        events.append(_Event(day, order, lambda db: fn(db, key, voucher)))

    def income(day: dt.date, amount: str, source: str, payer: str, narration: str) -> None:
        add(day, 0, lambda db, k, v: service.post_income(db, ledger_dir, scope, book_id, key=k, date=day,
                                                         amount=amount, source=source, payer=payer, voucher=v,
                                                         narration=narration), "收")

    def pay(day: dt.date, amount: str, category: Category, payee: str, narration: str,
            fund: str = "General", via: str = "Bank") -> None:
        add(day, 2, lambda db, k, v: service.post_payment(db, ledger_dir, scope, book_id, key=k, date=day,
                                                          amount=amount, category=category.value, fund=fund,
                                                          payee=payee, voucher=v, narration=narration, via=via),
            "付")

    def d(month: int, day: int) -> dt.date:
        return dt.date(YEAR, month, day)

    income(d(1, 8), "30000.00", "budget", f"{title}财政所", "乡镇财政拨付计生公益金")
    income(d(7, 8), "20000.00", "budget", f"{title}财政所", "乡镇财政拨付计生公益金")
    for month in (3, 6, 9, 12):
        income(d(month, 18), _money(rng, 300, 1500), "donation_person", _person(rng), "个人捐赠")
    income(d(5, 18), _money(rng, 2000, 5000), "donation_company", rng.choice(_COMPANIES), "企业捐赠")
    income(d(12, 21), _money(rng, 40, 90), "interest", "县农商银行", "存款利息")
    # Petty cash for visits, drawn from the bank each quarter.
    for month in (1, 4, 7, 10):
        day = d(month, 9)
        add(day, 1, _petty_cash(ledger_dir, scope, book_id, day), "转")
    for month in range(1, 13):
        pay(d(month, 12), "400.00", Category.visits, _person(rng), "走访慰问计生困难家庭", via="Cash")
        pay(d(month, 14), _money(rng, 500, 900), Category.general, _person(rng), "一般帮扶")
        pay(d(month, 24), "300.00", Category.long_term, _person(rng), "长效帮扶（按月）")
        pay(d(month, 16), _money(rng, 150, 300), Category.publicity, f"{title}文化站", "宣传栏、宣传资料")
        if month >= 5:
            n += 1
            events.append(_Event(d(month, 25), 2, _reward_roll(ledger_dir, scope, town, month, households)))
        if month % 3 == 0:
            pay(d(month, 27), "200.00", Category.administration, f"{title}计生协", "办公费用")
    pay(d(4, 15), "2000.00", Category.production, _person(rng), "少生快富生产帮扶")
    pay(d(6, 20), "3000.00", Category.key, _person(rng), "重点救助（重病）")
    pay(d(8, 2), "1500.00", Category.emergency, _person(rng), "意外事故应急救助")
    pay(d(5, 10), "2000.00", Category.insurance, "人保财险", "计生家庭保险保费")
    pay(d(9, 6), "3000.00", Category.student, _person(rng), "特困独生子女大学生救助")
    pay(d(11, 5), "1000.00", Category.special_family, _person(rng), "独生子女伤残家庭扶助")
    return events
