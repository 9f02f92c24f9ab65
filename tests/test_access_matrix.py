"""Every API route × every role × an object inside the user's subtree and one outside it.

Allowed only where the role's permissions say so; 404 outside the subtree (nothing leaked);
auditors never write; anonymous callers reach only public routes. A route that is not listed
in CASES fails this test, so no route can be added without deciding who may call it.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.app import create_app
from assoc_ledger.auth import services as auth_services
from assoc_ledger.auth.audit import Actor, set_actor
from assoc_ledger.auth.guards import SYSTEM_PATH_PREFIXES, declared_perm
from assoc_ledger.auth.scope import ROLE_PERMS, WRITE_PERMS, Perm, Role, Scope
from assoc_ledger.core.config import Settings
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.entitlements import services as entitlements
from assoc_ledger.fund import service as fund_service
from assoc_ledger.households import services as households
from assoc_ledger.households import visits
from assoc_ledger.members import services as members
from assoc_ledger.members.models import MemberRole
from assoc_ledger.orgs.models import OrgKind
from assoc_ledger.orgs.services import create_org
from assoc_ledger.relief import services as relief
from assoc_ledger.relief.rules import Action
from tests import factories
from tests.conftest import PASSWORD, Tree

EVERYTHING = Scope.everything()


@dataclass
class Ctx:
    factory: sessionmaker[Session]
    tree: Tree
    acting_user_id: int
    acting_username: str
    ledger_dir: Path

    def book(self, inside: bool) -> int:
        with self.factory() as s:
            return fund_service.open_book(s, self.ledger_dir, self.home(inside), EVERYTHING).id

    def posted(self, inside: bool) -> tuple[int, int]:
        """A book with a fresh receipt in it: (book id, entry seq)."""
        book = self.book(inside)
        with self.factory() as s:
            p = fund_service.post_income(s, self.ledger_dir, EVERYTHING, book, key=_key(), date="2026-03-01",
                                         amount="5000.00", source="budget", payer="县财政局", voucher="M-1")
            return book, p.seq

    def statement(self, inside: bool, *, signed: bool = False) -> int:
        """A 2026 statement of the home township, prepared by someone other than the acting user."""
        from assoc_ledger.reports import statements

        self.posted(inside)
        with self.factory() as s:
            row = statements.prepare(s, EVERYTHING, self.ledger_dir, self.home(inside), 2026,
                                     statements.Actor(None, "matrix-preparer"))
            if signed:
                statements.sign(s, EVERYTHING, row.id, statements.Actor(None, "matrix-auditor"), "同意公开")
            return row.id

    def home(self, inside: bool) -> int:
        return self.tree.town_a.id if inside else self.tree.town_b.id

    def village(self, inside: bool) -> int:
        with self.factory() as s:
            org = create_org(s, EVERYTHING, name=f"村{uuid.uuid4().hex[:6]}", kind=OrgKind.village,
                             parent_id=self.home(inside))
            s.commit()
            return org.id

    def person(self, inside: bool) -> int:
        with self.factory() as s:
            p = factories.person(s, self.home(inside))
            s.commit()
            return p.id

    def membership(self, inside: bool) -> int:
        with self.factory() as s:
            m = factories.membership(s, self.village_in(s, inside))
            s.commit()
            return m.id

    def village_in(self, s: Session, inside: bool) -> int:
        return (self.tree.village_a1 if inside else self.tree.village_b1).id

    def role_term(self, inside: bool) -> tuple[int, int]:
        with self.factory() as s:
            m = factories.membership(s, self.village_in(s, inside))
            t = members.assign_role(s, EVERYTHING, m.id, MemberRole.council_member, date(2021, 1, 1))
            s.commit()
            return m.id, t.id

    def user(self, inside: bool) -> int:
        with self.factory() as s:
            u = auth_services.create_user(s, f"u-{uuid.uuid4().hex[:8]}", PASSWORD)
            auth_services.grant_role(s, u, Role.secretary, self.home(inside))
            s.commit()
            return u.id

    def grant(self, inside: bool) -> tuple[int, int]:
        with self.factory() as s:
            u = auth_services.create_user(s, f"g-{uuid.uuid4().hex[:8]}", PASSWORD)
            g = auth_services.grant_role(s, u, Role.auditor, self.home(inside))
            s.commit()
            return u.id, g.id

    def token(self, inside: bool) -> int:
        with self.factory() as s:
            if inside:
                user = s.get(auth_services.User, self.acting_user_id)
            else:
                user = auth_services.create_user(s, f"t-{uuid.uuid4().hex[:8]}", PASSWORD)
            assert user is not None
            _, tok = auth_services.create_token(s, user, "matrix")
            s.commit()
            return tok.id


# (method, path) -> builder(ctx, inside) -> (url, json body or None). None for `inside=False` means the
# route touches no organisation object (only the caller's own data or a scoped listing).
Builder = Callable[[Ctx, bool], tuple[str, Any] | None]


def _key() -> str:
    return "matrix-" + uuid.uuid4().hex


def _income() -> dict[str, Any]:
    return {"date": "2026-03-02", "amount": "100.00", "source": "donation_person", "payer": "张先生",
            "voucher": "M-2", "idempotency_key": _key()}


def _payment() -> dict[str, Any]:
    return {"date": "2026-03-03", "amount": "50.00", "category": "visits", "payee": "李大娘", "voucher": "M-3",
            "idempotency_key": _key()}


def _roll() -> dict[str, Any]:
    key = _key()
    return {"date": "2026-03-25", "category": "only_child_reward", "roll": f"2026-03-{key}", "voucher": "M-5",
            "lines": [{"payee": "王某户", "resident_id": "341122********0018", "period": "2026-03", "amount": "20.00",
                       "reference": "GRZ-1"}], "idempotency_key": key}


def _mid(c: Ctx, i: bool) -> int:
    return c.membership(i)


@dataclass
class Upload:
    """A multipart file body (field ``file``), with any other form fields."""

    name: str
    content: bytes
    media: str = "text/csv"
    form: dict[str, str] = field(default_factory=dict)


@dataclass
class Form:
    """A url-encoded page form (what a browser posts); cookie sessions add ``_csrf``, tokens need none."""

    data: dict[str, str]


def _money(fields: dict[str, str]) -> Form:
    return Form({"step": "confirm", "idempotency_key": _key(), "narration": "", "via": "Bank", **fields})


def _held_import(c: Ctx, inside: bool, kind: str) -> Form:
    """A file already checked by the page's dry run, as the confirmation finds it (web/import_pages.py)."""
    token = uuid.uuid4().hex + "abcd"
    upload = _roster_csv(c, inside) if kind == "members" else _households_csv(c, inside)
    held = c.ledger_dir.parent / "uploads" / "web-imports" / f"{c.acting_user_id}-{token}.upload"
    held.parent.mkdir(parents=True, exist_ok=True)
    held.write_bytes(upload.content)
    import hashlib

    return Form({"token": token, "sha256": hashlib.sha256(upload.content).hexdigest(), "filename": "a.csv"})


def _reverse_form(book: int, seq: int) -> tuple[str, Form]:
    return f"/fund/books/{book}/reverse", _money({"seq": str(seq), "date": "2026-03-05", "reason": "录入错误",
                                                   "voucher": "W-4"})


def _households_csv(c: Ctx, inside: bool) -> Upload:
    village = c.tree.village_a1 if inside else c.tree.village_b1
    text = ("户编号,姓名,身份证号,与户主关系,所属组织,登记日期\n"
            f"H{uuid.uuid4().hex[:6]},赵六,{factories.unique_resident_id()},户主,{village.name},2024-01-01\n")
    return Upload("households.csv", text.encode("utf-8"))


def _png() -> bytes:
    """The smallest well-formed PNG (1×1 grey), as a scanned signed sheet."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))


def _pairing(c: Ctx, inside: bool) -> int:
    """A volunteer of the village paired with one of its households."""
    household = _household(c, inside)
    with c.factory() as s:
        m = factories.membership(s, c.village_in(s, inside))
        members.set_volunteer(s, EVERYTHING, m.id, True, None)
        p = visits.create_pairings(s, EVERYTHING, membership_id=m.id, household_ids=[household],
                                   from_date=date(2024, 1, 1), until_date=None)
        s.commit()
        return p[0].id


def _volunteer(c: Ctx, inside: bool) -> int:
    """A volunteer's membership in a village inside (or outside) the acting user's subtree."""
    with c.factory() as s:
        m = factories.membership(s, c.village_in(s, inside))
        members.set_volunteer(s, EVERYTHING, m.id, True, None)
        s.commit()
        return m.id


def _visit_form(c: Ctx, inside: bool) -> Upload:
    return Upload("sheet.png", _png(), "image/png", {"pairing_id": str(_pairing(c, inside)),
                                                      "visited_on": "2025-03-02", "services": "生活,生育",
                                                      "signer_name": "王大娘"})


def _visit(c: Ctx, inside: bool) -> int:
    with c.factory() as s:
        form = visits.VisitForm(pairing_id=_pairing(c, inside), visited_on=date(2025, 3, 2), services=["生活"],
                                signer_name="王大娘")
        return visits.record_visit(s, EVERYTHING, c.ledger_dir, c.ledger_dir.parent / "uploads", form, _png()).id


def _roster_csv(c: Ctx, inside: bool) -> Upload:
    village = c.tree.village_a1 if inside else c.tree.village_b1
    rid = factories.unique_resident_id()
    text = ("姓名,身份证号,联系电话,所属组织,职务,入会日期,是否志愿者\n"
            f"王五,{rid},13900002222,{village.name},会员,2024-01-01,否\n")
    return Upload("roster.csv", text.encode("utf-8"))


def _household(c: Ctx, inside: bool) -> int:
    """A registered household in a village inside (or outside) the acting user's subtree."""
    with c.factory() as s:
        village = c.village_in(s, inside)
        head = factories.person(s, village)
        h = households.register_household(s, EVERYTHING, org_id=village, address="一组", registered_on=date(2024, 1, 1),
                                          members=[(head.id, "户主")])
        s.commit()
        return h.id


def _review(c: Ctx, inside: bool) -> tuple[int, int]:
    """A household with an open review item: (household id, review id)."""
    household = _household(c, inside)
    with c.factory() as s:
        review = households.open_review(s, household, "birth", "走访时听说添了孩子", None)
        s.commit()
        return household, review.id


def _corrigible(c: Ctx, inside: bool) -> tuple[int, int]:
    """A household with an event recorded by mistake: (household id, event id)."""
    household = _household(c, inside)
    with c.factory() as s:
        event = households.record_event(s, EVERYTHING, household, households.event_from(
            "hardship_start", date(2024, 6, 1), None, evidence="误登"))
        s.commit()
        return household, event.id


def _scheme(c: Ctx, inside: bool) -> int:
    """A general-relief scheme run by the town (its book pays), up to 1000 yuan, an application required."""
    with c.factory() as s:
        scheme = relief.create_scheme(s, EVERYTHING, code=f"m-{uuid.uuid4().hex[:10]}", name="一般帮扶",
                                      category="general", org_id=c.home(inside),
                                      spec=relief.VersionSpec(effective_from=date(2024, 1, 1), amount_rule="ceiling",
                                                              amount="1000.00", documents=["申请书"]))
        s.commit()
        return scheme.id


def _as(s: Session, name: str) -> None:
    """Act as a fresh user (no grants needed: the services run here with the whole tree as scope)."""
    user = auth_services.create_user(s, f"{name}-{uuid.uuid4().hex[:8]}", PASSWORD)
    s.flush()
    set_actor(s, Actor(user.id, user.username, None))


def _case(c: Ctx, inside: bool, upto: str = "registered") -> int:
    """A relief case of a household of the village, taken by three other users up to ``upto``."""
    scheme = _scheme(c, inside)
    household = _household(c, inside)
    with c.factory() as s:
        _as(s, "recorder")
        case = relief.register_case(s, EVERYTHING, relief.CaseForm(
            scheme_id=scheme, household_id=household, case_date=date(2026, 3, 1), payee="王大娘", summary="因病致贫",
            amount="100.00"))
        s.commit()
        case_id = case.id
        relief.add_document(s, EVERYTHING, c.ledger_dir.parent / "uploads", case_id, "申请书", _png())
    steps = {"registered": [], "reviewed": [Action.review], "approved": [Action.review, Action.approve]}
    for action in steps.get(upto, [Action.review, Action.approve]):
        with c.factory() as s:
            _as(s, action.value)
            relief.act(s, EVERYTHING, case_id, action)
            s.commit()
    if upto == "paid":
        c.posted(inside)  # the town's book with money in it
        with c.factory() as s:
            _as(s, "payer")
            relief.pay_case(s, EVERYTHING, c.ledger_dir, case_id, on=date(2026, 3, 10))
    return case_id


def _scheme_body(c: Ctx, inside: bool) -> dict[str, Any]:
    return {"code": f"m-{uuid.uuid4().hex[:10]}", "name": "重点救助", "category": "key", "org_id": c.home(inside),
            "effective_from": "2025-01-01", "amount_rule": "ceiling", "amount": "5000.00", "documents": ["申请书"]}


CASES: dict[tuple[str, str], Builder] = {
    # Relief schemes and cases (帮扶救助).
    ("GET", "/api/relief/schemes"): lambda c, i: ("/api/relief/schemes?category=general", None) if i else None,
    ("POST", "/api/relief/schemes"): lambda c, i: ("/api/relief/schemes", _scheme_body(c, i)),
    ("GET", "/api/relief/schemes/{scheme_id:int}"): lambda c, i: (f"/api/relief/schemes/{_scheme(c, i)}", None),
    ("POST", "/api/relief/schemes/{scheme_id:int}/versions"):
        lambda c, i: (f"/api/relief/schemes/{_scheme(c, i)}/versions", {
            "effective_from": "2027-01-01", "amount_rule": "ceiling", "amount": "1200.00"}),
    ("GET", "/api/relief/cases"):
        lambda c, i: (f"/api/relief/cases?under={c.home(i)}&waiting_for_me=true&state=registered", None),
    ("POST", "/api/relief/cases"): lambda c, i: ("/api/relief/cases", {
        "scheme_id": _scheme(c, i), "household_id": _household(c, i), "case_date": "2026-03-01", "payee": "王大娘",
        "summary": "因病致贫", "amount": "300.00"}),
    ("GET", "/api/relief/cases/{case_id:int}"): lambda c, i: (f"/api/relief/cases/{_case(c, i)}", None),
    ("POST", "/api/relief/cases/{case_id:int}/review"):
        lambda c, i: (f"/api/relief/cases/{_case(c, i)}/review", {"comment": "材料齐全"}),
    ("POST", "/api/relief/cases/{case_id:int}/approve"):
        lambda c, i: (f"/api/relief/cases/{_case(c, i, 'reviewed')}/approve", {"comment": "同意"}),
    ("POST", "/api/relief/cases/{case_id:int}/reject"):
        lambda c, i: (f"/api/relief/cases/{_case(c, i)}/reject", {"comment": "不符合条件"}),
    ("POST", "/api/relief/cases/{case_id:int}/withdraw"):
        lambda c, i: (f"/api/relief/cases/{_case(c, i)}/withdraw", {"comment": "家庭申请撤回"}),
    ("POST", "/api/relief/cases/{case_id:int}/pay"):
        lambda c, i: (f"/api/relief/cases/{_paid_book_case(c, i)}/pay", {"date": "2026-03-10"}),
    ("POST", "/api/relief/cases/{case_id:int}/close"):
        lambda c, i: (f"/api/relief/cases/{_case(c, i, 'paid')}/close", None),
    ("POST", "/api/relief/cases/{case_id:int}/documents"):
        lambda c, i: (f"/api/relief/cases/{_case(c, i)}/documents",
                      Upload("application.png", _png(), "image/png", {"doc_type": "申请书"})),
    ("POST", "/api/pairings"): lambda c, i: ("/api/pairings", {
        "membership_id": _volunteer(c, i), "household_ids": [_household(c, i)], "from_date": "2025-01-01"}),
    ("GET", "/api/pairings"): lambda c, i: (f"/api/pairings?under={c.home(i)}&active_on=2025-03-01", None),
    ("POST", "/api/pairings/{pairing_id:int}/end"):
        lambda c, i: (f"/api/pairings/{_pairing(c, i)}/end", {"until_date": "2025-12-31"}),
    ("GET", "/api/pairings/unvisited"): lambda c, i: ("/api/pairings/unvisited?month=2025-03", None) if i else None,
    ("POST", "/api/visits"): lambda c, i: ("/api/visits", _visit_form(c, i)),
    ("GET", "/api/visits/{visit_id:int}"): lambda c, i: (f"/api/visits/{_visit(c, i)}", None),
    ("GET", "/api/visits/{visit_id:int}/sheet"): lambda c, i: (f"/api/visits/{_visit(c, i)}/sheet", None),
    ("GET", "/api/households/{household_id:int}/reviews"):
        lambda c, i: ("/api/households/{}/reviews".format(*_review(c, i)), None),
    ("POST", "/api/households/{household_id:int}/reviews/{review_id:int}/dismiss"):
        lambda c, i: ("/api/households/{}/reviews/{}/dismiss".format(*_review(c, i)), {"reason": "核实无此变化"}),
    ("GET", "/api/households"): lambda c, i: (f"/api/households?under={c.home(i)}&kind=hardship&q=一组", None),
    ("POST", "/api/households"): lambda c, i: ("/api/households", {
        "org_id": (c.tree.village_a1 if i else c.tree.village_b1).id, "registered_on": "2024-01-01", "address": "二组",
        "members": [{"person_id": c.person(i), "relation": "户主"}]}),
    ("GET", "/api/households/{household_id:int}"):
        lambda c, i: (f"/api/households/{_household(c, i)}?on=2024-06-01", None),
    ("POST", "/api/households/{household_id:int}/events"):
        lambda c, i: (f"/api/households/{_household(c, i)}/events",
                      {"kind": "hardship_start", "date": "2025-01-01", "evidence": "低保证"}),
    ("POST", "/api/households/{household_id:int}/events/{event_id:int}/correct"):
        lambda c, i: ("/api/households/{}/events/{}/correct".format(*_corrigible(c, i)), {"reason": "登记有误"}),
    ("GET", "/healthz"): lambda c, i: ("/healthz", None) if i else None,
    ("GET", "/api/orgs"): lambda c, i: (f"/api/orgs?under={c.home(i)}", None),
    ("POST", "/api/orgs"): lambda c, i: ("/api/orgs", {"name": "新村", "kind": "village", "parent_id": c.home(i)}),
    ("GET", "/api/orgs/{org_id:int}"): lambda c, i: (f"/api/orgs/{c.village(i)}", None),
    ("PATCH", "/api/orgs/{org_id:int}"): lambda c, i: (f"/api/orgs/{c.village(i)}", {"population": 10}),
    ("POST", "/api/orgs/{org_id:int}/move"):
        lambda c, i: (f"/api/orgs/{c.village(i)}/move", {"parent_id": c.home(True)}),
    ("POST", "/api/orgs/{org_id:int}/close"):
        lambda c, i: (f"/api/orgs/{c.village(i)}/close", {"closed_on": "2026-01-01", "reason": "撤并"}),
    ("GET", "/api/orgs/{org_id:int}/history"): lambda c, i: (f"/api/orgs/{c.village(i)}/history", None),
    ("GET", "/api/orgs/{org_id:int}/coverage"): lambda c, i: (f"/api/orgs/{c.home(i)}/coverage", None),
    ("GET", "/api/orgs/{org_id:int}/groups"): lambda c, i: (f"/api/orgs/{c.home(i)}/groups", None),
    ("POST", "/api/orgs/{org_id:int}/groups"):
        lambda c, i: (f"/api/orgs/{c.village(i)}/groups", {"name": "第一小组"}),
    ("POST", "/api/people"): lambda c, i: ("/api/people", {"name": "李四", "org_id": c.home(i),
                                                           "resident_id": factories.unique_resident_id()}),
    ("GET", "/api/people/{person_id:int}"): lambda c, i: (f"/api/people/{c.person(i)}", None),
    ("PATCH", "/api/people/{person_id:int}"): lambda c, i: (f"/api/people/{c.person(i)}", {"address": "一组"}),
    ("POST", "/api/people/{person_id:int}/reveal-id"):
        lambda c, i: (f"/api/people/{c.person(i)}/reveal-id", {"reason": "核对身份"}),
    ("GET", "/api/people/{person_id:int}/memberships"):
        lambda c, i: (f"/api/people/{c.person(i)}/memberships", None),
    ("GET", "/api/members"): lambda c, i: (f"/api/members?under={c.home(i)}", None),
    ("POST", "/api/members"): lambda c, i: ("/api/members", {"person_id": c.person(i), "org_id": c.home(i),
                                                             "joined_on": "2024-03-01"}),
    ("GET", "/api/members/{membership_id:int}"): lambda c, i: (f"/api/members/{_mid(c, i)}", None),
    ("POST", "/api/members/{membership_id:int}/leave"):
        lambda c, i: (f"/api/members/{_mid(c, i)}/leave", {"left_on": "2025-01-01", "reason": "withdrew"}),
    ("POST", "/api/members/{membership_id:int}/transfer"):
        lambda c, i: (f"/api/members/{_mid(c, i)}/transfer", {"to_org_id": c.village(True), "on": "2025-01-01"}),
    ("POST", "/api/members/{membership_id:int}/roles"):
        lambda c, i: (f"/api/members/{_mid(c, i)}/roles", {"role": "secretary_general", "start_on": "2024-01-01"}),
    ("POST", "/api/members/{membership_id:int}/roles/{term_id:int}/end"):
        lambda c, i: ("/api/members/{}/roles/{}/end".format(*c.role_term(i)), {"end_on": "2025-01-01"}),
    ("PATCH", "/api/members/{membership_id:int}/volunteer"):
        lambda c, i: (f"/api/members/{_mid(c, i)}/volunteer", {"is_volunteer": True, "skills": "农技"}),
    ("POST", "/api/auth/login"):
        lambda c, i: ("/api/auth/login", {"username": c.acting_username, "password": PASSWORD}) if i else None,
    ("POST", "/api/auth/logout"): lambda c, i: ("/api/auth/logout", None) if i else None,
    ("GET", "/api/auth/me"): lambda c, i: ("/api/auth/me", None) if i else None,
    ("GET", "/api/auth/tokens"): lambda c, i: ("/api/auth/tokens", None) if i else None,
    ("POST", "/api/auth/tokens"): lambda c, i: ("/api/auth/tokens", {"name": "脚本"}) if i else None,
    ("POST", "/api/auth/tokens/{token_id:int}/revoke"):
        lambda c, i: (f"/api/auth/tokens/{c.token(i)}/revoke", None),
    ("GET", "/api/users"): lambda c, i: ("/api/users", None) if i else None,
    ("POST", "/api/users"): lambda c, i: ("/api/users", {"username": f"n{uuid.uuid4().hex[:8]}",
                                                         "password": PASSWORD}) if i else None,
    ("GET", "/api/users/{user_id:int}/grants"): lambda c, i: (f"/api/users/{c.user(i)}/grants", None),
    ("POST", "/api/users/{user_id:int}/grants"):
        lambda c, i: (f"/api/users/{c.user(i)}/grants", {"role": "auditor", "org_id": c.home(i)}),
    ("POST", "/api/users/{user_id:int}/grants/{grant_id:int}/revoke"):
        lambda c, i: ("/api/users/{}/grants/{}/revoke".format(*c.grant(i)), None),
    ("GET", "/api/audit"): lambda c, i: ("/api/audit", None) if i else None,
    ("GET", "/api/audit/export.csv"): lambda c, i: ("/api/audit/export.csv", None) if i else None,
    # Rows outside the caller's subtree are error rows of the import report (tests/test_roster_import.py).
    ("POST", "/api/members/import"):
        lambda c, i: ("/api/members/import?dry_run=true", _roster_csv(c, i)) if i else None,
    ("GET", "/api/members/export.xlsx"): lambda c, i: (f"/api/members/export.xlsx?under={c.home(i)}", None),
    # The welfare-fund books.
    ("GET", "/api/fund/books"): lambda c, i: ("/api/fund/books", None) if i else None,
    ("POST", "/api/fund/books"): lambda c, i: ("/api/fund/books", {"org_id": c.village(i)}),
    ("GET", "/api/fund/books/{book_id:int}"): lambda c, i: (f"/api/fund/books/{c.book(i)}", None),
    ("GET", "/api/fund/books/{book_id:int}/accounts"): lambda c, i: (f"/api/fund/books/{c.book(i)}/accounts", None),
    ("GET", "/api/fund/books/{book_id:int}/journal"): lambda c, i: (f"/api/fund/books/{c.book(i)}/journal", None),
    ("GET", "/api/fund/books/{book_id:int}/balances"):
        lambda c, i: (f"/api/fund/books/{c.book(i)}/balances", None),
    ("GET", "/api/fund/books/{book_id:int}/funds"): lambda c, i: (f"/api/fund/books/{c.book(i)}/funds", None),
    ("GET", "/api/fund/books/{book_id:int}/earmarks"):
        lambda c, i: (f"/api/fund/books/{c.book(i)}/earmarks", None),
    ("POST", "/api/fund/books/{book_id:int}/earmarks"):
        lambda c, i: (f"/api/fund/books/{c.book(i)}/earmarks", {"source": "maintenance_fee", "fund": "JiangLiFuZhu",
                                                                "percent": "12.5", "effective_from": "2027-01-01"}),
    ("GET", "/api/fund/books/{book_id:int}/verify"): lambda c, i: (f"/api/fund/books/{c.book(i)}/verify", None),
    ("POST", "/api/fund/books/{book_id:int}/verify"):
        lambda c, i: (f"/api/fund/books/{c.book(i)}/verify?full=true", None),
    ("GET", "/api/fund/books/{book_id:int}/verify/status"):
        lambda c, i: (f"/api/fund/books/{c.book(i)}/verify/status", None),
    ("POST", "/api/fund/books/{book_id:int}/income"):
        lambda c, i: (f"/api/fund/books/{c.book(i)}/income", _income()),
    ("POST", "/api/fund/books/{book_id:int}/payments"):
        lambda c, i: (f"/api/fund/books/{c.posted(i)[0]}/payments", _payment()),
    ("POST", "/api/fund/books/{book_id:int}/rolls"):
        lambda c, i: (f"/api/fund/books/{c.posted(i)[0]}/rolls", _roll()),
    ("POST", "/api/fund/books/{book_id:int}/entries"):
        lambda c, i: (f"/api/fund/books/{c.posted(i)[0]}/entries", {
            "date": "2026-03-04", "narration": "银行转现金", "voucher": "M-4", "idempotency_key": _key(),
            "postings": [{"account": "Assets:Cash:General", "amount": "10.00"},
                         {"account": "Assets:Bank:General", "amount": "-10.00"}]}),
    ("POST", "/api/fund/books/{book_id:int}/entries/{seq:int}/reverse"):
        lambda c, i: ("/api/fund/books/{}/entries/{}/reverse".format(*c.posted(i)),
                      {"date": "2026-03-05", "reason": "录入错误", "voucher": "M-5", "idempotency_key": _key()}),
    ("POST", "/api/fund/books/{book_id:int}/close"):
        lambda c, i: (f"/api/fund/books/{c.book(i)}/close", {"month": "2026-01", "idempotency_key": _key()}),
    # A transfer needs two books in the caller's subtree; a town secretary has one, so only the
    # outside case is walked here (tests/test_fund_api.py posts real transfers).
    ("POST", "/api/fund/transfers"):
        lambda c, i: None if i else ("/api/fund/transfers", {
            "from_book_id": c.book(False), "to_book_id": c.book(True), "date": "2026-03-06", "amount": "1.00",
            "voucher": "M-6", "idempotency_key": _key()}),
    # Monthly entitlements (奖励扶助): a programme of the township's own book pays its subtree.
    ("GET", "/api/entitlements/programmes"): lambda c, i: ("/api/entitlements/programmes", None) if i else None,
    ("POST", "/api/entitlements/programmes"):
        lambda c, i: ("/api/entitlements/programmes", {"org_id": c.home(i) if c.book(i) else 0,
                                                       "scheme": "only_child_reward", "first_month": "2024-01"}),
    ("GET", "/api/entitlements/preview"):
        lambda c, i: (f"/api/entitlements/preview?month=2024-01&org_id={_ent_programme(c, i)}", None),
    ("POST", "/api/entitlements/runs"):
        lambda c, i: ("/api/entitlements/runs", {"month": "2024-01", "org_id": _ent_programme(c, i)}),
    ("GET", "/api/entitlements/runs"): lambda c, i: ("/api/entitlements/runs", None) if i else None,
    ("GET", "/api/entitlements/runs/{run_id:int}"): lambda c, i: (f"/api/entitlements/runs/{_ent_run(c, i)}", None),
    ("GET", "/api/entitlements/reconcile"):
        lambda c, i: (f"/api/entitlements/reconcile?from=2024-01&to=2024-12&org_id={c.home(i)}", None),
    ("GET", "/api/entitlements/reconcile.xlsx"):
        lambda c, i: (f"/api/entitlements/reconcile.xlsx?from=2024-01&to=2024-12&org_id={c.home(i)}", None),
    ("GET", "/api/entitlements/villages/{village_id:int}/roll.xlsx"):
        lambda c, i: (f"/api/entitlements/villages/{c.village(i)}/roll.xlsx?month=2024-01", None),
    ("GET", "/api/reports"): lambda c, i: ("/api/reports", None) if i else None,
    ("GET", "/api/reports/{name:str}"):
        lambda c, i: (f"/api/reports/income-by-source?org={c.posted(i) and c.home(i)}&from=2026-01-01&to=2026-12-31",
                      None),
    ("GET", "/api/reports/drill/postings"):
        lambda c, i: (f"/api/reports/drill/postings?org={c.posted(i) and c.home(i)}&from=2026-01-01&to=2026-12-31"
                      "&account=Income:Budget", None),
    ("GET", "/api/reports/drill/roll-lines"):
        lambda c, i: (f"/api/reports/drill/roll-lines?org={c.home(i)}&from=2026-01-01&to=2026-12-31", None),
    ("GET", "/api/statements"): lambda c, i: (f"/api/statements?org={c.home(i)}", None),
    ("POST", "/api/statements"): lambda c, i: ("/api/statements", {"org_id": c.posted(i) and c.home(i), "year": 2026}),
    ("GET", "/api/statements/{statement_id:int}"): lambda c, i: (f"/api/statements/{c.statement(i)}", None),
    ("POST", "/api/statements/{statement_id:int}/sign"):
        lambda c, i: (f"/api/statements/{c.statement(i)}/sign", {"comment": "经审计，账实相符"}),
    ("GET", "/api/statements/{statement_id:int}/pdf"):
        lambda c, i: (f"/api/statements/{c.statement(i)}/pdf?variant=public", None),
    ("GET", "/api/statements/{statement_id:int}/figures.csv"):
        lambda c, i: (f"/api/statements/{c.statement(i)}/figures.csv", None),
    ("GET", "/public/statements"): lambda c, i: ("/public/statements", None) if i else None,
    ("GET", "/public/statements/{statement_id:int}/pdf"):
        lambda c, i: (f"/public/statements/{c.statement(i, signed=True)}/pdf", None) if i else None,
    # Web pages: the same guards; forms carry their CSRF token (see test_web.py for the form flow).
    ("GET", "/"): lambda c, i: ("/", None) if i else None,
    ("GET", "/login"): lambda c, i: ("/login", None) if i else None,
    ("POST", "/login"): lambda c, i: None,  # form login with its own CSRF cookie: test_web.py
    ("POST", "/logout"): lambda c, i: None,  # cookie session + form CSRF: test_web.py
    ("GET", "/orgs"): lambda c, i: (f"/orgs?under={c.home(i)}", None),
    ("GET", "/members"): lambda c, i: (f"/members?under={c.home(i)}", None),
    ("GET", "/fund"): lambda c, i: ("/fund", None) if i else None,
    ("GET", "/fund/books/{book_id:int}"): lambda c, i: (f"/fund/books/{c.posted(i)[0]}?from=&to=&q=", None),
    ("GET", "/static/{file_path:path}"): lambda c, i: ("/static/app.css", None) if i else None,
    # Import pages: the dry run of a file outside the subtree lists its rows as problems (test_web_forms.py).
    ("GET", "/members/import"): lambda c, i: ("/members/import", None) if i else None,
    ("POST", "/members/import"): lambda c, i: ("/members/import", _roster_csv(c, i)) if i else None,
    ("POST", "/members/import/confirm"):
        lambda c, i: ("/members/import/confirm", _held_import(c, i, "members")) if i else None,
    ("GET", "/households/import"): lambda c, i: ("/households/import", None) if i else None,
    ("POST", "/households/import"): lambda c, i: ("/households/import", _households_csv(c, i)) if i else None,
    ("POST", "/households/import/confirm"):
        lambda c, i: ("/households/import/confirm", _held_import(c, i, "households")) if i else None,
    ("GET", "/households/export.xlsx"): lambda c, i: ("/households/export.xlsx", None) if i else None,
    # Pairings and the visit form (multipart with the signed sheet; 303 to the pairings page once recorded).
    ("GET", "/pairings"): lambda c, i: ("/pairings?month=2025-03", None) if i else None,
    ("GET", "/pairings/all"): lambda c, i: ("/pairings/all", None) if i else None,
    ("GET", "/pairings/new"): lambda c, i: ("/pairings/new", None) if i else None,
    ("POST", "/pairings/new"): lambda c, i: ("/pairings/new", Form({
        "membership_id": str(_volunteer(c, i)), "household_id": str(_household(c, i)), "from_date": "2024-02-01",
        "until_date": ""})),
    ("GET", "/pairings/{pairing_id:int}/end"): lambda c, i: (f"/pairings/{_pairing(c, i)}/end", None),
    ("POST", "/pairings/{pairing_id:int}/end"):
        lambda c, i: (f"/pairings/{_pairing(c, i)}/end", Form({"until_date": "2024-06-30"})),
    ("GET", "/visits/new"): lambda c, i: (f"/visits/new?pairing_id={_pairing(c, i)}", None) if i else None,
    ("POST", "/visits/new"): lambda c, i: ("/visits/new", Upload("sheet.png", _png(), "image/png", {
        "pairing_id": str(_pairing(c, i)), "visited_on": "2025-03-02", "services": "生活", "signer_name": "王大娘"})),
    # Relief case pages: the register, a case, and one page per step (forms answer 303 to the case).
    ("GET", "/cases"): lambda c, i: ("/cases?mine=true", None) if i else None,
    ("GET", "/cases/new"): lambda c, i: (f"/cases/new?household_id={_household(c, i)}", None) if i else None,
    ("POST", "/cases/new"): lambda c, i: ("/cases/new", Form({
        "scheme_id": str(_scheme(c, i)), "household_id": str(_household(c, i)), "case_date": "2026-03-01",
        "payee": "王大娘", "summary": "因病致困", "amount": "300.00", "months": "", "comment": "",
        "idempotency_key": _key()})),
    ("GET", "/cases/{case_id:int}"): lambda c, i: (f"/cases/{_case(c, i)}", None),
    ("POST", "/cases/{case_id:int}/documents"): lambda c, i: (f"/cases/{_case(c, i)}/documents", Upload(
        "doc.png", _png(), "image/png", {"doc_type": "低保证"})),
    ("POST", "/cases/{case_id:int}/close"):
        lambda c, i: (f"/cases/{_case(c, i, 'paid')}/close", Form({"decision": "close", "comment": ""})),
    ("GET", "/cases/{case_id:int}/review"): lambda c, i: (f"/cases/{_case(c, i)}/review", None),
    ("POST", "/cases/{case_id:int}/review"):
        lambda c, i: (f"/cases/{_case(c, i)}/review", Form({"decision": "review", "comment": "材料齐全"})),
    ("GET", "/cases/{case_id:int}/approve"): lambda c, i: (f"/cases/{_case(c, i, 'reviewed')}/approve", None),
    ("POST", "/cases/{case_id:int}/approve"):
        lambda c, i: (f"/cases/{_case(c, i, 'reviewed')}/approve", Form({"decision": "approve", "comment": ""})),
    ("GET", "/cases/{case_id:int}/pay"): lambda c, i: (f"/cases/{_case(c, i, 'approved')}/pay", None),
    ("POST", "/cases/{case_id:int}/pay"):
        lambda c, i: (f"/cases/{_paid_book_case(c, i)}/pay", Form({"date": "2026-03-10", "voucher": "",
                                                                   "via": "Bank"})),
    # Household pages: the list and one household's history.
    ("GET", "/households"): lambda c, i: ("/households?kind=hardship&q=一组", None) if i else None,
    ("GET", "/households/{household_id:int}"): lambda c, i: (f"/households/{_household(c, i)}", None),
    # The household register form: people and household in one transaction; 303 to the new household.
    ("GET", "/households/new"): lambda c, i: ("/households/new", None) if i else None,
    ("POST", "/households/new"): lambda c, i: ("/households/new", Form({
        "org_id": str((c.tree.village_a1 if i else c.tree.village_b1).id), "address": "一组",
        "registered_on": "2024-01-01", "m0_name": "赵六", "m0_resident_id": factories.unique_resident_id(),
        "m0_relation": "户主"})),
    ("GET", "/people/{person_id:int}"): lambda c, i: (f"/people/{c.person(i)}", None),
    # Entitlement pages: the preview carries the run form (the run covers the caller's whole subtree).
    ("GET", "/entitlements"): lambda c, i: ("/entitlements", None) if i else None,
    ("GET", "/entitlements/preview"):
        lambda c, i: ("/entitlements/preview?month=2024-01", None) if i and _ent_programme(c, i) else None,
    ("POST", "/entitlements/run"): lambda c, i: ("/entitlements/run", Form({
        "month": "2024-01", "pay_date": "2024-01-25"})) if i and _ent_programme(c, i) else None,
    ("GET", "/entitlements/runs/{run_id:int}"): lambda c, i: (f"/entitlements/runs/{_ent_run(c, i)}", None),
    ("GET", "/entitlements/reconcile"): lambda c, i: ("/entitlements/reconcile?from=2024-01&to=2024-12", None)
        if i else None,
    # Statement pages: prepare, read with charts, sign (PDFs download from the statements API).
    # The reports page: an organisation outside the subtree is refused under its field (404).
    ("GET", "/reports"): lambda c, i: (f"/reports?name=income-by-source&org={c.home(i)}&from=2026-01-01"
                                       "&to=2026-12-31", None),
    ("GET", "/statements"): lambda c, i: ("/statements", None) if i else None,
    ("POST", "/statements"):
        lambda c, i: ("/statements", Form({"org_id": str(c.posted(i) and c.home(i)), "year": "2026"})),
    ("GET", "/statements/{statement_id:int}"): lambda c, i: (f"/statements/{c.statement(i)}", None),
    ("POST", "/statements/{statement_id:int}"):
        lambda c, i: (f"/statements/{c.statement(i)}", Form({"comment": "经审计，账实相符"})),
    # Relief schemes (救助项目): the list, one scheme, a new scheme and a new version of its standard; a confirmed
    # form answers 303 to the scheme; an organisation or scheme outside the subtree is 404.
    ("GET", "/schemes"): lambda c, i: ("/schemes", None) if i else None,
    ("GET", "/schemes/{scheme_id:int}"): lambda c, i: (f"/schemes/{_scheme(c, i)}", None),
    ("GET", "/schemes/new"): lambda c, i: ("/schemes/new", None) if i else None,
    ("POST", "/schemes/new"): lambda c, i: ("/schemes/new", Form({
        **_scheme_form(), "step": "confirm", "code": f"w-{uuid.uuid4().hex[:10]}", "name": "临时救助",
        "category": "general", "org_id": str(c.home(i))})),
    ("GET", "/schemes/{scheme_id:int}/versions/new"):
        lambda c, i: (f"/schemes/{_scheme(c, i)}/versions/new", None),
    ("POST", "/schemes/{scheme_id:int}/versions/new"):
        lambda c, i: (f"/schemes/{_scheme(c, i)}/versions/new", Form({**_scheme_form(), "step": "confirm"})),
    # Entitlement programmes: who pays which scheme from when (a confirmed form answers 303 to the list).
    ("GET", "/entitlements/programmes"): lambda c, i: ("/entitlements/programmes", None) if i else None,
    ("POST", "/entitlements/programmes"): lambda c, i: ("/entitlements/programmes", Form({
        "org_id": str(c.book(i) and c.home(i)), "scheme": "only_child_reward", "first_month": "2024-01",
        "fund": "General", "step": "confirm"})),
    # Report drill-downs as pages: the postings and the roll lines behind a figure.
    ("GET", "/reports/postings"): lambda c, i: (
        f"/reports/postings?org={c.posted(i) and c.home(i)}&from=2026-01-01&to=2026-12-31&account=Income", None),
    ("GET", "/reports/roll-lines"):
        lambda c, i: (f"/reports/roll-lines?org={c.home(i)}&from=2026-01-01&to=2026-12-31", None),
    # Money forms: a confirmed form posts and answers 303 to the journal; outside the subtree 404.
    ("GET", "/fund/books/{book_id:int}/receipt"): lambda c, i: (f"/fund/books/{c.book(i)}/receipt", None),
    ("POST", "/fund/books/{book_id:int}/receipt"): lambda c, i: (f"/fund/books/{c.book(i)}/receipt", _money({
        "date": "2026-03-02", "amount": "100.00", "source": "budget", "payer": "县财政局", "voucher": "W-1"})),
    ("GET", "/fund/books/{book_id:int}/payment"): lambda c, i: (f"/fund/books/{c.book(i)}/payment", None),
    ("POST", "/fund/books/{book_id:int}/payment"): lambda c, i: (f"/fund/books/{c.posted(i)[0]}/payment", _money({
        "date": "2026-03-03", "amount": "50.00", "category": "visits", "fund": "General", "payee": "李大娘",
        "voucher": "W-2"})),
    ("GET", "/fund/books/{book_id:int}/transfer"): lambda c, i: (f"/fund/books/{c.book(i)}/transfer", None),
    # One book per town secretary: inside, the receiving book cannot be chosen (a form error, test_web_forms.py).
    ("POST", "/fund/books/{book_id:int}/transfer"): lambda c, i: None if i else (
        f"/fund/books/{c.book(False)}/transfer", _money({"to_book_id": str(c.book(True)), "date": "2026-03-06",
                                                          "amount": "1.00", "fund": "General", "voucher": "W-3"})),
    ("GET", "/fund/books/{book_id:int}/reverse"): lambda c, i: (f"/fund/books/{c.book(i)}/reverse?seq=1", None),
    ("POST", "/fund/books/{book_id:int}/reverse"): lambda c, i: _reverse_form(*c.posted(i)),
    ("GET", "/fund/books/{book_id:int}/close"): lambda c, i: (f"/fund/books/{c.book(i)}/close", None),
    ("POST", "/fund/books/{book_id:int}/close"):
        lambda c, i: (f"/fund/books/{c.book(i)}/close", _money({"month": "2026-02"})),  # the API case closed 01
}


def _scheme_form() -> dict[str, str]:
    """A version of a scheme's standard as the page form sends it (later than ``_scheme``'s 2024-01-01)."""
    return {"effective_from": "2026-01-01", "amount_rule": "ceiling", "amount": "800.00", "standard": "", "months": "",
            "fund": "General", "documents": "申请书", "review_steps": "review,approve", "review_due_days": "",
            "yearly_limit": "", "ends_on": "", "basis": ""}


def _ent_programme(c: Ctx, inside: bool) -> int:
    """A programme paid from the township's book; returns the township (the run's subtree)."""
    c.book(inside)
    with c.factory() as s:
        entitlements.set_programme(s, EVERYTHING, c.home(inside), scheme="only_child_reward", first_month="2024-01")
    return c.home(inside)


def _ent_run(c: Ctx, inside: bool) -> int:
    org = _ent_programme(c, inside)
    with c.factory() as s:
        return entitlements.run(s, c.ledger_dir, EVERYTHING, "2024-01", org, pay_date=date(2024, 1, 25)).id


def _paid_book_case(c: Ctx, inside: bool) -> int:
    """An approved case whose scheme's book has money to pay it."""
    case_id = _case(c, inside, "approved")
    c.posted(inside)
    return case_id


def api_routes(app: Litestar) -> dict[tuple[str, str], Perm]:
    found: dict[tuple[str, str], Perm] = {}
    for route in app.routes:
        if route.path.startswith(SYSTEM_PATH_PREFIXES):
            continue
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or handler.http_methods == {"OPTIONS"}:
                continue
            perm = declared_perm(handler)
            assert perm is not None, f"{route.path} has no declared permission"
            for method in handler.http_methods:
                if method not in ("HEAD", "OPTIONS"):
                    found[(method, route.path)] = perm
    return found


@pytest.fixture
def matrix_app(sqlite_url: str, tmp_path: Any) -> Any:
    settings = Settings(database_url=sqlite_url, ledger_dir=tmp_path / "ledgers", upload_dir=tmp_path / "uploads")
    app = create_app(settings)
    yield app
    app.state.engine.dispose()


def test_every_route_is_in_the_matrix(matrix_app: Litestar) -> None:
    routes = api_routes(matrix_app)
    missing = sorted(set(routes) - set(CASES))
    assert not missing, f"routes missing from the access matrix (decide who may call them): {missing}"
    stale = sorted(set(CASES) - set(routes))
    assert not stale, f"matrix lists routes that no longer exist: {stale}"


ROLES: list[Role | None] = [Role.admin, Role.secretary, Role.reviewer, Role.approver, Role.auditor, None]


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "anonymous")
def test_access_matrix(matrix_app: Litestar, sqlite_url: str, role: Role | None) -> None:
    ledger_dir = Path(matrix_app.state.settings.ledger_dir)
    engine = make_engine(sqlite_url)
    factory = make_sessionmaker(engine)
    with factory() as s:
        tree = Tree(s)
        username = f"acting-{role.value if role else 'anon'}"
        user = auth_services.create_user(s, username, PASSWORD)
        if role is not None:
            auth_services.grant_role(s, user, role, tree.town_a.id)
        secret, _ = auth_services.create_token(s, user, "matrix-acting")
        s.commit()
        ctx = Ctx(factory, tree, user.id, username, ledger_dir)
    headers = {"Authorization": f"Bearer {secret}"} if role is not None else {}
    failures: list[str] = []
    routes = api_routes(matrix_app)
    with TestClient(app=matrix_app, raise_server_exceptions=False) as client:
        for (method, path), perm in sorted(routes.items()):
            for inside in (True, False):
                built = CASES[(method, path)](ctx, inside)
                if built is None:
                    continue
                url, body = built
                if isinstance(body, Upload):
                    r = client.request(method, url, files={"file": (body.name, body.content, body.media)},
                                       data=body.form, headers=headers, follow_redirects=False)
                elif isinstance(body, Form):
                    r = client.request(method, url, data=body.data, headers=headers, follow_redirects=False)
                else:
                    r = client.request(method, url, json=body, headers=headers, follow_redirects=False)
                client.cookies.clear()
                got = r.status_code
                if got >= 500:
                    failures.append(f"{method} {url}: server error {got} {r.text[:200]}")
                    continue
                if perm is Perm.public:
                    expected = "2xx"
                elif role is None:
                    # Pages send you to /login; a form posted without a session is refused like the API.
                    expected = "401" if path.startswith("/api/") or method != "GET" else "303"
                elif perm is Perm.authenticated:
                    expected = "2xx" if inside else "404"
                elif perm not in ROLE_PERMS[role]:
                    expected = "403"
                else:
                    expected = "2xx" if inside else "404"
                ok = (200 <= got < 300 or (got == 303 and method == "POST" and not path.startswith("/api/"))
                      ) if expected == "2xx" else got == int(expected)
                if not ok:
                    failures.append(f"{method} {url} ({'inside' if inside else 'outside'}): expected {expected},"
                                    f" got {got} {r.text[:160]}")
                if role is Role.auditor and perm in WRITE_PERMS and got < 400:
                    failures.append(f"auditor wrote through {method} {path}")
                if expected == "404" and got == 404 and path.startswith("/api/"):
                    assert "村" not in r.json().get("detail", "")
    engine.dispose()
    assert not failures, "\n".join(failures)
