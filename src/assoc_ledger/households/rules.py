"""What a household is on a date, and which events can be: pure values and checks, no database.

``fold`` turns a household's events into its facts (the one reading of history, by effective date and
by what had been recorded at a time); ``check_event`` is the one judge of an event against the facts
before it, shared by registration, the API, and (later) the import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from assoc_ledger.core.errors import Problem


class Relation(StrEnum):
    head = "户主"
    spouse = "配偶"
    child = "子女"
    parent = "父母"
    other = "其他"


class KindCode(StrEnum):
    only_child = "only_child"
    two_daughter = "two_daughter"
    only_child_disabled = "only_child_disabled"
    only_child_deceased = "only_child_deceased"
    hardship = "hardship"
    accident = "accident"


KIND_ZH: dict[KindCode, str] = {
    KindCode.only_child: "独生子女户",
    KindCode.two_daughter: "二女户",
    KindCode.only_child_disabled: "独生子女伤残家庭",
    KindCode.only_child_deceased: "独生子女死亡家庭",
    KindCode.hardship: "特困计生家庭",
    KindCode.accident: "遭受意外的计生家庭",
}


class EventKind(StrEnum):
    registered = "registered"  # 登记
    birth = "birth"  # 子女出生
    death = "death"  # 死亡
    move_out = "move_out"  # 迁出（一人或全户）
    move_in = "move_in"  # 迁入（一人或全户）
    divorce = "divorce"  # 离婚
    certificate_issued = "certificate_issued"  # 《独生子女父母光荣证》发证
    certificate_revoked = "certificate_revoked"  # 光荣证注销
    hardship_start = "hardship_start"  # 特困开始
    hardship_end = "hardship_end"  # 特困结束
    kind_added = "kind_added"  # 其他类别认定
    kind_removed = "kind_removed"  # 其他类别退出
    correction = "correction"  # 更正：作废一条登记有误的事件（原事件保留，更正后的事实另行登记）


EVENT_ZH: dict[EventKind, str] = {
    EventKind.registered: "登记", EventKind.birth: "子女出生", EventKind.death: "死亡", EventKind.move_out: "迁出",
    EventKind.move_in: "迁入", EventKind.divorce: "离婚", EventKind.certificate_issued: "光荣证发证",
    EventKind.certificate_revoked: "光荣证注销", EventKind.hardship_start: "特困开始",
    EventKind.hardship_end: "特困结束", EventKind.kind_added: "类别认定", EventKind.kind_removed: "类别退出",
    EventKind.correction: "更正",
}

# Kinds with their own events; the rest come and go through kind_added / kind_removed with evidence.
KINDS_BY_OWN_EVENT = frozenset({KindCode.only_child, KindCode.hardship})
# Whose birth a child's birth cannot precede.
PARENTS = frozenset({Relation.head, Relation.spouse})
# Events about one member of the household; the rest are about the household as a whole.
PERSON_EVENTS = frozenset({EventKind.birth, EventKind.death, EventKind.divorce})
LEAVING = frozenset({EventKind.move_out, EventKind.divorce})


@dataclass(frozen=True)
class Event:
    """An event as a value: what the fold and the checks read (the stored row, or one about to be)."""

    kind: EventKind
    effective_on: date
    person_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    id: int = 0
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class MemberFact:
    person_id: int
    relation: Relation
    since: date
    died_on: date | None = None


@dataclass(frozen=True)
class KindFact:
    kind: KindCode
    since: date
    evidence: str | None = None
    certificate_no: str | None = None
    child_id: int | None = None


@dataclass(frozen=True)
class Facts:
    """A household on a date: where it lives, who is in it, which kinds it holds."""

    registered: bool = False
    org_id: int | None = None
    address: str | None = None
    active: bool = False
    members: tuple[MemberFact, ...] = ()
    kinds: tuple[KindFact, ...] = ()

    def member(self, person_id: int) -> MemberFact | None:
        return next((m for m in self.members if m.person_id == person_id), None)

    def kind(self, code: KindCode) -> KindFact | None:
        return next((k for k in self.kinds if k.kind == code), None)


def in_force(events: Iterable[Event]) -> list[Event]:
    """The events that stand: without corrections and without the events they void.

    A correction voids its event whatever the date asked about (the event was wrong from the start), but
    only from when the correction was recorded: filter by ``known_at`` before calling this.
    """
    events = list(events)
    voided = {e.data.get("corrects") for e in events if e.kind is EventKind.correction}
    return [e for e in events if e.kind is not EventKind.correction and e.id not in voided]


def fold(events: Iterable[Event], on: date | None = None, known_at: datetime | None = None) -> Facts:
    """The facts true on ``on`` (effective date) as recorded by ``known_at`` (recorded time); None = no limit.

    What was true and what we knew are two questions: an event corrected later is still part of what we
    knew before the correction was recorded (``known_at`` earlier than it), and not of what was true.
    """
    known = [e for e in events if known_at is None or e.recorded_at is None or e.recorded_at <= known_at]
    chosen = [e for e in in_force(known) if on is None or e.effective_on <= on]
    facts = Facts()
    for event in sorted(chosen, key=lambda e: (e.effective_on, e.id)):
        facts = apply(facts, event)
    return facts


def apply(facts: Facts, e: Event) -> Facts:
    """One event's effect on the facts before it (already judged by ``check_event``)."""
    d = e.data
    if e.kind is EventKind.registered:
        members = tuple(MemberFact(int(m["person_id"]), Relation(m["relation"]), e.effective_on)
                        for m in d.get("members", []))
        return Facts(registered=True, org_id=d.get("org_id"), address=d.get("address"), active=True, members=members)
    if e.kind in (EventKind.birth, EventKind.move_in) and e.person_id is not None:
        relation = Relation(d.get("relation") or Relation.child)
        return replace(facts, members=(*facts.members, MemberFact(e.person_id, relation, e.effective_on)))
    if e.kind is EventKind.death and e.person_id is not None:
        return replace(facts, members=tuple(replace(m, died_on=e.effective_on) if m.person_id == e.person_id else m
                                            for m in facts.members))
    if e.kind in LEAVING and e.person_id is not None:
        return replace(facts, members=tuple(m for m in facts.members if m.person_id != e.person_id))
    if e.kind is EventKind.move_out:  # the whole household
        if d.get("to_org_id"):
            return replace(facts, org_id=d["to_org_id"], address=d.get("address") or facts.address)
        return replace(facts, active=False)
    if e.kind is EventKind.move_in:  # the whole household comes back
        return replace(facts, active=True, org_id=d.get("to_org_id") or facts.org_id,
                       address=d.get("address") or facts.address)
    if e.kind is EventKind.certificate_issued:
        return _with_kind(facts, KindFact(KindCode.only_child, e.effective_on, d.get("evidence"),
                                          d.get("certificate_no"), d.get("child_id")))
    if e.kind is EventKind.hardship_start:
        return _with_kind(facts, KindFact(KindCode.hardship, e.effective_on, d.get("evidence")))
    if e.kind is EventKind.kind_added:
        return _with_kind(facts, KindFact(KindCode(d["kind"]), e.effective_on, d.get("evidence")))
    ended = {EventKind.certificate_revoked: KindCode.only_child, EventKind.hardship_end: KindCode.hardship}.get(e.kind)
    code = ended or (KindCode(d["kind"]) if e.kind is EventKind.kind_removed else None)
    if code is not None:
        return replace(facts, kinds=tuple(k for k in facts.kinds if k.kind != code))
    return facts


def _with_kind(facts: Facts, kind: KindFact) -> Facts:
    return replace(facts, kinds=(*(k for k in facts.kinds if k.kind != kind.kind), kind))


def check_registration(members: list[tuple[int, str]], births: Mapping[int, date], registered_on: date,
                       today: date) -> list[Problem]:
    """A new household: one head, known relations, no one twice, no child older than a parent, not in the future.

    ``registered_on`` is since when the household is as registered (its members all born by then), not the
    day of data entry: that is each event's recorded time.
    """
    problems: list[Problem] = []
    if registered_on > today:
        problems.append(Problem("registered_on", "登记日期不能晚于今天"))
    if not members:
        problems.append(Problem("members", "至少登记一名家庭成员（户主）"))
    relations: list[Relation | None] = []
    for i, (_, relation) in enumerate(members):
        try:
            relations.append(Relation(relation))
        except ValueError:
            relations.append(None)
            problems.append(Problem(f"members[{i}].relation", "与户主关系应为 户主、配偶、子女、父母 或 其他"))
    if members and relations.count(Relation.head) != 1:
        problems.append(Problem("members", "每户须有且只有一名户主"))
    seen: set[int] = set()
    for i, (person_id, _) in enumerate(members):
        if person_id in seen:
            problems.append(Problem(f"members[{i}].person_id", "同一人在本户中登记了两次"))
        elif births[person_id] > registered_on:
            problems.append(Problem(f"members[{i}].person_id",
                                    "登记日期早于该成员的出生日期（其后出生的子女请登记“子女出生”事件）"))
        seen.add(person_id)
    parents = [births[p] for (p, _), r in zip(members, relations, strict=True) if r in PARENTS]
    for i, ((person_id, _), rel) in enumerate(zip(members, relations, strict=True)):
        if rel is Relation.child and parents and births[person_id] < max(parents):
            problems.append(Problem(f"members[{i}].person_id", "子女的出生日期早于父母的出生日期"))
    return problems


def check_event(before: Facts, event: Event, births: Mapping[int, date], today: date,
                registered_on: date) -> list[Problem]:
    """Whether ``event`` can happen to a household whose facts just before it are ``before``.

    Fields are named as in the event request (``date``, ``person_id``, ``child_id`` …).
    """
    problems: list[Problem] = []
    d = event.data
    when = event.effective_on
    if when > today:
        problems.append(Problem("date", "事件日期不能晚于今天"))
    if when < registered_on:
        problems.append(Problem("date", f"事件日期早于本户登记日期 {registered_on}"))
    person = event.person_id
    whole_move_in = event.kind is EventKind.move_in and person is None
    if before.registered and not before.active and not whole_move_in:
        problems.append(Problem("date", "本户此时已全户迁出本县，须先登记全户迁回"))
    if before.registered and before.active and whole_move_in and not d.get("to_org_id"):
        problems.append(Problem("to_org_id", "本户此时没有迁出本县，全户迁移请填写迁入组织"))
    if event.kind is EventKind.move_out and person is None and d.get("to_org_id") == before.org_id \
            and before.org_id is not None:
        problems.append(Problem("to_org_id", "迁入组织与本户此时所在组织相同"))
    if event.kind in PERSON_EVENTS and person is None:
        problems.append(Problem("person_id", "该事件须指明家庭成员"))
    if person is not None and when < births[person]:
        # Nobody is a member before being born; the date is the mistake, so only it is named.
        problems.append(Problem("date", "事件日期早于该成员的出生日期"))
    elif person is not None:
        current = before.member(person)
        joining = event.kind in (EventKind.birth, EventKind.move_in)
        if joining and current is not None:
            problems.append(Problem("person_id", "该人员已是本户成员"))
        if not joining and current is None:
            problems.append(Problem("person_id", "该人员不是本户成员"))
        if event.kind is EventKind.death and current is not None and current.died_on is not None:
            problems.append(Problem("person_id", "该成员已登记死亡"))
        if event.kind is EventKind.birth:
            parents = [births[m.person_id] for m in before.members if m.relation in PARENTS]
            if parents and births[person] < max(parents):
                problems.append(Problem("person_id", "子女的出生日期早于父母的出生日期"))
        if event.kind is EventKind.move_in:
            try:
                Relation(d.get("relation") or "")
            except ValueError:
                problems.append(Problem("relation", "迁入成员须填写与户主关系：户主、配偶、子女、父母 或 其他"))
    elif event.kind in (EventKind.move_out, EventKind.move_in) and not (d.get("to_org_id") or d.get("out_of_county")):
        problems.append(Problem("to_org_id", "全户迁移须填写迁入组织，或注明迁出本县"))
    if event.kind is EventKind.certificate_issued:
        problems.extend(_check_certificate(before, d, births, when))
    held = {k.kind for k in before.kinds}
    if event.kind is EventKind.certificate_revoked and KindCode.only_child not in held:
        problems.append(Problem("household_kind", "本户没有有效的独生子女父母光荣证"))
    if event.kind is EventKind.hardship_start and KindCode.hardship in held:
        problems.append(Problem("household_kind", "本户已是特困计生家庭"))
    if event.kind is EventKind.hardship_end and KindCode.hardship not in held:
        problems.append(Problem("household_kind", "本户不是特困计生家庭"))
    if event.kind in (EventKind.kind_added, EventKind.kind_removed):
        problems.extend(_check_other_kind(event.kind, d, held))
    if event.kind in (EventKind.kind_added, EventKind.hardship_start) and not (d.get("evidence") or "").strip():
        problems.append(Problem("evidence", "认定类别须写明依据（证明材料）"))
    return problems


def _check_certificate(before: Facts, d: Mapping[str, Any], births: Mapping[int, date], when: date) -> list[Problem]:
    problems: list[Problem] = []
    if not (d.get("certificate_no") or "").strip():
        problems.append(Problem("certificate_no", "须填写《独生子女父母光荣证》编号"))
    child = d.get("child_id")
    member = before.member(child) if isinstance(child, int) else None
    if isinstance(child, int) and child in births and when < births[child]:
        # Said first: the child is not in the household before being born, but the date is the mistake.
        problems.append(Problem("date", "发证日期早于独生子女的出生日期"))
    elif member is None or member.relation is not Relation.child:
        problems.append(Problem("child_id", "独生子女须是本户登记的子女"))
    if before.kind(KindCode.only_child) is not None:
        problems.append(Problem("household_kind", "本户已有有效的光荣证"))
    return problems


def _check_other_kind(kind: EventKind, d: Mapping[str, Any], held: set[KindCode]) -> list[Problem]:
    try:
        code = KindCode(d.get("kind") or "")
    except ValueError:
        return [Problem("household_kind", "类别应为 " + "、".join(KindCode))]
    if code in KINDS_BY_OWN_EVENT:
        own = "光荣证发证/注销" if code is KindCode.only_child else "特困开始/结束"
        return [Problem("household_kind", f"{KIND_ZH[code]}通过“{own}”事件登记")]
    if kind is EventKind.kind_added and code in held:
        return [Problem("household_kind", f"本户已认定为{KIND_ZH[code]}")]
    if kind is EventKind.kind_removed and code not in held:
        return [Problem("household_kind", f"本户不是{KIND_ZH[code]}")]
    return []


def check_history(events: Iterable[Event], births: Mapping[int, date], today: date,
                  registered_on: date) -> list[Problem]:
    """Every event judged again in order (after a correction removes one): the first that no longer fits, named."""
    facts = Facts()
    for e in sorted(in_force(events), key=lambda e: (e.effective_on, e.id)):
        if e.kind is not EventKind.registered:
            found = check_event(facts, e, births, max(today, e.effective_on), registered_on)
            if found:
                return [Problem("event_id", f"更正后，已登记的 {e.effective_on}“{EVENT_ZH[e.kind]}”事件将不能成立："
                                            f"{found[0].message}")]
        facts = apply(facts, e)
    return []


def people_in(events: Iterable[Event]) -> set[int]:
    """Every person an event log names (members, children of certificates): whose birth dates the checks read."""
    found: set[int] = set()
    for e in events:
        found.update(int(m["person_id"]) for m in e.data.get("members", []))
        found.update(p for p in (e.person_id, e.data.get("child_id")) if isinstance(p, int))
    return found


def check_timeline(past: Iterable[Event], new: Event, births: Mapping[int, date], today: date,
                   registered_on: date) -> list[Problem]:
    """The new event judged at its place in time, and every later event judged again after it.

    A backdated event must not make a later one impossible (a death before a recorded divorce, a certificate
    revoked before it was issued); the later event is named so the user can see what it contradicts.
    """
    ordered = sorted([*past, new], key=lambda e: (e.effective_on, e.id if e is not new else float("inf")))
    facts = Facts()
    seen_new = False
    for e in ordered:
        if e is new:
            problems = check_event(facts, e, births, today, registered_on)
            if problems:
                return problems
            seen_new = True
        elif seen_new and e.kind is not EventKind.registered:
            later = check_event(facts, e, births, max(today, e.effective_on), registered_on)
            if later:
                return [Problem("date", f"与已登记的 {e.effective_on}“{EVENT_ZH[e.kind]}”事件矛盾：{later[0].message}")]
        facts = apply(facts, e)
    return []
