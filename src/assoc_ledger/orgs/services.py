"""Organisation tree operations. History is kept as OrgEvents; nothing is ever deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.errors import Conflict, DomainError, NotFound
from assoc_ledger.orgs.models import ALLOWED_PARENTS, ORG_KIND_ZH, Organisation, OrgEvent, OrgKind


def _event(session: Session, org: Organisation, event_kind: str, scope: Scope | None,
           effective_on: date | None = None, **detail: Any) -> None:
    session.add(OrgEvent(org_id=org.id, kind=event_kind, effective_on=effective_on,
                         actor_id=scope.user_id if scope else None, detail=detail))


def get_org(session: Session, org_id: int, scope: Scope) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None or not scope.contains(org.path):
        raise NotFound("组织不存在", field="org_id")
    return org


def find_by_name_or_code(session: Session, text: str) -> Organisation | None:
    text = text.strip()
    org = session.scalar(select(Organisation).where(Organisation.code == text))
    if org is None:
        found = session.scalars(select(Organisation).where(Organisation.name == text,
                                                           Organisation.closed_on.is_(None)).limit(2)).all()
        if len(found) > 1:
            # Village names repeat across townships; picking one silently could grant the wrong subtree.
            raise DomainError(f"有多个名为“{text}”的组织，请改用区划代码", field="org")
        org = found[0] if found else None
    return org


def _check_parent(kind: OrgKind, parent: Organisation | None) -> None:
    parent_kind = OrgKind(parent.kind) if parent else None
    if parent_kind not in ALLOWED_PARENTS[kind]:
        where = ORG_KIND_ZH[parent_kind] if parent_kind else "顶层"
        raise DomainError(f"{ORG_KIND_ZH[kind]}级组织不能设在{where}之下", field="parent_id")
    if parent is not None and parent.closed_on is not None:
        raise DomainError("上级组织已撤销", field="parent_id")


def create_org(session: Session, scope: Scope, *, name: str, kind: OrgKind, parent_id: int | None,
               code: str | None = None, population: int | None = None,
               married_women_cba: int | None = None, constituted: bool = False,
               constituted_on: date | None = None) -> Organisation:
    parent = get_org(session, parent_id, scope) if parent_id is not None else None
    if parent is None and "/" not in scope.paths:
        raise NotFound("组织不存在", field="parent_id")
    _check_parent(kind, parent)
    if code and session.scalar(select(Organisation.id).where(Organisation.code == code)):
        raise Conflict(f"区划代码 {code} 已被其他组织使用", field="code")
    if constituted_on and not constituted:
        constituted = True
    org = Organisation(name=name.strip(), kind=kind.value, code=code, parent_id=parent_id,
                       path="", depth=(parent.depth + 1) if parent else 0, population=population,
                       married_women_cba=married_women_cba, constituted=constituted,
                       constituted_on=constituted_on)
    session.add(org)
    session.flush()
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    session.flush()
    _event(session, org, "created", scope, name=org.name, org_kind=org.kind, parent_id=parent_id)
    return org


def update_org(session: Session, scope: Scope, org_id: int, changes: dict[str, Any],
               expected_version: int | None = None) -> Organisation:
    org = get_org(session, org_id, scope)
    if expected_version is not None and expected_version != org.version:
        raise Conflict("该组织已被他人修改，请刷新后重试", field="version")
    if org.closed_on is not None:
        raise DomainError("组织已撤销，不能修改", field="org_id")
    if "code" in changes and changes["code"] and changes["code"] != org.code:
        clash = session.scalar(select(Organisation.id).where(Organisation.code == changes["code"]))
        if clash:
            raise Conflict(f"区划代码 {changes['code']} 已被其他组织使用", field="code")
    before = {k: _jsonable(getattr(org, k)) for k in changes}
    for key, value in changes.items():
        setattr(org, key, value)
    if changes.get("constituted_on") and not org.constituted:
        org.constituted = True
    after = {k: _jsonable(getattr(org, k)) for k in changes}
    if before != after:
        kind = "renamed" if set(changes) == {"name"} else "changed"
        _event(session, org, kind, scope, before=before, after=after)
    session.flush()
    return org


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def move_org(session: Session, scope: Scope, org_id: int, new_parent_id: int,
             effective_on: date | None = None) -> Organisation:
    org = get_org(session, org_id, scope)
    new_parent = get_org(session, new_parent_id, scope)
    if new_parent.path.startswith(org.path):
        raise DomainError("不能把组织移到它自己或其下级之下", field="parent_id")
    _check_parent(OrgKind(org.kind), new_parent)
    old_path, old_parent = org.path, org.parent_id
    new_path = f"{new_parent.path}{org.id}/"
    depth_shift = new_parent.depth + 1 - org.depth
    # One statement rewrites the whole subtree's paths.
    session.execute(
        update(Organisation)
        .where(Organisation.path.startswith(old_path, autoescape=True))
        .values(path=func.replace(Organisation.path, old_path, new_path),
                depth=Organisation.depth + depth_shift, version=Organisation.version + 1)
        .execution_options(synchronize_session=False)
    )
    session.execute(update(Organisation).where(Organisation.id == org.id)
                    .values(parent_id=new_parent.id).execution_options(synchronize_session=False))
    session.expire_all()
    org = session.get(Organisation, org_id)  # type: ignore[assignment]
    _event(session, org, "moved", scope, effective_on=effective_on, from_parent_id=old_parent,
           to_parent_id=new_parent.id, from_path=old_path, to_path=new_path)
    session.flush()
    return org


def close_org(session: Session, scope: Scope, org_id: int, closed_on: date, reason: str) -> Organisation:
    org = get_org(session, org_id, scope)
    if org.closed_on is not None:
        raise Conflict("组织已撤销", field="org_id")
    open_children = session.scalar(
        select(func.count()).select_from(Organisation)
        .where(Organisation.parent_id == org.id, Organisation.closed_on.is_(None))
    )
    if open_children:
        raise DomainError(f"还有{open_children}个下级组织未撤销，不能撤销", field="org_id")
    org.closed_on = closed_on
    _event(session, org, "closed", scope, effective_on=closed_on, reason=reason)
    session.flush()
    return org


def list_orgs(session: Session, scope: Scope, *, under: int | None = None, kind: OrgKind | None = None,
              include_closed: bool = False, q: str | None = None, limit: int = 100,
              offset: int = 0) -> tuple[list[Organisation], int]:
    stmt = select(Organisation).where(scope.clause(Organisation.path))
    if under is not None:
        root = get_org(session, under, scope)
        stmt = stmt.where(Organisation.path.startswith(root.path, autoescape=True))
    if kind is not None:
        stmt = stmt.where(Organisation.kind == kind.value)
    if not include_closed:
        stmt = stmt.where(Organisation.closed_on.is_(None))
    if q:
        stmt = stmt.where(Organisation.name.contains(q, autoescape=True))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Organisation.path).limit(limit).offset(offset)).all()
    return list(rows), total


def history(session: Session, scope: Scope, org_id: int) -> list[OrgEvent]:
    get_org(session, org_id, scope)
    return list(session.scalars(select(OrgEvent).where(OrgEvent.org_id == org_id).order_by(OrgEvent.id)))


@dataclass
class Coverage:
    org_id: int
    name: str
    units: int
    constituted: int

    @property
    def percent(self) -> str:
        if self.units == 0:
            return "0.0"
        return f"{self.constituted * 100 / self.units:.1f}"


def coverage(session: Session, scope: Scope, org_id: int) -> list[Coverage]:
    """整建率: for the unit and each direct child, open grassroots units and constituted chapters."""
    root = get_org(session, org_id, scope)
    children = session.scalars(select(Organisation).where(Organisation.parent_id == root.id,
                                                          Organisation.closed_on.is_(None))
                               .order_by(Organisation.path)).all()
    out = []
    for unit in [root, *children]:
        units, done = session.execute(
            select(func.count(), func.coalesce(func.sum(case((Organisation.constituted, 1), else_=0)), 0))
            .where(Organisation.path.startswith(unit.path, autoescape=True),
                   Organisation.closed_on.is_(None))
        ).one()
        out.append(Coverage(org_id=unit.id, name=unit.name, units=int(units), constituted=int(done)))
    return out

