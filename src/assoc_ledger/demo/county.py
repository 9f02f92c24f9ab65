"""The demo county as plain values: organisations, members and a little history, from a fixed seed.

Modelled on the seed county (shared/seeds, 001): “共辖8个镇5个乡1个办事处，317个行政村，总人口47万人，
其中已婚育龄妇女9.7万人”. Everything here is pure data — nothing touches the database — so the
plan is easy to inspect and the same seed always gives the same county. Members are generated
chapter by chapter, each chapter from its own seed, so ``scale=N`` extends ``scale=1`` instead of
reshuffling it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from faker import Faker
from stdnum.cn import ric

from assoc_ledger.members.models import LeftReason, MemberRole
from assoc_ledger.orgs.models import OrgKind

SEED = 20261123
COUNTY_CODE = "341799000000"  # 统计用区划代码 of a county that does not exist (34 17 99)
COUNTY_NAME = "演示县计划生育协会"
REGION = COUNTY_CODE[:6]
POPULATION = 470_000
MARRIED_WOMEN_CBA = 97_000
# Birth places of people who moved in (for 流动人口 and a few others).
OTHER_REGIONS = ("340102", "340104", "341502", "320106", "330106", "410105", "420106", "510107")

# 统计用区划代码: township-level 001-099 街道, 100-199 镇, 200-399 乡; under them 001-199 居委会, 200-399 村委会.
STREET = ("城东街道办事处", OrgKind.street, "001", 8)
TOWNS = (("城关镇", 30), ("河口镇", 26), ("石桥镇", 24), ("柳林镇", 25), ("高庄镇", 23), ("双河镇", 22),
         ("新集镇", 24), ("马店镇", 21))
TOWNSHIPS = (("东岭乡", 23), ("西山乡", 22), ("南湖乡", 24), ("北塘乡", 22), ("龙泉乡", 23))
COMMUNITY_NAMES = ("建设路", "人民路", "文化路", "解放路", "新华", "和平", "幸福", "光明", "东门", "西门",
                   "南关", "北关", "滨河", "育才", "振兴", "朝阳")
VILLAGE_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
                    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔汤")
VILLAGE_SUFFIXES = ("庄", "集", "湾", "营", "楼", "寨", "店", "岗", "洼", "圩", "桥", "沟", "坡", "岭", "河", "塘",
                    "铺", "园", "家庄", "家湾", "老庄", "新庄")
VILLAGE_PREFIXES = ("", "", "", "", "东", "西", "南", "北", "前", "后", "大", "小")
# The same village name in two towns: “所属组织” must then be written “镇名/村名” or as a code.
SHARED_VILLAGE = "王庄村"
SHARED_IN = ("河口镇", "石桥镇")
NOT_CONSTITUTED_IN = "北塘乡"  # 整建率 below 100% here, as the seeds' target implies it can be
ENTERPRISES = (("河口镇", "华丰纺织有限公司计生协会"), ("城关镇", "恒达食品有限公司计生协会"),
               ("双河镇", "双河工业园区计生协会"))
MIGRANTS = ("驻杭州流动人口计生协会", "驻苏州流动人口计生协会")
SKILLS = ("家政服务", "农业技术", "医疗保健", "法律咨询", "心理疏导", "文艺宣传", "电商销售", "养殖技术", "照护老人",
          "儿童托管")
TODAY = date(2026, 11, 1)  # fixed, so the county does not drift with the calendar


@dataclass(frozen=True)
class OrgSpec:
    key: str  # the code, or a stable key for chapters without one
    name: str
    kind: OrgKind
    parent_key: str | None
    code: str | None
    population: int | None = None
    married_women_cba: int | None = None
    constituted_on: date | None = None


@dataclass(frozen=True)
class MemberSpec:
    org_key: str
    name: str
    resident_id: str
    phone: str
    address: str
    joined_on: date
    roles: tuple[MemberRole, ...]
    is_volunteer: bool
    skills: str | None
    group: str | None


@dataclass(frozen=True)
class HistorySpec:
    """Something that happened to a member after joining: left, died, or moved chapter."""

    resident_id: str
    org_key: str
    on: date
    reason: LeftReason
    to_org_key: str | None = None


def _split(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder apportionment: integers in proportion to weights, summing exactly to total."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)[: total - sum(out)]:
        out[i] += 1
    return out


def organisations() -> list[OrgSpec]:
    rng = random.Random(SEED)  # noqa: S311 - reproducible demo data, not secrets
    county = OrgSpec(COUNTY_CODE, COUNTY_NAME, OrgKind.county, None, COUNTY_CODE, POPULATION, MARRIED_WOMEN_CBA,
                     date(1992, 5, 1))
    units: list[tuple[str, OrgKind, str, int]] = [STREET]
    units += [(name, OrgKind.town, f"{101 + i:03d}", n) for i, (name, n) in enumerate(TOWNS)]
    units += [(name, OrgKind.township, f"{201 + i:03d}", n) for i, (name, n) in enumerate(TOWNSHIPS)]
    grassroots: list[tuple[str, str, OrgKind, str, bool]] = []  # (unit name, name, kind, code, constituted)
    for unit_name, kind, unit_digits, count in units:
        unit_code = f"{REGION}{unit_digits}000"
        communities = count if kind is OrgKind.street else (5 if unit_name == "城关镇" else 0)
        used: set[str] = set()
        for i in range(count):
            if i < communities:
                name = f"{COMMUNITY_NAMES[(i + len(unit_name)) % len(COMMUNITY_NAMES)]}社区"
                vkind, code = OrgKind.community, f"{unit_code[:9]}{i + 1:03d}"
            else:
                vkind, code = OrgKind.village, f"{unit_code[:9]}{200 + i - communities + 1:03d}"
                if unit_name in SHARED_IN and i == communities:
                    name = SHARED_VILLAGE
                else:
                    name = ""
                    while not name or name in used or name == SHARED_VILLAGE:
                        name = (rng.choice(VILLAGE_PREFIXES) + rng.choice(VILLAGE_SURNAMES)
                                + rng.choice(VILLAGE_SUFFIXES) + "村")
            used.add(name)
            constituted = not (unit_name == NOT_CONSTITUTED_IN and i % 4 == 1) and rng.random() > 0.01
            grassroots.append((unit_name, name, vkind, code, constituted))

    weights = [rng.lognormvariate(0, 0.35) * (1.6 if k is OrgKind.community else 1.0)
               for _, _, k, _, _ in grassroots]
    people = _split(POPULATION, weights)
    women = _split(MARRIED_WOMEN_CBA, [p * rng.uniform(0.18, 0.23) for p in people])
    specs = [county]
    unit_specs: dict[str, OrgSpec] = {}
    village_specs: list[OrgSpec] = []
    for (unit_name, name, kind, code, constituted), pop, wom in zip(grassroots, people, women, strict=True):
        unit_code = f"{code[:9]}000"
        village_specs.append(OrgSpec(code, name, kind, unit_code, code, pop, wom,
                                     date(2008 + rng.randrange(0, 15), rng.randrange(1, 13), 1) if constituted
                                     else None))
        prev = unit_specs.get(unit_code)
        unit_kind = next(k for n, k, _, _ in units if n == unit_name)
        unit_specs[unit_code] = OrgSpec(unit_code, unit_name, unit_kind, COUNTY_CODE, unit_code,
                                        (prev.population or 0) + pop if prev else pop,
                                        (prev.married_women_cba or 0) + wom if prev else wom, date(2003, 3, 1))
    specs += list(unit_specs.values())
    specs += village_specs
    by_name = {s.name: s for s in unit_specs.values()}
    for unit_name, name in ENTERPRISES:
        parent = by_name[unit_name]
        specs.append(OrgSpec(f"E:{name}", name, OrgKind.enterprise, parent.key, None,
                             constituted_on=date(2015, 6, 1)))
    for name in MIGRANTS:
        specs.append(OrgSpec(f"M:{name}", name, OrgKind.migrant, COUNTY_CODE, None, constituted_on=date(2012, 9, 1)))
    return specs


def _resident_id(rng: random.Random, born: date, female: bool, used: set[str], region: str) -> str:
    while True:
        seq = rng.randrange(0, 500) * 2 + (0 if female else 1)
        body = f"{region}{born:%Y%m%d}{seq:03d}"
        number = body + ric.calc_check_digit(body + "0")
        if number not in used:
            used.add(number)
            return number


def _officers(kind: OrgKind) -> list[tuple[MemberRole, ...]]:
    """Roles of a chapter's first members; everyone after them is a plain 会员."""
    if kind in (OrgKind.county, OrgKind.town, OrgKind.township, OrgKind.street):
        return [(MemberRole.president,), (MemberRole.exec_vice_president,), (MemberRole.vice_president,),
                (MemberRole.vice_president,), (MemberRole.secretary_general, MemberRole.council_member),
                (MemberRole.council_member,), (MemberRole.council_member,), (MemberRole.council_member,)]
    return [(MemberRole.president,), (MemberRole.secretary_general, MemberRole.council_member),
            (MemberRole.vice_president,), (MemberRole.council_member,), (MemberRole.council_member,),
            (MemberRole.group_leader,), (MemberRole.group_leader,)]


def members(orgs: list[OrgSpec], scale: int = 1) -> Iterator[MemberSpec]:
    """A few thousand members at scale 1 (about ten per village); ``scale`` multiplies the plain members."""
    fake = Faker("zh_CN")
    used: set[str] = set()
    names = {o.key: o for o in orgs}
    for index, org in enumerate(orgs):
        rng = random.Random(SEED * 1009 + index)  # noqa: S311
        fake.seed_instance(SEED + index)
        officers = _officers(org.kind)
        if org.kind in (OrgKind.village, OrgKind.community):
            plain = rng.randrange(2, 7) * scale
        elif org.kind in (OrgKind.enterprise, OrgKind.migrant):
            plain = rng.randrange(8, 16) * scale
        else:
            plain = 1 * scale
        parent = names.get(org.parent_key) if org.parent_key else None
        place = (parent.name if parent and parent.kind is not OrgKind.county else "") + org.name
        groups = ("第一小组", "第二小组") if org.kind in (OrgKind.village, OrgKind.community) else ()
        for i in range(len(officers) + plain):
            roles = officers[i] if i < len(officers) else (MemberRole.member,)
            female = rng.random() < (0.7 if MemberRole.secretary_general not in roles else 0.9)
            age = rng.randrange(24, 68)
            born = TODAY - timedelta(days=age * 365 + rng.randrange(0, 365))
            region = rng.choice(OTHER_REGIONS) if (org.kind is OrgKind.migrant or rng.random() < 0.04) else REGION
            rid = _resident_id(rng, born, female, used, region)
            earliest = max(born + timedelta(days=365 * 20), date(2003, 3, 1))
            joined = earliest + timedelta(days=rng.randrange(0, max((TODAY - earliest).days - 30, 1)))
            volunteer = rng.random() < 0.25
            group = None
            if groups and (MemberRole.group_leader in roles or (i >= len(officers) and rng.random() < 0.6)):
                group = groups[i % 2]
            yield MemberSpec(
                org_key=org.key, name=fake.name_female() if female else fake.name_male(), resident_id=rid,
                phone=fake.phone_number(), address=f"演示县{place}{rng.randrange(1, 12)}组{rng.randrange(1, 80)}号",
                joined_on=joined, roles=roles, is_volunteer=volunteer,
                skills="、".join(rng.sample(SKILLS, rng.randrange(1, 3))) if volunteer else None, group=group)


def history(orgs: list[OrgSpec], people: list[MemberSpec]) -> list[HistorySpec]:
    """About 3% of plain members leave, die or move to a village in the same township."""
    rng = random.Random(SEED + 7)  # noqa: S311
    siblings: dict[str | None, list[str]] = {}
    for o in orgs:
        if o.kind in (OrgKind.village, OrgKind.community):
            siblings.setdefault(o.parent_key, []).append(o.key)
    parent_of = {o.key: o.parent_key for o in orgs}
    out: list[HistorySpec] = []
    for p in people:
        if p.roles != (MemberRole.member,) or rng.random() > 0.03:
            continue
        on = p.joined_on + timedelta(days=rng.randrange(30, max((TODAY - p.joined_on).days, 31)))
        on = min(on, TODAY)
        pick = rng.random()
        if pick < 0.4:
            out.append(HistorySpec(p.resident_id, p.org_key, on, LeftReason.withdrew))
        elif pick < 0.6:
            out.append(HistorySpec(p.resident_id, p.org_key, on, LeftReason.died))
        else:
            choices = [k for k in siblings.get(parent_of.get(p.org_key), []) if k != p.org_key]
            if choices:
                out.append(HistorySpec(p.resident_id, p.org_key, on, LeftReason.moved, rng.choice(choices)))
    return out
