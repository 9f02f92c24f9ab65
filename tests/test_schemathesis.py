"""Property-based API testing with schemathesis against our own OpenAPI document at /schema.

Bounded examples per operation, authenticated as a county admin (and anonymous for public routes):
no server errors, and every response conforms to the schema the API publishes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from assoc_ledger.app import create_app
from assoc_ledger.auth import services as auth_services
from assoc_ledger.auth.scope import Role
from assoc_ledger.core.config import Settings
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.core.migrate import upgrade
from tests import factories
from tests.conftest import PASSWORD, Tree

HEADERS: dict[str, str] = {}


def _build_app() -> Any:
    """Built at import: schemathesis generates one test per operation at collection time."""
    root = Path(tempfile.mkdtemp(prefix="assoc-schemathesis-"))
    url = f"sqlite:///{root / 'db.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory() as s:
        tree = Tree(s)
        other = auth_services.create_user(s, "decoy-owner", PASSWORD)
        for n in range(5):  # keep the acting token's id away from the small ids hypothesis tries first
            auth_services.create_token(s, other, f"decoy-{n}")
        admin = auth_services.create_user(s, "st-admin", PASSWORD)
        auth_services.grant_role(s, admin, Role.admin, tree.county.id)
        secret, _ = auth_services.create_token(s, admin, "schemathesis")
        for _ in range(3):
            factories.membership(s, tree.village_a1.id)
        s.commit()
    engine.dispose()
    HEADERS["Authorization"] = f"Bearer {secret}"
    return create_app(Settings(database_url=url, ledger_dir=root / "ledgers"))


APP = _build_app()
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: Any) -> None:
    case.call_and_validate(headers=dict(HEADERS), checks=[not_a_server_error, response_schema_conformance])
