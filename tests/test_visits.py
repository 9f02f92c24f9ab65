"""Pairings and visits through the API: the signed sheet judged by content, cash posted once with the visit,
refusals that leave nothing behind (no row, no entry, no file), sheets only within scope, the unvisited report."""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.app import create_app
from assoc_ledger.auth.scope import Role, Scope
from assoc_ledger.core.config import Settings
from assoc_ledger.core.errors import UnsupportedMedia
from assoc_ledger.fund import service as fund_service
from assoc_ledger.fund.models import FundEntry
from assoc_ledger.households import services as households
from assoc_ledger.households import visits
from assoc_ledger.households.models import Pairing, Visit
from assoc_ledger.households.rules import Event, EventKind
from assoc_ledger.households.uploads import judge
from assoc_ledger.members import services as members
from tests import factories
from tests.conftest import AuthFor, Tree

ALL = Scope.everything()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, id_key: str) -> Settings:
    return Settings(database_url=db_url, ledger_dir=tmp_path / "ledgers", upload_dir=tmp_path / "uploads",
                    secret_key="test-secret", id_key=id_key)  # type: ignore[arg-type]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient[Any]]:
    app = create_app(settings)
    with TestClient(app=app, raise_server_exceptions=False) as c:
        yield c
    app.state.engine.dispose()


def png(pixels: int = 1) -> bytes:
    """A well-formed grey PNG, one row of ``pixels`` of noise (so that it does not compress)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    row = b"\x00" + os.urandom(pixels)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", pixels, 1, 8, 0, 0, 0, 0))
            + chunk(b"tEXt", b"Comment\x00scanned") + chunk(b"IDAT", zlib.compress(row)) + chunk(b"IEND", b""))


def jpeg_with_gps() -> bytes:
    """A JPEG's segments with an EXIF block naming a place (the scan data is not decoded by anyone here)."""
    exif = b"Exif\x00\x00MM\x00*GPSLatitude 31.2304N"
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + bytes(65)
    sos = b"\xff\xda" + struct.pack(">H", 8) + bytes(6)
    return b"\xff\xd8" + app1 + dqt + sos + b"\x12\x34\x56" + b"\xff\xd9"


def pairing(session_factory: sessionmaker[Session], village_id: int, start: date = date(2025, 1, 1)) -> int:
    with session_factory() as s:
        head = factories.person(s, village_id)
        h = households.register_household(s, ALL, org_id=village_id, address="一组", registered_on=date(2024, 1, 1),
                                          members=[(head.id, "户主")])
        m = factories.membership(s, village_id)
        members.set_volunteer(s, ALL, m.id, True, None)
        made = visits.create_pairings(s, ALL, membership_id=m.id, household_ids=[h.id], from_date=start,
                                      until_date=None)
        s.commit()
        return made[0].id


def funded_book(session_factory: sessionmaker[Session], ledger_dir: Path, town_id: int) -> int:
    with session_factory() as s:
        book = fund_service.open_book(s, ledger_dir, town_id, ALL).id
    with session_factory() as s:
        fund_service.post_income(s, ledger_dir, ALL, book, key="seed-income", date="2025-01-02", amount="1000.00",
                                 source="budget", payer="县财政局", voucher="收-1")
    return book


def post_visit(client: TestClient[Any], h: dict[str, str], pairing_id: int, sheet: tuple[str, bytes, str],
               **form: str) -> Any:
    fields = {"pairing_id": str(pairing_id), "visited_on": "2025-03-05", "services": "生活、生育",
              "signer_name": "王大娘", **form}
    return client.post("/api/visits", data=fields, files={"file": sheet}, headers=h)


def counts(session_factory: sessionmaker[Session]) -> tuple[int, int]:
    with session_factory() as s:
        return (s.scalar(select(func.count()).select_from(Visit)) or 0,
                s.scalar(select(func.count()).select_from(FundEntry)) or 0)


def files_in(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_wrong_uploads_are_refused_and_leave_nothing(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                     session_factory: sessionmaker[Session], settings: Settings,
                                                     tmp_path: Path) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    pid = pairing(session_factory, tree.village_a1.id)
    exe = b"MZ\x90\x00" + bytes(200)  # a Windows executable renamed to look like a photo
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    big = png(6 * 1024 * 1024)  # a well-formed photo over the 5 MB limit
    before = counts(session_factory)
    for name, content, media, status in [("签字单.jpg", exe, "image/jpeg", 415),
                                         ("sheet.svg", svg, "image/svg+xml", 415),
                                         ("sheet.png", big, "image/png", 413),
                                         ("truncated.png", png()[:30], "image/png", 415)]:
        r = post_visit(client, h, pid, (name, content, media), cash="20.00", voucher="走-1", idempotency_key=name)
        assert r.status_code == status, (name, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == "file"  # the multipart field
    assert counts(session_factory) == before
    assert files_in(settings.upload_dir) == []


def test_a_visit_with_cash_posts_exactly_one_entry(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                   session_factory: sessionmaker[Session], settings: Settings) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    book = funded_book(session_factory, settings.ledger_dir, tree.town_a.id)
    pid = pairing(session_factory, tree.village_a1.id)
    visits_before, entries_before = counts(session_factory)
    r = post_visit(client, h, pid, ("sheet.jpg", jpeg_with_gps(), "image/jpeg"), cash="50.00", voucher="走-7",
                   goods="米一袋", idempotency_key="visit-1")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["cash"] == "50.00" and body["services"] == ["生活", "生育"] and body["fund_entry_id"]
    assert counts(session_factory) == (visits_before + 1, entries_before + 1)
    with session_factory() as s:
        entry = s.get(FundEntry, body["fund_entry_id"])
        assert entry is not None and entry.book_id == book and entry.category == "visits"
    # The stored sheet has lost its EXIF (with the position) and is named by its content.
    stored = files_in(settings.upload_dir)
    assert len(stored) == 1 and b"GPSLatitude" not in stored[0].read_bytes()
    assert stored[0].stem == judge(jpeg_with_gps()).sha256
    sheet = client.get(f"/api/visits/{body['id']}/sheet", headers=h)
    assert sheet.status_code == 200 and sheet.content == stored[0].read_bytes()
    assert sheet.headers["content-type"].startswith("image/jpeg")
    # The same request again (a retry) posts nothing more.
    again = post_visit(client, h, pid, ("sheet.jpg", jpeg_with_gps(), "image/jpeg"), cash="50.00", voucher="走-7",
                       goods="米一袋", idempotency_key="visit-1")
    assert again.status_code == 201 and again.json()["id"] == body["id"]
    assert counts(session_factory) == (visits_before + 1, entries_before + 1)
    # The books still check clean.
    main = next(settings.ledger_dir.rglob("main.beancount"))
    checked = subprocess.run([str(Path(__file__).parents[1] / ".venv" / "bin" / "bean-check"), str(main)],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_refused_cash_visit_posts_nothing_and_keeps_no_file(
        client: TestClient[Any], tree: Tree, auth_for: AuthFor, session_factory: sessionmaker[Session],
        settings: Settings) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    funded_book(session_factory, settings.ledger_dir, tree.town_a.id)
    pid = pairing(session_factory, tree.village_a1.id)
    before = counts(session_factory)
    r = post_visit(client, h, pid, ("sheet.png", png(), "image/png"), cash="5000.00", voucher="走-8",
                   idempotency_key="too-much")  # more than the book holds
    assert r.status_code == 422, r.text
    assert counts(session_factory) == before
    assert files_in(settings.upload_dir) == []
    future = post_visit(client, h, pid, ("sheet.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n", "application/pdf"),
                        visited_on="2099-01-01")
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "visited_on"
    assert files_in(settings.upload_dir) == []


def test_another_chapters_sheet_is_not_found_and_the_unvisited_report(
        client: TestClient[Any], tree: Tree, auth_for: AuthFor, session_factory: sessionmaker[Session],
        settings: Settings) -> None:
    mine = auth_for(Role.secretary, tree.town_a.id)
    theirs = auth_for(Role.secretary, tree.town_b.id)
    visited = pairing(session_factory, tree.village_a1.id)
    skipped = pairing(session_factory, tree.village_a2.id)
    later = pairing(session_factory, tree.village_a1.id, start=date(2025, 4, 1))
    r = post_visit(client, mine, visited, ("sheet.png", png(), "image/png"))
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    before, stored = counts(session_factory), files_in(settings.upload_dir)
    denied = client.get(f"/api/visits/{vid}/sheet", headers=theirs)
    assert denied.status_code == 404 and denied.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/api/visits/{vid}", headers=theirs).status_code == 404
    other_sheet = jpeg_with_gps()
    assert post_visit(client, theirs, visited, ("sheet.jpg", other_sheet, "image/jpeg")).status_code == 404
    assert counts(session_factory) == before and files_in(settings.upload_dir) == stored  # nothing written
    report = client.get("/api/pairings/unvisited?month=2025-03", headers=mine)
    assert report.status_code == 200, report.text
    assert [(x["pairing_id"], x["org_name"]) for x in report.json()] == [(skipped, "甲二村")]
    assert later not in [x["pairing_id"] for x in report.json()]
    assert client.get("/api/pairings/unvisited?month=2025-03", headers=theirs).json() == []
    assert client.get("/api/pairings/unvisited?month=2025-13", headers=mine).status_code == 400

    # A household is judged as it was in the month asked about, not as it is today.
    moved = pairing(session_factory, tree.village_a1.id)
    with session_factory() as s:
        left, came = (s.get(Pairing, skipped), s.get(Pairing, moved))
        assert left is not None and came is not None
        households.record_event(s, ALL, left.household_id, Event(EventKind.move_out, date(2025, 5, 10),
                                                                 data={"out_of_county": True}))
        households.record_event(s, ALL, came.household_id, Event(EventKind.move_out, date(2025, 6, 20),
                                                                 data={"to_org_id": tree.village_b1.id}))
        s.commit()

    def listed(month: str, h: dict[str, str]) -> list[tuple[int, str]]:
        r = client.get(f"/api/pairings/unvisited?month={month}", headers=h)
        assert r.status_code == 200, r.text
        return [(x["pairing_id"], x["org_name"]) for x in r.json()]

    assert listed("2025-03", mine) == [(moved, "甲一村"), (skipped, "甲二村")]  # both lived in 甲镇 then
    assert listed("2025-03", theirs) == []
    assert (skipped, "甲二村") in listed("2025-05", mine)  # left on the 10th: still due that month
    assert skipped not in [p for p, _ in listed("2025-06", mine)]  # gone from the county
    assert listed("2025-06", theirs) == [(moved, "乙一村")]  # moved on the 20th: under its new village
    assert moved not in [p for p, _ in listed("2025-06", mine)]
    assert (moved, "甲一村") in listed("2025-05", mine)


def test_sheets_lose_their_metadata_and_broken_images_are_refused() -> None:
    cleaned = judge(png()).content
    assert b"tEXt" not in cleaned and cleaned.startswith(b"\x89PNG") and cleaned.endswith(b"IEND\xaeB`\x82")
    assert b"Exif" not in judge(jpeg_with_gps()).content
    with pytest.raises(UnsupportedMedia, match="损坏"):
        judge(jpeg_with_gps()[:-2])  # no end-of-image marker


def test_a_flag_at_a_visit_is_listed_until_recorded_or_dismissed(
        client: TestClient[Any], tree: Tree, auth_for: AuthFor, session_factory: sessionmaker[Session]) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    pid = pairing(session_factory, tree.village_a1.id)
    with session_factory() as s:
        hid = s.get(Pairing, pid).household_id  # type: ignore[union-attr]
    bad = post_visit(client, h, pid, ("sheet.png", png(), "image/png"), flag="lottery")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "flag"
    for flag in ("death", "hardship_ended"):
        r = post_visit(client, h, pid, ("sheet.png", png(), "image/png"), flag=flag, flag_note="邻居反映")
        assert r.status_code == 201, r.text
    listed = client.get(f"/api/households/{hid}/reviews", headers=h).json()
    assert [(x["change"], x["label"]) for x in listed] == [("death", "死亡"), ("hardship_ended", "特困结束")]
    detail = client.get(f"/api/households/{hid}", headers=h).json()
    head = detail["members"][0]["person_id"]
    recorded = client.post(f"/api/households/{hid}/events", headers=h, json={
        "kind": "death", "date": "2025-03-01", "person_id": head, "review_id": listed[0]["id"]})
    assert recorded.status_code == 201, recorded.text
    no_reason = client.post(f"/api/households/{hid}/reviews/{listed[1]['id']}/dismiss", headers=h, json={"reason": ""})
    assert no_reason.status_code == 400
    dismissed = client.post(f"/api/households/{hid}/reviews/{listed[1]['id']}/dismiss", headers=h,
                            json={"reason": "本户从未认定为特困"})
    assert dismissed.status_code == 201 and dismissed.json()["resolution"] == "dismissed"
    assert client.get(f"/api/households/{hid}/reviews", headers=h).json() == []
    closed = client.get(f"/api/households/{hid}/reviews?include_closed=true", headers=h).json()
    assert [(x["resolution"], x["event_id"] is not None) for x in closed] == [("recorded", True), ("dismissed", False)]
    again = client.post(f"/api/households/{hid}/reviews/{listed[1]['id']}/dismiss", headers=h, json={"reason": "重复"})
    assert again.status_code == 409


def test_a_village_secretary_pays_cash_from_the_township_book(
        client: TestClient[Any], tree: Tree, auth_for: AuthFor, session_factory: sessionmaker[Session],
        settings: Settings) -> None:
    """The village keeps no book: the visit's cash is one 走访慰问 entry in its township's book, posted by the
    village's own secretary; the books still check clean. Another township's secretary cannot."""
    village = auth_for(Role.secretary, tree.village_a1.id)
    book = funded_book(session_factory, settings.ledger_dir, tree.town_a.id)
    pid = pairing(session_factory, tree.village_a1.id)
    before = counts(session_factory)
    r = post_visit(client, village, pid, ("sheet.png", png(), "image/png"), cash="30.00", voucher="走-9",
                   idempotency_key="village-cash")
    assert r.status_code == 201, r.text
    assert counts(session_factory) == (before[0] + 1, before[1] + 1)
    with session_factory() as s:
        entry = s.get(FundEntry, r.json()["fund_entry_id"])
        assert entry is not None and entry.book_id == book and entry.category == "visits"
    # The book itself stays closed to the village secretary.
    assert client.get(f"/api/fund/books/{book}", headers=village).status_code == 404
    other = auth_for(Role.secretary, tree.town_b.id)
    refused = post_visit(client, other, pid, ("sheet.png", png(), "image/png"), cash="30.00", voucher="走-10",
                         idempotency_key="other-cash")
    assert refused.status_code == 404
    assert counts(session_factory) == (before[0] + 1, before[1] + 1)
    main = next(settings.ledger_dir.rglob("main.beancount"))
    checked = subprocess.run([str(Path(__file__).parents[1] / ".venv" / "bin" / "bean-check"), str(main)],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_pairings_listed_ended_and_only_with_volunteers(
        client: TestClient[Any], tree: Tree, auth_for: AuthFor, session_factory: sessionmaker[Session]) -> None:
    mine, theirs = auth_for(Role.secretary, tree.town_a.id), auth_for(Role.secretary, tree.town_b.id)
    first = pairing(session_factory, tree.village_a1.id, start=date(2024, 1, 1))
    second = pairing(session_factory, tree.village_a2.id, start=date(2025, 1, 1))
    elsewhere = pairing(session_factory, tree.village_b1.id)
    listed = client.get("/api/pairings", headers=mine).json()
    assert [p["id"] for p in listed["items"]] == [first, second]
    under = client.get(f"/api/pairings?under={tree.village_a2.id}", headers=mine).json()["items"]
    assert [p["id"] for p in under] == [second]
    assert [p["id"] for p in client.get("/api/pairings?active_on=2024-06-01", headers=mine).json()["items"]] == [first]
    assert [p["id"] for p in client.get("/api/pairings", headers=theirs).json()["items"]] == [elsewhere]
    assert client.get(f"/api/pairings?under={tree.village_a1.id}", headers=theirs).status_code == 404
    # A visit in March 2025: the pairing cannot end before it, and ends once.
    assert post_visit(client, mine, first, ("sheet.png", png(), "image/png")).status_code == 201
    early = client.post(f"/api/pairings/{first}/end", headers=mine, json={"until_date": "2025-02-01"})
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "until_date"
    ended = client.post(f"/api/pairings/{first}/end", headers=mine, json={"until_date": "2025-03-31"})
    assert ended.status_code == 201 and ended.json()["until_date"] == "2025-03-31"
    assert client.post(f"/api/pairings/{first}/end", headers=mine, json={"until_date": "2025-04-30"}).status_code == 409
    assert client.post(f"/api/pairings/{elsewhere}/end", headers=mine,
                       json={"until_date": "2025-04-30"}).status_code == 404
    late = post_visit(client, mine, first, ("sheet.png", png(), "image/png"), visited_on="2025-04-02")
    assert late.status_code == 422 and late.json()["errors"][0]["field"] == "visited_on"
    # Only a member flagged volunteer can be paired.
    with session_factory() as s:
        plain = factories.membership(s, tree.village_a1.id).id
        hid = s.get(Pairing, first).household_id  # type: ignore[union-attr]
        s.commit()
    r = client.post("/api/pairings", headers=mine, json={"membership_id": plain, "household_ids": [hid],
                                                         "from_date": "2025-05-01"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "membership_id"
