"""HTTP routes for people (人员): register, read, change, and the logged full-ID view."""

from __future__ import annotations

from litestar import Controller, get, patch, post
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.crypto import IdCipher, cipher_for
from assoc_ledger.core.schemas import Id
from assoc_ledger.people import services
from assoc_ledger.people.schemas import PersonCreate, PersonOut, PersonUpdate, RevealOut, RevealRequest


def provide_cipher(state: State) -> IdCipher:
    """The resident-ID cipher of the running app's settings (not of the process environment)."""
    return cipher_for(state.settings)


class PersonController(Controller):
    path = "/api/people"
    tags = ["人员 people"]  # noqa: RUF012
    dependencies = {"cipher": Provide(provide_cipher, sync_to_thread=False)}  # noqa: RUF012

    @post("/", opt=requires(Perm.member_write), sync_to_thread=True)
    def create_person(self, db: Session, org_scope: Scope, cipher: IdCipher, data: PersonCreate) -> PersonOut:
        return PersonOut.of(services.create_person(db, org_scope, cipher=cipher, **data.model_dump()))

    @get("/{person_id:int}", opt=requires(Perm.member_read), sync_to_thread=True)
    def get_person(self, db: Session, org_scope: Scope, person_id: Id) -> PersonOut:
        return PersonOut.of(services.get_person(db, org_scope, person_id))

    @patch("/{person_id:int}", opt=requires(Perm.member_write), sync_to_thread=True)
    def update_person(self, db: Session, org_scope: Scope, person_id: Id, data: PersonUpdate) -> PersonOut:
        return PersonOut.of(services.update_person(db, org_scope, person_id, **data.model_dump(exclude_unset=True)))

    @post("/{person_id:int}/reveal-id", opt=requires(Perm.id_view), sync_to_thread=True)
    def reveal_id(self, db: Session, org_scope: Scope, cipher: IdCipher, person_id: Id,
                  data: RevealRequest) -> RevealOut:
        number = services.reveal_resident_id(db, org_scope, person_id, data.reason, cipher=cipher)
        return RevealOut(person_id=person_id, resident_id=number)


ROUTES = [PersonController]
