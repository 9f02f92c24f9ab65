"""Reports and the annual statement of the demo county (as `assoc-ledger demo` loads it but for the roster of
members, which posts nothing to the books; SQLite).

1. Every figure of the statement equals an independent beanquery over the book files (and the roll CSVs).
2. The PDFs: Chinese headings and totals in pdftotext, the CJK font embedded (pdffonts) and covering every
   character used, a page rendered by pdftoppm with real glyphs, attachments byte-identical to their
   files, the PDF/A-3b structure (XMP pdfaid, OutputIntent, embedded files with AFRelationship).
4. The public PDF and /public/statements hold no demo name or resident ID and no group under 5.
Also: drill-downs add up to their figure, CSV/XLSX downloads, the CLI table.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import beanquery
import pytest
from litestar.testing import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.app import create_app
from assoc_ledger.auth import services as auth_services
from assoc_ledger.auth.audit import Actor, set_actor
from assoc_ledger.auth.models import User
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.config import Settings
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.demo import county, load
from assoc_ledger.demo.entitlements import load_entitlements_demo
from assoc_ledger.demo.households import load_households
from assoc_ledger.demo.relief import load_relief_demo
from assoc_ledger.fund.chart import ALLOCATION_IN, ALLOCATION_OUT, CATEGORIES, SOURCES, Category, Fund, fund_of_account
from assoc_ledger.fund.demo import load_fund_demo
from assoc_ledger.fund.models import FundBook
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.reports import pdf, queries, statements
from assoc_ledger.reports.models import Statement
from tests.conftest import IN_CI

# One worker builds the demo county once for every test here (``make test`` runs ``--dist loadgroup``).
pytestmark = pytest.mark.xdist_group("reports_demo")
YEAR = 2025
START, END = dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31)
ALL = Scope.everything(Perm.fund_read)
POPPLER = ("pdftotext", "pdffonts", "pdftoppm")


def _tools() -> None:
    missing = [t for t in POPPLER if shutil.which(t) is None]
    if pdf.font_file() is None:
        missing.append("fonts-wqy-microhei")
    if missing:
        message = f"missing {missing}: run scripts/system-deps.sh test"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class Demo:
    factory: sessionmaker[Session]
    settings: Settings
    ledger_dir: Path
    county_id: int
    statement_id: int
    internal: Path
    public: Path
    client: TestClient[Any]

    def session(self) -> Session:
        return self.factory()


@pytest.fixture(scope="module")
def demo(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    _tools()
    root = tmp_path_factory.mktemp("reports-demo")
    shutil.copy(sqlite_template, root / "demo.sqlite3")
    url = f"sqlite:///{root / 'demo.sqlite3'}"
    ledger_dir = root / "ledgers"
    settings = Settings(database_url=url, ledger_dir=ledger_dir, upload_dir=root / "uploads",
                        id_key=os.environ["ASSOC_ID_KEY"])  # type: ignore[arg-type]
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    orgs = county.organisations()
    # The demo county as `assoc-ledger demo` loads it (demo/cli.py), but for the roster of members, which
    # posts nothing to the books: households with pairings and visits, two years of entitlement runs, the
    # fund year, relief cases.
    with factory() as db:
        set_actor(db, Actor(None, "demo", None))
        ids = load.load_orgs(db, orgs)
        load.load_users(db, ids, load.demo_users(orgs))
        load_households(db, ids, settings.upload_dir)
        db.commit()
    load_entitlements_demo(factory, settings)
    load_fund_demo(factory, settings, today=dt.date(2026, 11, 23))
    load_relief_demo(factory, settings)
    with factory() as db:
        county_id = ids[county.COUNTY_CODE]
        preparer = db.scalars(select(User).where(User.username == "county-secretary")).one()
        scope = Scope(Perm.fund_write, tuple(auth_services.principal_for(db, preparer).paths_for(Perm.fund_write)),
                      auth_services.principal_for(db, preparer))
        row = statements.prepare(db, scope, ledger_dir, county_id, YEAR,
                                 statements.Actor(preparer.id, preparer.username))
        auditor = db.scalars(select(User).where(User.username == "auditor")).one()
        sign_scope = Scope(Perm.statement_sign, ("/",), auth_services.principal_for(db, auditor))
        statements.sign(db, sign_scope, row.id, statements.Actor(auditor.id, auditor.username),
                        "经审计，账实相符，同意公开。")
        statement_id = row.id
        internal, public = root / "internal.pdf", root / "public.pdf"
        for variant, target in (("internal", internal), ("public", public)):
            fresh = db.get_one(Statement, statement_id)
            state = statements.state_of(db, fresh)
            target.write_bytes(pdf.render_pdf(fresh, variant, state, statements.STATE_ZH[state], [], ledger_dir))
    app = create_app(settings, engine)
    with TestClient(app=app, raise_server_exceptions=False) as client:
        yield Demo(factory, settings, ledger_dir, county_id, statement_id, internal, public, client)
    engine.dispose()


# --- 1. every figure against an independent beanquery ----------------------------------------------------

@dataclass
class Independent:
    """What the book files say, read with beanquery (and the roll CSVs), never through our index."""

    period: dict[tuple[str, str], Decimal]  # (book slug, account) -> sum of postings in the year
    before: dict[tuple[str, str], Decimal]  # ... before the year
    fund_flows: dict[str, list[Decimal]]  # fund -> [in, out] from each entry's net change of the fund
    months: dict[str, list[Decimal]]  # YYYY-MM -> [income, spending]
    aided: dict[str, set[tuple[str, str]]]  # slug -> {(category, who)}


def _independent(ledger_dir: Path, slugs: list[str]) -> Independent:
    period: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    before: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    flows: dict[str, list[Decimal]] = {f.value: [Decimal(0), Decimal(0)] for f in Fund}
    months: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    aided: dict[str, set[tuple[str, str]]] = defaultdict(set)
    own_income = {line.account for line in SOURCES.values()}
    spending = {line.account for line in CATEGORIES.values()}
    relief = {line.account: c.value for c, line in CATEGORIES.items() if line.relief}
    for slug in slugs:
        conn = beanquery.connect(f"beancount:{ledger_dir / slug / 'main.beancount'}")
        rows = conn.execute("SELECT date, filename, lineno, account, number, payee, entry_meta('roll') AS roll, "
                            "entry_meta('reverses') AS rev, links, entry_meta('seq') AS seq, "
                            "entry_meta('household') AS household").fetchall()
        reversed_links = {r[7] for r in rows if r[7]}
        per_entry: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        for day, _filename, _lineno, account, number, payee, roll, rev, links, seq, household in rows:
            if day < START:
                before[(slug, account)] += number
                continue
            if day > END:
                continue
            period[(slug, account)] += number
            month = f"{day:%Y-%m}"
            if account in own_income:
                months[month][0] -= number
            if account in spending:
                months[month][1] += number
            fund = fund_of_account(account)
            if fund is not None:
                per_entry[(slug, str(seq), fund.value)] += number
            live = not rev and not (set(links) & reversed_links)
            if account in relief and live:
                if roll:
                    with (ledger_dir / slug / roll).open(encoding="utf-8") as fh:
                        for line in csv.DictReader(fh):
                            who = line["公民身份号码"]
                            name = line["领款人"]
                            aided[slug].add((relief[account], f"{who}:{name}"))
                elif household:  # a payment that names its household (a visit's cash)
                    aided[slug].add((relief[account], f"household:{household}"))
                else:
                    aided[slug].add((relief[account], f"payee:{payee}"))
        for (_f, _l, fund_name), net in per_entry.items():
            flows[fund_name][0 if net > 0 else 1] += abs(net)
    return Independent(dict(period), dict(before), flows, dict(months), dict(aided))


def _cells(figures: dict[str, Any], report: str) -> list[list[str]]:
    return [r["cells"] for r in figures["reports"][report]["rows"]]


def _sum(d: dict[tuple[str, str], Decimal], account: str, slug: str | None = None) -> Decimal:
    return sum((v for (s, a), v in d.items() if (slug is None or s == slug)
                and (a == account or a.startswith(account + ":"))), Decimal(0))


def test_every_statement_figure_equals_beanquery_over_the_files(demo: Demo) -> None:
    with demo.session() as db:
        row = db.get_one(Statement, demo.statement_id)
        figures = row.figures
        books = {b.id: b for b in db.scalars(select(FundBook)).all()}
        org_names = dict(db.execute(select(Organisation.id, Organisation.name)).tuples().all())
    slugs = sorted(b.slug for b in books.values())
    assert len(slugs) == 15
    bq = _independent(demo.ledger_dir, slugs)
    slug_of = {org_names[b.org_id]: b.slug for b in books.values()}
    checked = 0

    # trial balance: opening, debit - credit, closing of every account over all books
    accounts = {a for _, a in bq.period} | {a for _, a in bq.before}
    for account, _zh, opening, moved, closing in _cells(figures, "trial-balance")[:-1]:
        assert Decimal(opening) == _sum(bq.before, account), account
        assert Decimal(moved) == _sum(bq.period, account), account
        assert Decimal(closing) == _sum(bq.before, account) + _sum(bq.period, account), account
        accounts.discard(account)
        checked += 3
    assert all(not _sum(bq.period, a) and not _sum(bq.before, a) for a in accounts)

    # income by source: every source, every group, and the total (internal allocations cancel out)
    income = {label or detail: Decimal(amount) for label, detail, amount in _cells(figures, "income-by-source")}
    for line in SOURCES.values():
        assert income[line.zh] == -_sum(bq.period, line.account), line.zh
        checked += 1
    for zh, sources in queries.SOURCE_GROUPS.values():
        assert income[zh] == -sum((_sum(bq.period, SOURCES[s].account) for s in sources), Decimal(0))
        checked += 1
    assert _sum(bq.period, ALLOCATION_IN) + _sum(bq.period, ALLOCATION_OUT) == 0
    assert income["收入合计"] == -sum((_sum(bq.period, line.account) for line in SOURCES.values()), Decimal(0))
    assert figures["summary"]["income"] == f"{income['收入合计']:.2f}"

    # spending by category, relief subtotal, total
    spent = {key: Decimal(amount) for key, _zh, amount in _cells(figures, "spending-by-category")}
    for cat, line in CATEGORIES.items():
        assert spent[cat.value] == _sum(bq.period, line.account), cat
        checked += 1
    assert spent["relief"] == sum((_sum(bq.period, line.account) for line in CATEGORIES.values() if line.relief),
                                  Decimal(0))
    assert spent["total"] == sum((_sum(bq.period, line.account) for line in CATEGORIES.values()), Decimal(0))

    # restricted funds: opening, in, out, closing
    for fund, _zh, opening, inflow, outflow, closing in _cells(figures, "restricted-funds"):
        fund_accounts = {a for _, a in bq.period if fund_of_account(a) is not None and fund_of_account(a).value == fund}
        o = sum((_sum(bq.before, a) for a in fund_accounts), Decimal(0))
        assert Decimal(opening) == o
        assert [Decimal(inflow), Decimal(outflow)] == bq.fund_flows[fund], fund
        assert Decimal(closing) == o + sum((_sum(bq.period, a) for a in fund_accounts), Decimal(0))
        checked += 4

    # fund targets and publicity, per level
    for name, _kind, own, target, result in _cells(figures, "fund-targets"):
        slug = slug_of[name]
        expected = -sum((_sum(bq.period, line.account, slug) for line in SOURCES.values()), Decimal(0))
        assert Decimal(own) == expected, name
        assert (result == "达标") == (expected >= Decimal(target))
        checked += 1
    for name, pub, prog, _share, result in _cells(figures, "publicity")[:-1]:
        slug = slug_of[name]
        p = _sum(bq.period, CATEGORIES[Category.publicity].account, slug)
        g = p + sum((_sum(bq.period, line.account, slug) for line in CATEGORIES.values() if line.relief), Decimal(0))
        assert (Decimal(pub), Decimal(prog)) == (p, g), name
        assert (result == "达标") == (p * 10 >= g)
        checked += 1

    # households aided per level and in total; relief spending per head
    for name, households, relief in _cells(figures, "households-aided")[:-1]:
        slug = slug_of[name]
        assert int(households) == len({who for _c, who in bq.aided.get(slug, set())}), name
        assert Decimal(relief) == sum((_sum(bq.period, line.account, slug) for line in CATEGORIES.values()
                                       if line.relief), Decimal(0))
        checked += 2
    total = sum(len({who for _c, who in v}) for v in bq.aided.values())
    assert figures["summary"]["households"] == str(total)
    assert figures["summary"]["population"] == county.POPULATION
    assert figures["summary"]["per_head"] == f"{(spent['relief'] / county.POPULATION).quantize(Decimal('0.01'))}"

    # month by month
    for month, inc, out in _cells(figures, "monthly"):
        assert [Decimal(inc), Decimal(out)] == bq.months.get(month, [0, 0]), month
        checked += 2
    assert checked > 150


def test_drill_down_adds_up_to_each_figure(demo: Demo) -> None:
    client = demo.client
    token = _token(demo, "auditor")
    r = client.get(f"/api/reports/spending-by-category?org={demo.county_id}&from={START}&to={END}", headers=token)
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    for row in rows:
        drill = client.get(row["drill"], headers=token)
        assert drill.status_code == 200, drill.text
        assert drill.json()["total"] == row["cells"][2], row
    # A drill-down by case category: its total is the sum of exactly the postings it lists, page by page.
    cases = client.get(f"/api/reports/cases-by-state?org={demo.county_id}&from={START}&to={END}", headers=token)
    drilled = [row for row in cases.json()["rows"] if row["drill"]]
    assert drilled
    for row in drilled:
        first = client.get(row["drill"] + "&limit=2", headers=token).json()
        listed, page = list(first["postings"]), first["postings"]
        while len(page) == 2:
            after = page[-1]["posting_id"]
            page = client.get(row["drill"] + f"&limit=2&after={after}", headers=token).json()["postings"]
            listed += page
        assert Decimal(first["total"]) == sum(Decimal(p["amount"]) for p in listed), row
        assert len({p["posting_id"] for p in listed}) == len(listed)
    visits = next(row for row in rows if row["cells"][0] == "visits")
    postings = client.get(visits["drill"], headers=token).json()["postings"]
    assert any(p["reverses_seq"] for p in postings)  # the demo's reversal is among the visit postings
    lines = client.get(f"/api/reports/drill/roll-lines?org={demo.county_id}&from={START}&to={END}"
                       "&category=only_child_reward", headers=token).json()
    assert lines and all(re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", line["resident_id"]) for line in lines)


def _token(demo: Demo, username: str) -> dict[str, str]:
    with demo.session() as db:
        user = db.scalars(select(User).where(User.username == username)).one()
        secret, _ = auth_services.create_token(db, user, "reports-test")
        db.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_csv_and_xlsx_downloads_and_the_cli_table(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    token = _token(demo, "county-secretary")
    base = f"/api/reports/income-by-source?org={demo.county_id}&from={START}&to={END}"
    as_json = demo.client.get(base, headers=token).json()
    total = next(r["cells"][2] for r in as_json["rows"] if r["cells"][0] == "收入合计")
    text = demo.client.get(base + "&format=csv", headers=token).content.decode("utf-8-sig")
    assert f"收入合计,,{total}," in text
    book = load_workbook(io.BytesIO(demo.client.get(base + "&format=xlsx", headers=token).content))
    values = [[c.value for c in row] for row in book.active.iter_rows()]
    assert any(v[0] == "收入合计" and Decimal(str(v[2])) == Decimal(total) for v in values)
    # outside the secretary's subtree: a township secretary asking for the county answers 404
    hekou = _token(demo, "hekou-secretary")
    assert demo.client.get(base, headers=hekou).status_code == 404

    from typer.testing import CliRunner

    from assoc_ledger.cli import app

    monkeypatch.setenv("ASSOC_DATABASE_URL", demo.settings.database_url)
    monkeypatch.setenv("ASSOC_LEDGER_DIR", str(demo.ledger_dir))
    monkeypatch.setenv("COLUMNS", "160")
    from assoc_ledger.core.config import get_settings

    get_settings.cache_clear()
    out = CliRunner().invoke(app, ["report", "income-by-source", "--org", county.COUNTY_CODE, "--from", "2025-01-01",
                                   "--to", "2025-12-31"])
    assert out.exit_code == 0, out.output
    assert "收入合计" in out.output and total in out.output
    get_settings.cache_clear()


# --- 2. the PDFs ------------------------------------------------------------------------------------------

def _text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


HEADINGS = ("年度计划生育公益金收支报告", "一、收支概况", "二、收入", "三、支出", "四、逐月收支", "五、限定用途资金",
            "六、目标完成情况", "七、受助家庭", "审计签发")


def test_pdf_text_fonts_glyphs(demo: Demo, tmp_path: Path) -> None:
    with demo.session() as db:
        summary = db.get_one(Statement, demo.statement_id).figures["summary"]
    for path in (demo.internal, demo.public):
        text = _text(path)
        for heading in HEADINGS:
            assert heading in text, (path.name, heading)
        for key in ("income", "spending", "government", "society", "relief"):
            assert summary[key] in text, key
        pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(path)], capture_output=True,
                                                                 text=True, check=True).stdout).group(1))
        assert re.search(rf"第\s*1\s*页\s*共\s*{pages}\s*页", text)
        assert re.search(rf"第\s*{pages}\s*页\s*共\s*{pages}\s*页", text)
        fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
        lines = fonts.splitlines()[2:]
        assert lines and all("WenQuanYi" in line for line in lines), fonts
        assert all(line.split()[-5] == "yes" for line in lines), fonts  # emb column

    # the font holds a glyph for every character the PDFs use (no tofu), checked against its cmap
    from fontTools.ttLib import TTCollection

    cmap = TTCollection(str(pdf.font_file())).fonts[0].getBestCmap()
    used = set(_text(demo.internal) + _text(demo.public)) - set(" \n\r\t\f")
    missing = sorted(ch for ch in used if ord(ch) not in cmap)
    assert not missing, missing

    # a rendered page has glyphs: the heading band of page 2 is inked, and differs from a blank render
    subprocess.run(["pdftoppm", "-r", "50", "-f", "2", "-l", "2", "-png", "-singlefile", str(demo.public),
                    str(tmp_path / "page")], check=True)
    png = tmp_path / "page.png"
    from PIL import Image

    image = Image.open(png).convert("L")
    dark = sum(1 for p in image.getdata() if p < 128)
    assert dark > 2000, dark
    docs = Path(__file__).resolve().parents[1] / "docs"
    if os.environ.get("ASSOC_UPDATE_DOCS"):
        subprocess.run(["pdftoppm", "-r", "80", "-f", "2", "-l", "2", "-png", "-singlefile", str(demo.public),
                        str(docs / "statement-page")], check=True)
    assert (docs / "statement-page.png").is_file()


def test_internal_pdf_is_pdfa3b_with_its_evidence_attached(demo: Demo) -> None:
    reader = PdfReader(demo.internal)
    attachments = reader.attachments
    with demo.session() as db:
        row = db.get_one(Statement, demo.statement_id)
        expected_names = {f"{b['slug']}/{name}" for b in row.fingerprint["books"] for name in b["files"]}
        csv_bytes = pdf.figures_csv(row)
    assert expected_names | {"figures.csv"} == set(attachments)
    for name, blobs in attachments.items():
        assert len(blobs) == 1
        if name == "figures.csv":
            assert blobs[0] == csv_bytes
        else:
            slug, file_name = name.split("/", 1)
            assert blobs[0] == (demo.ledger_dir / slug / file_name).read_bytes(), name
    assert any(n.endswith("/2025.beancount") for n in attachments)
    assert any("/rolls/" in n for n in attachments)

    # PDF/A-3b structure (no veraPDF on PyPI: checked with pypdf against ISO 19005-3's requirements)
    catalog = reader.trailer["/Root"]
    xmp = catalog["/Metadata"].get_object().get_data().decode()
    assert re.search(r"pdfaid:part(>|=\")3", xmp) and re.search(r"pdfaid:conformance(>|=\")B", xmp), xmp[:500]
    intents = catalog["/OutputIntents"]
    assert any(i.get_object()["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in i.get_object() for i in intents)
    af = catalog["/AF"]
    # WeasyPrint lists each file specification twice in /AF (from the name tree and from the objects)
    assert isinstance(af, ArrayObject) and len({ref.idnum for ref in af}) == len(attachments)
    for ref in af:
        spec = ref.get_object()
        assert isinstance(spec, DictionaryObject)
        assert spec["/AFRelationship"] in ("/Source", "/Data")
        embedded = spec["/EF"]["/F"].get_object()
        assert "/Subtype" in embedded and "/Params" in embedded and "/ModDate" in embedded["/Params"]
    assert "/Encrypt" not in reader.trailer


# --- 4. the public statement and page ---------------------------------------------------------------------

def test_public_pdf_and_page_hold_no_name_no_id_no_small_group(demo: Demo) -> None:
    page = demo.client.get("/public/statements")
    assert page.status_code == 200
    assert "演示县计划生育协会" in page.text and "2025" in page.text
    link = re.search(r'href="(/public/statements/\d+/pdf)"', page.text)
    assert link
    served = demo.client.get(link.group(1))
    assert served.status_code == 200 and served.content.startswith(b"%PDF")
    served_path = demo.public.with_name("served.pdf")
    served_path.write_bytes(served.content)
    texts = {"public pdf": _text(demo.public), "served pdf": _text(served_path), "page": page.text}

    orgs = county.organisations()
    people = list(county.members(orgs))
    names = {p.name for p in people}
    ids = {p.resident_id for p in people}
    with demo.session() as db:
        row = db.get_one(Statement, demo.statement_id)
        from assoc_ledger.fund.models import FundEntry, FundRollLine

        payees = set(db.scalars(select(FundEntry.payee).where(FundEntry.category.in_(
            [c.value for c in queries.RELIEF_CATEGORIES]))).all())
        roll_people = db.execute(select(FundRollLine.payee, FundRollLine.resident_id)).tuples().all()
        from assoc_ledger.entitlements.models import EntitlementLine
        from assoc_ledger.people.models import Person

        roll_people += db.execute(select(EntitlementLine.payee, EntitlementLine.resident_id)).tuples().all()
        people_names = set(db.scalars(select(Person.name)).all())
    names |= {p for p in payees if p and len(p) <= 4}  # people, not companies or rolls
    names |= {payee.removesuffix("户") for payee, _ in roll_people} | people_names
    ids |= {rid for _, rid in roll_people}
    assert len(names) > 1000 and len(ids) > 1000
    org_names = sorted({o.name for o in orgs}, key=len, reverse=True)
    for where, text in texts.items():
        flat = re.sub(r"\s+", "", text)
        for org_name in org_names:  # a person may share two characters with a town (柳林 in 柳林镇)
            flat = flat.replace(org_name, "〇")
        found = sorted(n for n in names if n in flat)
        assert not found, (where, found[:10])
        assert not [i for i in ids if i in flat], where
        assert not re.search(r"\d{6}\*{4,}\d{3}[\dX]|\d{17}[\dX]", flat), where
        assert row.prepared_by not in flat and (row.signed_by or "?") not in flat
    # no group of fewer than 5 households: every shown count is ≥ 5, smaller merged groups show none
    groups = row.figures["public_groups"]
    assert groups and all(n is None or n >= queries.MIN_GROUP for _t, _c, n, _a in groups)
    assert any(n is None or c == "其他类别（合并）" for _t, c, n, _a in groups)
    # and the public PDF prints exactly those groups
    public_text = re.sub(r"[ \t]+", " ", texts["public pdf"])
    for town, cat, n, amount in groups:
        shown = str(n) if n is not None else f"<{queries.MIN_GROUP}"
        assert re.search(rf"{re.escape(town)} {re.escape(cat)} {re.escape(shown)} {re.escape(amount)}", public_text), \
            (town, cat, shown, amount)
