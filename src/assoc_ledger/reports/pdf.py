"""Statement PDFs: WeasyPrint from the Jinja templates in ``templates/statements/``, A4, Chinese, the CJK
font embedded, charts as hand-written SVG, page numbers 第 X 页 共 Y 页.

Two variants of the same frozen figures. ``internal``: the aided households with masked IDs, PDF/A-3b with
the period's ledger files, roll files and a CSV of the figures attached (the statement carries its own
evidence). ``public``: no names, no IDs; households by township and category with every group of fewer
than five merged, then suppressed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from importlib.resources import files as package_files
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from assoc_ledger.core.errors import Conflict, Invalid
from assoc_ledger.reports.models import Statement
from assoc_ledger.reports.queries import MIN_GROUP

TEMPLATES = Path(str(package_files("assoc_ledger") / "templates" / "statements"))
FONT_FAMILY = "WenQuanYi Micro Hei"
FONT_FILES = (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
              Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"))
VARIANTS = ("internal", "public")
VARIANT_ZH = {"internal": "内部审计版", "public": "公开版"}


def font_file() -> Path | None:
    """The CJK font setup installs (scripts/system-deps.sh); None when it is missing."""
    return next((p for p in FONT_FILES if p.is_file()), None)


@dataclass(frozen=True)
class Bar:
    label: str
    value: str
    width: float
    height: float = 0.0


def bars(items: list[tuple[str, Decimal]], full: float = 300.0) -> list[Bar]:
    top = max((v for _, v in items), default=Decimal(0))
    return [Bar(label, f"{value:,.2f}", float(value / top) * full if top > 0 else 0.0) for label, value in items]


def _rows(figures: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return list(figures["reports"][name]["rows"])


def charts(figures: dict[str, Any]) -> dict[str, Any]:
    income = [(r["cells"][0], Decimal(r["cells"][2])) for r in _rows(figures, "income-by-source")
              if r["total"] and r["cells"][0] != "收入合计"]
    spending = [(r["cells"][1], Decimal(r["cells"][2])) for r in _rows(figures, "spending-by-category")
                if not r["total"] and Decimal(r["cells"][2])]
    months = [(r["cells"][0], Decimal(r["cells"][1]), Decimal(r["cells"][2])) for r in _rows(figures, "monthly")]
    top = max([max(i, o) for _, i, o in months] or [Decimal(0)])
    scale = 160.0
    monthly = [{"label": m[5:], "income": float(i / top) * scale if top else 0.0,
                "spending": float(o / top) * scale if top else 0.0} for m, i, o in months]
    return {"income": bars(income), "spending": bars(spending), "monthly": monthly, "monthly_top": f"{top:,.2f}",
            "monthly_scale": scale}


def context(row: Statement, variant: str, state: str, state_zh: str, changes: list[Any]) -> dict[str, Any]:
    if variant not in VARIANTS:
        raise Invalid("版本只能是 internal 或 public", field="variant")
    figures = row.figures
    return {"s": row, "f": figures, "variant": variant, "variant_zh": VARIANT_ZH[variant], "state": state,
            "state_zh": state_zh, "changes": changes, "charts": charts(figures), "font_family": FONT_FAMILY,
            "min_group": MIN_GROUP, "public": variant == "public"}


_ENV: Environment | None = None


def _env() -> Environment:
    global _ENV  # noqa: PLW0603 - one template environment per process
    if _ENV is None:
        _ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                           trim_blocks=True, lstrip_blocks=True)

        def small(n: Any) -> str:
            return f"<{MIN_GROUP}" if n in (None, "") or (str(n).isdigit() and int(n) < MIN_GROUP) else str(n)

        _ENV.filters["small"] = small
    return _ENV


def render_html(ctx: dict[str, Any]) -> str:
    return _env().get_template("statement.html").render(**ctx)


def figures_csv(row: Statement) -> bytes:
    """Every frozen figure, one line per report row (UTF-8 with BOM so Excel opens it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["报告", "版本", "年度", "表", "行", "内容"])
    for name, report in row.figures["reports"].items():
        writer.writerow([row.id, row.version, row.year, name, "", "|".join(report["columns"])])
        for n, r in enumerate(report["rows"], start=1):
            writer.writerow([row.id, row.version, row.year, name, n, "|".join(r["cells"])])
    return ("\ufeff" + out.getvalue()).encode()


@dataclass(frozen=True)
class Evidence:
    """One file attached to the internal PDF: its name in the PDF and its bytes as fingerprinted."""

    name: str
    data: bytes
    description: str


def evidence(row: Statement, ledger_dir: Path) -> list[Evidence]:
    """The period's ledger files and rolls as they were when prepared: the books are append-only, so the
    first ``size`` bytes of each file now; a digest that no longer matches is refused (409)."""
    import hashlib

    out: list[Evidence] = []
    for book in row.fingerprint.get("books", []):
        root = Path(ledger_dir) / book["slug"]
        for name, info in sorted(book["files"].items()):
            path = root / name
            if not path.is_file():
                raise Conflict(f"账簿文件 {book['slug']}/{name} 不存在，无法附上证据", field="statement_id")
            with path.open("rb") as fh:
                data = fh.read(int(info["size"]))
            if hashlib.sha256(data).hexdigest() != info["sha256"]:
                if name == "main.beancount":  # a later year adds an include line; the year files carry the entries
                    continue
                raise Conflict(f"账簿文件 {book['slug']}/{name} 与编制时的摘要不符", field="statement_id")
            out.append(Evidence(f"{book['slug']}/{name}", data, f"{book['slug']} {name} sha256 {info['sha256']}"))
    out.append(Evidence("figures.csv", figures_csv(row), "报告数据（CSV）"))
    return out


def render_pdf(row: Statement, variant: str, state: str, state_zh: str, changes: list[Any],
               ledger_dir: Path) -> bytes:
    import weasyprint

    html = render_html(context(row, variant, state, state_zh, changes))
    doc = weasyprint.HTML(string=html, base_url=str(TEMPLATES))
    if variant == "public":
        return bytes(doc.write_pdf(pdf_identifier=f"statement-{row.id}-public".encode(), uncompressed_pdf=False))
    attachments = [weasyprint.Attachment(file_obj=io.BytesIO(e.data), name=e.name, description=e.description,
                                         relationship="Source" if e.name != "figures.csv" else "Data")
                   for e in evidence(row, ledger_dir)]
    return bytes(doc.write_pdf(pdf_variant="pdf/a-3b", attachments=attachments,
                               pdf_identifier=f"statement-{row.id}-internal".encode()))
