"""A small writer process for the concurrency and crash tests: posts through the real service and
prints ``ACK <i> <seq>`` (flushed) only after each write has returned."""

from __future__ import annotations

import sys
from pathlib import Path

from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.fund import service


def amount_for(worker: int, i: int) -> str:
    return f"{100 + (worker * 7 + i) % 50}.{i % 100:02d}"


def main() -> None:
    db_url, ledger_dir, book_id, worker, start, count = sys.argv[1:7]
    audit.install()
    factory = make_sessionmaker(make_engine(db_url))
    scope = Scope.everything()
    w = int(worker)
    for i in range(int(start), int(start) + int(count)):
        with factory() as db:
            if i % 4 == 3:
                posted = service.post_payment(db, Path(ledger_dir), scope, int(book_id), key=f"w{w}-{i}",
                                              date="2026-03-01", amount="1.00", category="visits",
                                              payee=f"走访对象{i}", voucher=f"付-{w}-{i}")
            else:
                posted = service.post_income(db, Path(ledger_dir), scope, int(book_id), key=f"w{w}-{i}",
                                             date="2026-03-01", amount=amount_for(w, i), source="donation_person",
                                             payer=f"捐款人{i}", voucher=f"收-{w}-{i}")
        print(f"ACK {i} {posted.seq}", flush=True)


if __name__ == "__main__":
    main()
