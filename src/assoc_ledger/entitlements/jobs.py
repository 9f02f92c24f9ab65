"""A run as a background job of the server: ``POST /api/entitlements/runs`` answers 202 at once with the run's id.

The job is ``services.run`` in a worker thread of the server process, with its own database session and the same
run lock as every run (an flock on the books' directory: a second run at once, from this server, another server
or the CLI, is refused with 409, never queued into a duplicate). The request waits only until the worker holds
the lock and has written the run's row (status ``running``), or until it is refused before that (404, 409, 422:
nothing written), so a refusal is still the request's own answer.

The run's row is its state for anyone who polls ``GET /api/entitlements/runs/{id}``: ``running`` (with the
worker's progress while it is in this process), ``done``, ``partial`` (payers outside the runner's scope left
out), ``failed`` (refused after it started: ``problem`` says why; whatever it had posted stays posted and the
next run pays the rest), or ``interrupted`` (its process died; the next run marks it and pays the rest).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.audit import Actor, set_actor
from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.db import utcnow
from assoc_ledger.core.errors import DomainError
from assoc_ledger.entitlements import registry, rules
from assoc_ledger.entitlements.models import EntitlementRun
from assoc_ledger.orgs.models import Organisation

CLAIM_WAIT = 120.0
"""Seconds a request waits for its worker to hold the run lock and write the run's row (normally milliseconds)."""


def claim(session: Session, scope: Scope, target: int, org_id: int | None, pay_on: dt.date, started: dt.datetime,
          on_started: Callable[[int], None] | None) -> int | None:
    """A background run writes its row before it plans, so that it can be polled; a foreground run (no
    ``on_started``) writes it after planning, as before, and a refused plan writes nothing."""
    if on_started is None:
        return None
    from assoc_ledger.entitlements.services import org_in_scope

    org = org_in_scope(session, scope, org_id)
    actor = session.info.get("actor")
    row = EntitlementRun(month=rules.month_start(target), org_id=org.id, pay_date=pay_on, status="running",
                         started_at=started, started_by=getattr(actor, "username", None),
                         rule_version=rules.RULE_VERSION, max_event_id=registry.max_event_id(session), basis={})
    session.add(row)
    session.commit()
    on_started(row.id)
    return row.id


STATUS_ZH = {"running": "进行中", "done": "已完成", "partial": "部分完成（其他付款组织的行未发放）",
             "failed": "失败", "interrupted": "已中断（下次发放时补齐）"}


def view(session: Session, ledger_dir: Path, row: EntitlementRun) -> dict[str, Any]:
    """The run as stored, with the worker's progress while it runs here; a run left "running" by a process that
    died (nobody holds the run lock) shows as interrupted, as the next run will mark it."""
    from assoc_ledger.entitlements.services import LOCK_NAME, run_out

    progress = progress_of(ledger_dir, row.id)
    if row.status == "running" and progress is None and not lock_held(ledger_dir, LOCK_NAME):
        # Either its process died, or its worker here ended after the row was read: read it again, afresh
        # (a new transaction: SQLite's reader would otherwise keep its snapshot).
        session.rollback()
        session.refresh(row)
    org = session.get(Organisation, row.org_id)
    out = run_out(row, org.name if org else None)
    out["progress"] = progress
    if row.status == "running" and progress is None and not lock_held(ledger_dir, LOCK_NAME):
        out["status"] = "interrupted"
    out["status_zh"] = STATUS_ZH.get(out["status"], out["status"])
    return out


def fail(session: Session, run_id: int, exc: BaseException) -> None:
    """Mark a background run that stopped with a refusal or an error as failed, with the reason."""
    session.rollback()
    reason = exc.detail if isinstance(exc, DomainError) else f"内部错误：{type(exc).__name__}"
    session.execute(update(EntitlementRun).where(EntitlementRun.id == run_id, EntitlementRun.status == "running")
                    .values(status="failed", problem=reason[:1000], finished_at=utcnow()))
    session.commit()


@dataclass
class Job:
    run_id: int
    stage: str = "计算"
    done: int = 0
    total: int = 0


_jobs: dict[tuple[str, int], Job] = {}  # by books' directory (one set of books, one lock) and run id
_jobs_lock = threading.Lock()


def progress_of(ledger_dir: Path, run_id: int) -> dict[str, Any] | None:
    """The worker's progress, while the run is a job of this process."""
    with _jobs_lock:
        job = _jobs.get((str(ledger_dir), run_id))
        return None if job is None else {"stage": job.stage, "done": job.done, "total": job.total}


def lock_held(ledger_dir: Path, lock_name: str) -> bool:
    """Whether some run (of any process) holds the run lock now."""
    path = ledger_dir / lock_name
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def start(factory: sessionmaker[Session], ledger_dir: Path, scope: Scope, actor: Actor, month: object,
          org_id: int | None, pay_date: dt.date | None) -> int:
    """Start ``services.run`` in a worker thread; the run's id once it holds the lock, or its refusal raised here."""
    from assoc_ledger.entitlements import services

    ready = threading.Event()
    box: dict[str, Any] = {}

    def on_started(run_id: int) -> None:
        with _jobs_lock:
            _jobs[(str(ledger_dir), run_id)] = Job(run_id)
        box["run_id"] = run_id
        ready.set()

    def progress(stage: str, done: int, total: int) -> None:
        with _jobs_lock:
            job = _jobs.get((str(ledger_dir), box.get("run_id", 0)))
            if job is not None:
                job.stage, job.done, job.total = stage, done, total

    def work() -> None:
        try:
            with factory() as db:
                set_actor(db, actor)
                try:
                    services.run(db, ledger_dir, scope, month, org_id, pay_date=pay_date, progress=progress,
                                 on_started=on_started)
                except BaseException as exc:
                    if "run_id" not in box:
                        box["error"] = exc  # refused before it started: the request answers it
                    else:
                        fail(db, box["run_id"], exc)
        finally:
            with _jobs_lock:
                _jobs.pop((str(ledger_dir), box.get("run_id", 0)), None)
            ready.set()

    threading.Thread(target=work, name="entitlements-run", daemon=True).start()
    ready.wait(CLAIM_WAIT)
    if "error" in box:
        raise box["error"]
    if "run_id" not in box:
        raise DomainError("发放未能在限定时间内开始（数据库繁忙），请稍后查看发放批次列表", field="month",
                          status_code=503)
    run_id: int = box["run_id"]
    return run_id
