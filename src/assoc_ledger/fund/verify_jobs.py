"""``verify`` in the server: a background thread per book with its progress, never the request's own work.

A request starts a job (or joins the one already running for that book) and answers at once with its
state; the job opens its own session, streams the files and keeps its last report for the next caller.
Jobs live in the serving process: a restart forgets them, the checkpoints they wrote stay.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.fund.models import FundBook
from assoc_ledger.fund.verify import Report, verify_book_and_rolls

log = logging.getLogger("assoc_ledger.fund")
KEEP_FINISHED = 200  # finished jobs kept for polling; older ones are forgotten


@dataclass
class Job:
    id: int
    book_id: int
    full: bool
    state: str = "running"  # running | done | failed
    checked: int = 0
    total: int = 0
    head_seq: int = 0  # the book's last entry when the job started: a later entry makes its report old
    report: Report | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    done_event: threading.Event = field(default_factory=threading.Event, repr=False)


class VerifyJobs:
    def __init__(self, session_factory: sessionmaker[Session], ledger_dir: Path) -> None:
        self._factory = session_factory
        self._ledger_dir = ledger_dir
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._jobs: dict[int, Job] = {}

    def start(self, book: FundBook, *, full: bool = False) -> Job:
        """A new job for the book, or the one already running (two verifies of one book would do it twice)."""
        with self._lock:
            running = next((j for j in self._jobs.values() if j.book_id == book.id and j.state == "running"), None)
            if running is not None:
                return running
            job = Job(next(self._ids), book.id, full, head_seq=book.next_seq - 1)
            self._jobs[job.id] = job
            finished = [j.id for j in self._jobs.values() if j.state != "running"]
            for old in finished[:-KEEP_FINISHED]:
                del self._jobs[old]
        threading.Thread(target=self._run, args=(job,), name=f"verify-book-{book.id}", daemon=True).start()
        return job

    def latest(self, book_id: int) -> Job | None:
        mine = [j for j in list(self._jobs.values()) if j.book_id == book_id]
        return max(mine, key=lambda j: j.id) if mine else None

    def _run(self, job: Job) -> None:
        def progress(checked: int, total: int) -> None:
            job.checked, job.total = checked, total

        try:
            with self._factory() as db:
                book = db.get_one(FundBook, job.book_id)
                job.report = verify_book_and_rolls(db, self._ledger_dir, book, full=job.full, progress=progress)
            job.state = "done"
        except Exception as exc:  # the job's failure is its answer; the server goes on
            log.exception("verify job %s of book %s failed", job.id, job.book_id)
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.finished = time.time()
            job.done_event.set()
