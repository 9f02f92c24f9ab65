"""Household list import from XLSX: time and peak memory for 10,000 and 100,000 rows (target: 100k under 60 s).

Each import runs in its own subprocess against a fresh, migrated database (SQLite, and PostgreSQL where the
server is installed) holding the demo county's organisations, so the peak resident set is that import's own;
comparing the two sizes shows whether memory grows with the file. The file: households of three rows (head,
spouse, only child with a certificate), a title row above the header, half the dates as Excel serial numbers,
laid out as Excel saves it (text in the shared-string table). Results: a table on stdout and
``bench/results/import_households.json`` as rows ``{"case", "size", "metric", "value", "unit"}``.
"""

from __future__ import annotations

import json
import random
import time
from datetime import date, timedelta
from pathlib import Path

from bench._imports import ImportBench, entry, rss_mb, run
from bench._memory import peak_rss_mib

SEED = 47
HEADERS = ["户编号", "姓名", "身份证号", "与户主关系", "所属组织", "住址", "登记日期", "家庭类别", "认定日期",
           "光荣证号"]
EXCEL_EPOCH = date(1899, 12, 30)


def write_households(path: Path, rows: int) -> None:
    """``rows`` rows (households of three) spread over the demo county's villages and communities."""
    from openpyxl import Workbook
    from stdnum.cn import ric
    from tests.roster_files import with_shared_strings

    from assoc_ledger.demo import county

    orgs = [o for o in county.organisations() if o.kind.value in ("village", "community")]
    units = {o.key: o for o in county.organisations()}
    refs = [(o.code or "", f"{units[o.parent_key].name}/{o.name}" if o.parent_key else o.name) for o in orgs]
    rng = random.Random(SEED)
    surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "秀英桂兰玉华建国志强丽娟海燕春梅文军红霞明德"
    used: set[str] = set()

    def rid(born: date) -> str:
        while True:
            body = f"{county.REGION}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
            number = body + ric.calc_check_digit(body + "0")
            if number not in used:
                used.add(number)
                return number

    def name() -> str:
        return rng.choice(surnames) + rng.choice(given) + rng.choice(given)

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("计生家庭名册")
    ws.append(["演示县计生家庭名册"])
    ws.append(HEADERS)
    for i in range((rows + 2) // 3):
        child_born = date(2008, 1, 1) + timedelta(days=rng.randrange(0, 365 * 17))
        head_born = child_born - timedelta(days=rng.randrange(365 * 22, 365 * 38))
        wife_born = child_born - timedelta(days=rng.randrange(365 * 20, 365 * 36))
        registered = child_born + timedelta(days=rng.randrange(1, 200))
        issued = min(registered + timedelta(days=rng.randrange(0, 700)), date(2026, 1, 1))
        code, path_name = refs[i % len(refs)]
        serial = i % 2 == 0
        key = f"H{i:06d}"
        ws.append([key, name(), rid(head_born), "户主", code if i % 2 else path_name, f"{path_name}{i % 12 + 1}组",
                   (registered - EXCEL_EPOCH).days if serial else registered, "独生子女户",
                   (issued - EXCEL_EPOCH).days if serial else issued, f"光荣证{i:07d}"])
        ws.append([key, name(), rid(wife_born), "配偶", None, None, None, None, None, None])
        ws.append([key, name(), rid(child_born), "子女", None, None, None, None, None, None])
    wb.save(path)
    path.write_bytes(with_shared_strings(path.read_bytes()))


def child(url: str, file: str, dry_run: bool) -> None:
    """One import in this process; prints a JSON line with its figures."""
    from sqlalchemy import text

    from assoc_ledger.auth import audit
    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.core.db import make_engine, make_sessionmaker
    from assoc_ledger.households.import_households import import_households

    audit.install()
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory() as s:  # warm: connection, mappers, openpyxl import
        s.execute(text("SELECT 1"))
    import openpyxl  # noqa: F401

    before = rss_mb()
    started = time.perf_counter()
    with factory() as s, open(file, "rb") as f:
        report = import_households(s, Scope.everything(Perm.household_write), f, dry_run=dry_run,
                                   today=date(2026, 11, 1))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": report.rows, "households": report.households,
                      "created": report.created, "errors": report.error_rows,
                      "first_errors": [e.as_dict() for e in report.errors[:3]],
                      "rss_before_mb": before, "peak_rss_mb": peak_rss_mib()}, ensure_ascii=False))


BENCH = ImportBench("import_households", write_households, extra=("households",))


def main() -> None:
    run(BENCH)


if __name__ == "__main__":
    entry(BENCH, child)
