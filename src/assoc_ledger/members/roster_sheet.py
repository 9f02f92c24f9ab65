"""The roster's columns (会员名册): which headers a roster sheet holds, read by the shared tabular reader."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import IO

from assoc_ledger.core.tabular import Columns, Sheet
from assoc_ledger.core.tabular import open_sheet as open_tabular

# Canonical header -> spellings seen in secretaries' sheets.
ROSTER_COLUMNS = Columns(
    aliases={
        "姓名": ("会员姓名",),
        "身份证号": ("身份证号码", "公民身份号码", "身份证"),
        "联系电话": ("电话", "手机", "手机号", "手机号码", "联系方式"),
        "所属组织": ("所属协会", "组织"),
        "职务": ("会内职务",),
        "入会日期": ("入会时间",),
        "是否志愿者": ("志愿者",),
        "住址": ("家庭住址", "地址"),
        "志愿服务技能": ("服务技能", "技能"),
        "会员小组": ("小组",),
    },
    # 是否志愿者 may be left out of a sheet: an absent column reads as empty, which means 否.
    required=("姓名", "身份证号", "联系电话", "所属组织", "职务", "入会日期"),
    marks=("姓名", "身份证号"),
    dates=("入会日期",),
)


def open_sheet(f: IO[bytes]) -> AbstractContextManager[Sheet]:
    """Open an uploaded roster (XLSX or CSV)."""
    return open_tabular(f, ROSTER_COLUMNS)
