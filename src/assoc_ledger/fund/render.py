"""Ledger entries as Beancount values, their deterministic text and their chained hashes.

The writer builds ``data.Transaction`` (or, for a month close, ``data.Balance`` + ``data.Custom``)
values and renders them with Beancount's own printer; the same canonical form is hashed at write
time, by ``ledger verify`` and by the plugin, so all three agree on what an entry says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from beancount.core import amount as bc_amount
from beancount.core import data
from beancount.parser import printer

from assoc_ledger.core.money import CURRENCY
from assoc_ledger.fund.rolls import META_FILE as ROLL_META

CLOSE_DIRECTIVE = "fund-close"
EARMARK_DIRECTIVE = "fund-earmark"
PURPOSE_DIRECTIVE = "fund-purpose"
HASH_KEYS = frozenset({"hash", "prev-hash"})
_IGNORED_META = frozenset({"filename", "lineno"})


@dataclass(frozen=True)
class EntryValue:
    """What one ledger entry says, independent of how it is stored."""

    seq: int
    kind: str  # txn | close
    date: dt.date
    narration: str
    payee: str | None = None
    links: tuple[str, ...] = ()
    meta: tuple[tuple[str, str], ...] = ()
    postings: tuple[tuple[str, Decimal], ...] = ()
    balances: tuple[tuple[str, Decimal], ...] = ()
    prev_hash: str = ""
    hash: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _meta(pairs: Iterable[tuple[str, str]], prev_hash: str | None, hash_: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"filename": "", "lineno": 0}
    meta.update(pairs)
    if prev_hash is not None:
        meta["prev-hash"] = prev_hash
    if hash_ is not None:
        meta["hash"] = hash_
    return meta


def directives(entry: EntryValue, *, with_hash: bool = True) -> list[data.Directive]:
    prev = entry.prev_hash if with_hash else None
    own = entry.hash if with_hash else None
    if entry.kind == "txn":
        postings = [data.Posting(account, bc_amount.Amount(number, CURRENCY), None, None, None, None)
                    for account, number in entry.postings]
        txn = data.Transaction(_meta(entry.meta, prev, own), entry.date, "*", entry.payee, entry.narration,
                               frozenset(), frozenset(entry.links), postings)
        roll = dict(entry.meta).get(ROLL_META)
        if roll is None or not entry.postings:
            return [txn]
        # The voucher's source document, on the expense account and under the entry's link, so Fava lists
        # the roll in that account's journal and beside the transaction. Derived from the entry's own
        # metadata, so it is not hashed separately.
        return [txn, data.Document({"filename": "", "lineno": 0}, entry.date, entry.postings[0][0], roll,
                                   frozenset(), frozenset(entry.links))]
    out: list[data.Directive] = []
    for account, number in entry.balances:
        out.append(data.Balance(_meta([("seq", str(entry.seq))], None, None), entry.date, account,
                                bc_amount.Amount(number, CURRENCY), None, None))
    out.append(data.Custom(_meta(entry.meta, prev, own), entry.date, CLOSE_DIRECTIVE,
                           [(entry.narration, str)]))
    return out


def render(entry: EntryValue) -> str:
    """The exact text appended to the year file for this entry (ends with one blank line)."""
    return "".join(printer.format_entry(d) + "\n" for d in directives(entry))


def _canonical_meta(meta: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in meta.items()
            if k not in _IGNORED_META and k not in HASH_KEYS and not k.startswith("__")}


def canonical_txn(txn: data.Transaction) -> dict[str, Any]:
    return {"type": "txn", "date": txn.date.isoformat(), "payee": txn.payee or "", "narration": txn.narration,
            "tags": sorted(txn.tags or ()), "links": sorted(txn.links or ()), "meta": _canonical_meta(txn.meta),
            "postings": [[p.account, str(p.units.number if p.units else None), p.units.currency if p.units else ""]
                         for p in txn.postings]}


def canonical_close(custom: data.Custom, balances: Sequence[data.Balance]) -> dict[str, Any]:
    values = [str(v[0]) for v in custom.values]
    return {"type": "close", "date": custom.date.isoformat(), "values": values,
            "meta": _canonical_meta(custom.meta),
            "balances": sorted([b.account, str(b.amount.number), b.amount.currency] for b in balances)}


def chain_hash(prev_hash: str, canonical: dict[str, Any]) -> str:
    payload = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def entry_hash(entry: EntryValue) -> str:
    values = directives(entry, with_hash=False)
    canonical = (canonical_txn(values[0]) if entry.kind == "txn"  # type: ignore[arg-type]
                 else canonical_close(values[-1], values[:-1]))  # type: ignore[arg-type]
    return chain_hash(entry.prev_hash, canonical)


def year_header(slug: str, year: int) -> str:
    return (f"; 计划生育公益金账簿 {slug} {year} 年分录。由 assoc-ledger 追加写入，请勿手工修改；\n"
            f"; 更正请做冲销分录（assoc-ledger ledger reverse）。\n\n")


def main_file(slug: str, title: str, years: Iterable[int]) -> str:
    lines = [f"; {title} 计划生育公益金账簿（{slug}）",
             "; 用 bean-check 或 Fava 打开本文件；插件 assoc_ledger.fund.plugin 独立复核本系统的规则。",
             f'option "title" "{title} 计划生育公益金"',
             'option "operating_currency" "CNY"',
             'plugin "assoc_ledger.fund.plugin"',
             "",
             'include "accounts.beancount"']
    lines += [f'include "{y}.beancount"' for y in sorted(set(years))]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class AccountLine:
    name: str
    zh: str
    opened_on: dt.date


def accounts_file(slug: str, accounts: Sequence[AccountLine], earmarks: Sequence[tuple[str, str, int, dt.date]],
                  purposes: Mapping[str, Sequence[str]], opened_on: dt.date) -> str:
    out = [f"; 科目表（{slug}）。中文科目名在 name 元数据中。\n\n"]
    for acc in accounts:
        out.append(printer.format_entry(data.Open({"filename": "", "lineno": 0, "name": acc.zh}, acc.opened_on,
                                                  acc.name, [CURRENCY], None)))
    out.append("\n; 限定用途：每个限定基金可以支付的费用科目\n")
    for fund, accounts_allowed in sorted(purposes.items()):
        for account in sorted(accounts_allowed):
            out.append(printer.format_entry(data.Custom({"filename": "", "lineno": 0}, opened_on, PURPOSE_DIRECTIVE,
                                                        [(fund, str), (account, str)])))
    out.append("\n; 限定用途提取规则：收入科目、限定基金、比例（自生效日起）\n")
    for income_account, fund, bp, since in earmarks:
        ratio = (Decimal(bp) / Decimal(10000)).quantize(Decimal("0.0001"))
        out.append(printer.format_entry(data.Custom({"filename": "", "lineno": 0}, since, EARMARK_DIRECTIVE,
                                                    [(income_account, str), (fund, str), (ratio, Decimal)])))
    return "".join(out)
