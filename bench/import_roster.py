"""Roster import from XLSX: time and peak memory for 10,000 and 100,000 rows (target: 100k under 60 s).

Each import runs in its own subprocess against a fresh, migrated SQLite database holding the demo
county's organisations, so the peak resident set (VmHWM) is that import's own. Comparing the two sizes shows
whether memory grows with the file. The files are generated deterministically (fixed seed) with
openpyxl and laid out as Excel saves them (text in the shared-string table). Results: a table on stdout and
``bench/results/import_roster.json`` as rows ``{"case", "size", "metric", "value", "unit"}``.
"""

from __future__ import annotations

import json
import random
import time
from datetime import date, timedelta
from pathlib import Path

from bench._imports import ImportBench, entry, rss_mb, run
from bench._memory import peak_rss_mib

SEED = 31
HEADERS = ["姓名", "身份证号", "联系电话", "所属组织", "职务", "入会日期", "是否志愿者", "住址", "志愿服务技能",
           "会员小组"]


def write_roster(path: Path, rows: int) -> None:
    """A valid roster of ``rows`` members spread over the demo county's villages."""
    from openpyxl import Workbook
    from stdnum.cn import ric

    from assoc_ledger.demo import county

    orgs = [o for o in county.organisations() if o.kind.value in ("village", "community")]
    units = {o.key: o for o in county.organisations()}
    # Half the rows name the village by code, half as “镇名/村名”.
    refs = [(o.code or "", f"{units[o.parent_key].name}/{o.name}" if o.parent_key else o.name) for o in orgs]
    rng = random.Random(SEED)
    surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "秀英桂兰玉华建国志强丽娟海燕春梅文军红霞明德"
    roles = ["会员"] * 12 + ["理事", "小组长", "副会长、理事", "会长", "秘书长", "常务副会长"]
    used: set[str] = set()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("会员名册")
    ws.append(HEADERS)
    for i in range(rows):
        while True:
            born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 52))
            body = f"{county.REGION}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
            number = body + ric.calc_check_digit(body + "0")
            if number not in used:
                used.add(number)
                break
        joined = min(max(born + timedelta(days=365 * 20), date(2003, 1, 1)) + timedelta(days=rng.randrange(0, 4000)),
                     date(2026, 1, 1))
        code, path_name = refs[i % len(refs)]
        ws.append([rng.choice(surnames) + rng.choice(given) + rng.choice(given), number,
                   f"1{rng.choice('3589')}{rng.randrange(10**9):09d}", code if i % 2 else path_name,
                   rng.choice(roles), joined, rng.choice(["是", "否"]), f"演示县{path_name}{i % 12 + 1}组{i % 97}号",
                   "家政服务" if i % 9 == 0 else None, f"第{i % 3 + 1}小组" if i % 4 == 0 else None])
    wb.save(path)
    # Excel keeps text in a shared-string table; openpyxl writes it inline. Lay the file out as Excel does.
    from tests.roster_files import with_shared_strings

    path.write_bytes(with_shared_strings(path.read_bytes()))


def child(url: str, file: str, dry_run: bool) -> None:
    """One import in this process; prints a JSON line with its figures."""
    from assoc_ledger.auth import audit
    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.core.db import make_engine, make_sessionmaker
    from assoc_ledger.members.import_roster import import_roster

    audit.install()
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory() as s:  # warm: connection, mappers, openpyxl import
        s.execute(__import__("sqlalchemy").text("SELECT 1"))
    import openpyxl  # noqa: F401

    before = rss_mb()
    started = time.perf_counter()
    with factory() as s, open(file, "rb") as f:
        report = import_roster(s, Scope.everything(Perm.member_write), f, dry_run=dry_run)
        if not dry_run:
            s.commit()
    seconds = time.perf_counter() - started
    peak = peak_rss_mib()
    print(json.dumps({"seconds": seconds, "rows": report.total, "created": report.created,
                      "errors": report.error_rows, "rss_before_mb": before, "peak_rss_mb": peak}))


BENCH = ImportBench("import_roster", write_roster)


def main() -> None:
    run(BENCH)


if __name__ == "__main__":
    entry(BENCH, child)
