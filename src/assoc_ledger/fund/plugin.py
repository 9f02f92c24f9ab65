"""Beancount plugin: our bookkeeping rules, enforced by ``bean-check`` and Fava without trusting our code.

Referenced from every book's ``main.beancount`` as ``plugin "assoc_ledger.fund.plugin"``. Checks:
required metadata (key, seq, voucher, hash, prev-hash); the hash chain (the first broken entry is named
with its file and line); earmark splits (``custom "fund-earmark"``); restricted funds pay only their
purposes (``custom "fund-purpose"``); no asset account ever below zero; nothing posted into a month
after it was closed (``custom "fund-close"``); each payment roll (发放花名册) an entry names still has
the digest, line count and total the entry recorded (the file is named; each roll is read once).
"""

from __future__ import annotations

import datetime as dt
from collections import namedtuple
from decimal import Decimal
from pathlib import Path
from typing import Any

from beancount.core import data

from assoc_ledger.fund import render, rolls, rules

__plugins__ = ("check_fund_rules",)

FundError = namedtuple("FundError", "source message entry")

REQUIRED_TXN_META = ("key", "seq", "voucher", "prev-hash", "hash")


def _value(v: Any) -> Any:
    return v[0] if isinstance(v, tuple) else v


def _source(entry: Any) -> dict[str, Any]:
    return {"filename": entry.meta.get("filename", "<unknown>"), "lineno": entry.meta.get("lineno", 0)}


def chain_problems(txns_and_closes: list[Any], balances_by_seq: dict[str, list[Any]]) -> list[FundError]:
    """Recompute the chain in sequence order; every entry whose hash or link does not hold is an error."""
    errors: list[FundError] = []
    ordered: list[tuple[int, Any]] = []
    for entry in txns_and_closes:
        try:
            ordered.append((int(str(entry.meta["seq"])), entry))
        except (KeyError, ValueError):
            continue
    ordered.sort(key=lambda p: p[0])
    prev = "0" * 64
    expected_seq = 1
    for seq, entry in ordered:
        where = f"{entry.meta.get('filename')}:{entry.meta.get('lineno')}"
        if seq != expected_seq:
            errors.append(FundError(_source(entry), f"分录序号不连续：应为 {expected_seq}，实为 {seq}（{where}）",
                                    entry))
            expected_seq = seq
        if str(entry.meta.get("prev-hash")) != prev:
            errors.append(FundError(_source(entry), f"分录 seq {seq} 的 prev-hash 与上一分录不符（{where}）", entry))
        if isinstance(entry, data.Transaction):
            canonical = render.canonical_txn(entry)
        else:
            canonical = render.canonical_close(entry, balances_by_seq.get(str(seq), []))
        if render.chain_hash(str(entry.meta.get("prev-hash")), canonical) != entry.meta.get("hash"):
            errors.append(FundError(_source(entry), f"分录 seq {seq} 内容与哈希不符，可能被篡改（{where}）", entry))
        prev = str(entry.meta.get("hash"))
        expected_seq += 1
    return errors


def _roll_problems(txn: Any, legs: list[tuple[str, Decimal]], options_map: dict[str, Any]) -> list[str]:
    """The roll is beside the year file that names it (the same relative path the writer used)."""
    path = Path(str(txn.meta.get("filename", ""))).parent / str(txn.meta[rolls.META_FILE])
    # bean-check's pickle cache and Fava's reload watch the included files: listing the roll there makes
    # an edited roll invalidate a cached check (else a cache hit would skip this plugin) and reload Fava.
    included = options_map.setdefault("include", [])
    if str(path) not in included:
        included.append(str(path))
    try:
        lines = int(str(txn.meta.get(rolls.META_LINES)))
    except ValueError:
        return [f"分录缺少发放花名册行数（{path}）"]
    total = sum((n for _, n in legs if n > 0), Decimal(0))
    return rolls.check_roll(path, sha256=str(txn.meta.get(rolls.META_SHA256)), lines=lines, total=total)


def check_fund_rules(entries: list[Any], options_map: dict[str, Any],
                     config: str | None = None) -> tuple[list[Any], list[FundError]]:
    errors: list[FundError] = []
    purposes: dict[str, set[str]] = {}
    earmark_rules: list[tuple[str, str, int, dt.date]] = []
    closes: list[tuple[int, dt.date]] = []
    chained: list[Any] = []
    balances_by_seq: dict[str, list[Any]] = {}
    for entry in entries:
        if isinstance(entry, data.Custom):
            values = [_value(v) for v in entry.values]
            if entry.type == render.PURPOSE_DIRECTIVE and len(values) == 2:
                purposes.setdefault(str(values[0]), set()).add(str(values[1]))
            elif entry.type == render.EARMARK_DIRECTIVE and len(values) == 3:
                bp = int((Decimal(str(values[2])) * 10000).to_integral_value())
                earmark_rules.append((str(values[0]), str(values[1]), bp, entry.date))
            elif entry.type == render.CLOSE_DIRECTIVE:
                chained.append(entry)
                try:
                    closed = dt.date.fromisoformat(str(values[0]) + "-01")
                    month_end = entry.date - dt.timedelta(days=1)
                    closes.append((int(str(entry.meta.get("seq"))), max(closed, month_end)))
                except ValueError:
                    errors.append(FundError(_source(entry), "结账记录的月份无效", entry))
        elif isinstance(entry, data.Balance) and "seq" in entry.meta:
            balances_by_seq.setdefault(str(entry.meta["seq"]), []).append(entry)

    running: dict[str, Decimal] = {}
    for entry in entries:
        if not isinstance(entry, data.Transaction):
            continue
        missing = [k for k in REQUIRED_TXN_META if not entry.meta.get(k)]
        if missing:
            errors.append(FundError(_source(entry), f"分录缺少必需的元数据：{', '.join(missing)}", entry))
        chained.append(entry)
        legs = [(p.account, Decimal(p.units.number)) for p in entry.postings
                if p.units is not None and p.units.number is not None]
        if rolls.META_FILE in entry.meta:
            errors.extend(FundError(_source(entry), message, entry)
                          for message in _roll_problems(entry, legs, options_map))
        problems = rules.check_earmarks(legs, rules.active_earmarks(earmark_rules, entry.date))
        problems += rules.check_restricted(legs, purposes)
        for _, message in problems:
            errors.append(FundError(_source(entry), message, entry))
        for account, number in legs:
            if account.startswith("Assets:"):
                running[account] = running.get(account, Decimal(0)) + number
                if running[account] < 0:
                    errors.append(FundError(_source(entry), f"{account} 余额透支：{running[account]} 元", entry))
        try:
            seq = int(str(entry.meta.get("seq")))
        except ValueError:
            continue
        for close_seq, closed_through in closes:
            if seq > close_seq and entry.date <= closed_through:
                errors.append(FundError(_source(entry), f"分录 seq {seq} 记入了已结账期间（结账至 {closed_through}）",
                                        entry))
    errors.extend(chain_problems(chained, balances_by_seq))
    return entries, errors
