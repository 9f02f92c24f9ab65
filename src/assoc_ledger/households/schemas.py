"""API shapes for households: resident IDs leave masked; dates are ISO; kinds and relations by their codes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from assoc_ledger.core.schemas import IdField, Schema
from assoc_ledger.households.models import Household, HouseholdEvent, HouseholdReview
from assoc_ledger.households.rules import EVENT_ZH, KIND_ZH, EventKind, Facts, KindCode, Relation
from assoc_ledger.people.models import Person


class MemberIn(Schema):
    person_id: IdField = Field(description="人员编号（先在 /api/people 登记）")
    relation: Relation = Field(description="与户主关系：户主、配偶、子女、父母、其他")


class KindIn(Schema):
    kind: KindCode = Field(description="家庭类别")
    since: dt.date = Field(description="认定日期（光荣证为发证日期）")
    evidence: str | None = Field(default=None, max_length=200, description="认定依据（证明材料）")
    certificate_no: str | None = Field(default=None, max_length=50, description="《独生子女父母光荣证》编号")
    child_id: IdField | None = Field(default=None, description="独生子女的人员编号")


class HouseholdCreate(Schema):
    org_id: IdField = Field(description="所属村（社区）")
    address: str | None = Field(default=None, max_length=200, description="住址")
    registered_on: dt.date = Field(description="自何日起本户如此构成（成员须已出生）")
    members: list[MemberIn] = Field(min_length=1, max_length=30)
    kinds: list[KindIn] = Field(default_factory=list, max_length=6)


class EventIn(Schema):
    kind: EventKind = Field(description="事件类型")
    date: dt.date = Field(description="事件发生日期（不晚于今天）")
    person_id: IdField | None = Field(default=None, description="涉及的家庭成员（出生、死亡、离婚、个人迁移）")
    relation: Relation | None = Field(default=None, description="迁入或出生成员与户主关系")
    to_org_id: IdField | None = Field(default=None, description="全户迁往（迁回）的村或社区")
    out_of_county: bool | None = Field(default=None, description="全户迁出本县")
    address: str | None = Field(default=None, max_length=200)
    certificate_no: str | None = Field(default=None, max_length=50)
    child_id: IdField | None = None
    household_kind: KindCode | None = Field(default=None, description="类别认定/退出的家庭类别")
    evidence: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=500)
    review_id: IdField | None = Field(default=None, description="登记此事件即处理该待核实事项")


class CorrectionIn(Schema):
    reason: str = Field(min_length=2, max_length=500, description="更正理由（原事件保留在历史中）")
    replacement: EventIn | None = Field(default=None, description="实际发生的事件（如日期有误时的正确日期）；"
                                                                  "为空表示原事件根本没有发生")


class DismissIn(Schema):
    reason: str = Field(min_length=2, max_length=500, description="不予登记的理由")


class ReviewOut(Schema):
    id: int
    household_id: int
    visit_id: int | None
    change: str
    label: str
    note: str | None
    opened_at: dt.datetime
    opened_by: str | None
    closed_at: dt.datetime | None
    closed_by: str | None
    resolution: str | None
    event_id: int | None
    reason: str | None

    @classmethod
    def of(cls, r: HouseholdReview, labels: dict[str, str]) -> ReviewOut:
        return cls(id=r.id, household_id=r.household_id, visit_id=r.visit_id, change=r.change,
                   label=labels.get(r.change, r.change), note=r.note, opened_at=r.opened_at, opened_by=r.opened_by,
                   closed_at=r.closed_at, closed_by=r.closed_by, resolution=r.resolution, event_id=r.event_id,
                   reason=r.reason)


class HouseholdOut(Schema):
    id: int
    org_id: int
    address: str | None
    registered_on: dt.date
    active: bool
    kinds: list[str]

    @classmethod
    def of(cls, h: Household, kinds: list[str]) -> HouseholdOut:
        return cls(id=h.id, org_id=h.org_id, address=h.address, registered_on=h.registered_on, active=h.active,
                   kinds=kinds)


class HouseholdPage(Schema):
    items: list[HouseholdOut]
    limit: int
    next_after: int | None = Field(description="下一页传入 after= 此值；为空表示没有更多")


class MemberOut(Schema):
    person_id: int
    name: str
    resident_id_masked: str
    birth_date: dt.date
    relation: str
    since: dt.date
    died_on: dt.date | None


class KindOut(Schema):
    kind: str
    label: str
    since: dt.date
    evidence: str | None
    certificate_no: str | None
    child_id: int | None


class EventOut(Schema):
    id: int
    kind: str
    label: str
    date: dt.date
    person_id: int | None
    data: dict[str, Any]
    recorded_at: dt.datetime
    recorded_by: str | None
    voided_by: int | None = Field(default=None, description="作废本事件的更正事件编号（为空表示有效）")

    @classmethod
    def of(cls, e: HouseholdEvent, voided_by: int | None = None) -> EventOut:
        return cls(id=e.id, kind=e.kind, label=EVENT_ZH[EventKind(e.kind)], date=e.effective_on,
                   person_id=e.person_id, data=e.data or {}, recorded_at=e.recorded_at, recorded_by=e.recorded_by,
                   voided_by=voided_by)


class CorrectionOut(Schema):
    correction: EventOut
    replacement: EventOut | None


class HouseholdDetail(Schema):
    id: int
    on: dt.date | None = Field(description="所示事实的日期（空为当前）")
    known_at: dt.datetime | None = Field(description="按此时刻已登记的事件（空为全部）")
    registered: bool = Field(description="该日期时本户是否已登记")
    org_id: int | None
    address: str | None
    active: bool
    members: list[MemberOut]
    kinds: list[KindOut]
    history: list[EventOut]

    @classmethod
    def of(cls, household_id: int, facts: Facts, people: dict[int, Person], history: list[HouseholdEvent],
           on: dt.date | None, known_at: dt.datetime | None) -> HouseholdDetail:
        members = [MemberOut(person_id=m.person_id, name=people[m.person_id].name,
                             resident_id_masked=people[m.person_id].resident_id_masked,
                             birth_date=people[m.person_id].birth_date, relation=m.relation.value, since=m.since,
                             died_on=m.died_on) for m in facts.members]
        voided = {e.data["corrects"]: e.id for e in history if e.kind == EventKind.correction.value}
        kinds = [KindOut(kind=k.kind.value, label=KIND_ZH[k.kind], since=k.since, evidence=k.evidence,
                         certificate_no=k.certificate_no, child_id=k.child_id) for k in facts.kinds]
        return cls(id=household_id, on=on, known_at=known_at, registered=facts.registered, org_id=facts.org_id,
                   address=facts.address, active=facts.active, members=members, kinds=kinds,
                   history=[EventOut.of(e, voided.get(e.id)) for e in history])
