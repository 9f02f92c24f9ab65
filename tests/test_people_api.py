"""People as their own area: registered without joining anything, and logged without ciphertext or full number."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.models import AuditEntry
from assoc_ledger.auth.scope import Role
from assoc_ledger.people.models import Person
from tests.conftest import AuthFor, Tree
from tests.roster_files import resident_id


def test_a_person_needs_no_membership_and_the_log_keeps_only_the_mask(
        client: TestClient[Any], tree: Tree, auth_for: AuthFor, session_factory: sessionmaker[Session]) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    number = resident_id("341122", date(1978, 3, 4), 7, True)
    created = client.post("/api/people", json={"name": "救助对象", "resident_id": number, "org_id": tree.village_a1.id,
                                               "phone": "13812345678"}, headers=h)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    # An aid recipient is a person, not a member: readable, with no membership at all.
    assert client.get(f"/api/people/{pid}", headers=h).json()["name"] == "救助对象"
    assert client.get(f"/api/people/{pid}/memberships", headers=h).json() == []
    changed = client.patch(f"/api/people/{pid}", json={"phone": "13900001111", "address": "一组"}, headers=h)
    assert changed.status_code == 200, changed.text

    with session_factory() as s:
        stored = s.scalars(select(Person).where(Person.id == pid)).one()
        sealed = {stored.resident_id_hash, base64.b64encode(stored.resident_id_cipher).decode(),
                  stored.resident_id_cipher.hex()}
        entries = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "people")).all()
    assert {e.action for e in entries} >= {"people.create", "people.update"}
    for e in entries:
        logged = f"{e.before} {e.after} {e.note}"
        assert number not in logged
        assert not any(value in logged for value in sealed)
        assert "resident_id_cipher" not in logged and "resident_id_hash" not in logged
    create = next(e for e in entries if e.action == "people.create")
    assert create.after is not None
    assert create.after["resident_id"] == number[:6] + "********" + number[-4:]


def test_a_malformed_number_is_400_and_a_closed_org_422(client: TestClient[Any], tree: Tree,
                                                         auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    good = resident_id("341122", date(1980, 1, 2), 9, False)
    bad = client.post("/api/people", json={"name": "x", "resident_id": good[:-1] + ("0" if good[-1] != "0" else "1"),
                                           "org_id": tree.village_a1.id}, headers=h)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "resident_id"
    closed = client.post(f"/api/orgs/{tree.village_a2.id}/close", json={"closed_on": "2025-01-01", "reason": "撤并"},
                         headers=h)
    assert closed.status_code in (200, 201), closed.text
    refused = client.post("/api/people", json={"name": "x", "resident_id": good, "org_id": tree.village_a2.id},
                          headers=h)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "org_id"
