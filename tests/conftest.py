"""Shared fixtures: real SQLite and real PostgreSQL databases, migrated; a live app client; users by role."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.nodeid import NodeId
from litestar.testing import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.app import create_app
from assoc_ledger.auth import audit, services
from assoc_ledger.auth.scope import Role, Scope
from assoc_ledger.core.config import Settings, get_settings
from assoc_ledger.core.crypto import new_key_text
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.core.migrate import upgrade
from assoc_ledger.orgs.models import OrgKind
from assoc_ledger.orgs.services import create_org
from tests.demo_cache import DemoBuild, DemoCopy, demo_county
from tests.pg import Cluster

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PASSWORD = "correct-horse-battery"

audit.install()
# Session-wide fixtures (migrated templates) run before any per-test key: give them one too, so no
# migration ever writes a key file into the working directory.
os.environ.setdefault("ASSOC_ID_KEY", new_key_text())
# argon2id at its cheapest profile for the suite's hundreds of throwaway users (inherited by CLI and server
# subprocesses); the default stays the library's recommended parameters (auth.services._hasher).
os.environ.setdefault("ASSOC_PASSWORD_PROFILE", "CHEAPEST")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``--dist loadgroup`` keep each ``xdist_group`` on one worker again.

    pytest-xdist 3.8 tells its scheduler a test's group by appending ``@group`` to ``item._nodeid``, but pytest
    9.2 keeps a node's id in ``item._id``: the suffix was lost, every group was spread over both workers and
    each worker built the group's expensive fixtures (the browser's demo server, the reports' demo) again.
    Same suffix, set where pytest reads it; a version where that stops working fails here instead of silently.
    """
    if not getattr(config.option, "loadgroup", False):  # set on xdist workers when run with --dist loadgroup
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if not names:
            continue
        suffix = "@" + "_".join(names)
        if not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)
        if not item.nodeid.endswith(suffix):
            raise pytest.UsageError(f"cannot mark {item.nodeid} with its xdist group {suffix}: see tests/conftest.py")
    # Longest first: the scheduler hands out the groups (largest first), then single tests in this order; a
    # long test handed out last keeps one worker busy while the other has finished. Slow-marked tests, then
    # the modules whose tests each take tens of seconds, then the rest in their usual order.
    items.sort(key=_start_early)


# Modules of many tests of tens of seconds each (durations of the last runs); not marked slow.
LONG_MODULES = ("tests/test_access_matrix.py", "tests/test_backup.py", "tests/test_demo_and_cli.py",
                "tests/test_concurrent_writes.py", "tests/test_entitlements_api.py")


def _start_early(item: pytest.Item) -> int:
    if item.get_closest_marker("slow"):
        return 0
    return 1 if item.nodeid.split("::")[0] in LONG_MODULES else 2


@pytest.fixture(autouse=True)
def id_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh resident-ID key per test, in the environment (CLI subprocesses, services) and in ``settings``."""
    key = new_key_text()
    monkeypatch.setenv("ASSOC_ID_KEY", key)
    get_settings.cache_clear()
    yield key
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> DemoBuild:
    """The demo county loaded once per run by the real CLI (tests/demo_cache.py); use ``demo_copy`` to read it."""
    return demo_county(tmp_path_factory)


@pytest.fixture
def demo_copy(demo_build: DemoBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DemoCopy:
    """This test's own copy of the demo county; its key is the environment's (CLI processes, ``get_settings``)."""
    copy = demo_build.copy(tmp_path / "demo")
    monkeypatch.setenv("ASSOC_ID_KEY", copy.key)
    get_settings.cache_clear()
    return copy


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    try:
        cluster = Cluster()
        url = cluster.start()
    except (FileNotFoundError, OSError) as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but could not start: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        yield url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> str:
    """A migrated template database; each test copies it (CREATE DATABASE ... TEMPLATE)."""
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE assoc_template"))
    admin.dispose()
    upgrade(pg_server.rsplit("/", 1)[0] + "/assoc_template")
    return "assoc_template"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


def _fresh_pg(pg_server: str, template: str) -> str:
    name = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    return pg_server.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated database on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "assoc.sqlite3"
        shutil.copy(template, target)
        return f"sqlite:///{target}"
    server = request.getfixturevalue("pg_server")
    return _fresh_pg(server, request.getfixturevalue("pg_template"))


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "assoc.sqlite3"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def session_factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def settings(db_url: str, tmp_path: Path, id_key: str) -> Settings:
    return Settings(database_url=db_url, ledger_dir=tmp_path / "ledgers", secret_key="test-secret",
                    id_key=id_key)  # type: ignore[arg-type]  # pydantic turns the text into a SecretStr


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient[Any]]:
    app = create_app(settings)
    with TestClient(app=app, raise_server_exceptions=False) as c:
        yield c
    app.state.engine.dispose()


class Tree:
    """A small county: two townships, each with two villages."""

    def __init__(self, session: Session) -> None:
        everything = Scope.everything()
        self.county = create_org(session, everything, name="测试县计生协", kind=OrgKind.county, parent_id=None,
                                 code="341100000000")
        self.town_a = create_org(session, everything, name="甲镇", kind=OrgKind.town, parent_id=self.county.id)
        self.town_b = create_org(session, everything, name="乙乡", kind=OrgKind.township,
                                 parent_id=self.county.id)
        self.village_a1 = create_org(session, everything, name="甲一村", kind=OrgKind.village,
                                     parent_id=self.town_a.id, constituted=True)
        self.village_a2 = create_org(session, everything, name="甲二村", kind=OrgKind.village,
                                     parent_id=self.town_a.id)
        self.village_b1 = create_org(session, everything, name="乙一村", kind=OrgKind.village,
                                     parent_id=self.town_b.id, constituted=True)
        self.village_b2 = create_org(session, everything, name="乙二社区", kind=OrgKind.community,
                                     parent_id=self.town_b.id)


@pytest.fixture
def tree(session_factory: sessionmaker[Session]) -> Tree:
    with session_factory() as session:
        t = Tree(session)
        session.commit()
        return t


AuthFor = Callable[[Role, int], dict[str, str]]


@pytest.fixture
def auth_for(session_factory: sessionmaker[Session]) -> AuthFor:
    """Headers for a fresh user holding ``role`` on the subtree of ``org_id`` (API token)."""

    def make(role: Role, org_id: int) -> dict[str, str]:
        with session_factory() as session:
            user = services.create_user(session, f"{role.value}-{uuid.uuid4().hex[:8]}", PASSWORD)
            services.grant_role(session, user, role, org_id)
            secret, _ = services.create_token(session, user, "tests")
            session.commit()
        return {"Authorization": f"Bearer {secret}"}

    return make
