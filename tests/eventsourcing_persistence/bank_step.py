"""One step of the BankAccounts restart test, run as its own Python process::

    python -m tests.eventsourcing_persistence.bank_step STORE_NAME open
    python -m tests.eventsourcing_persistence.bank_step STORE_NAME resume ACCOUNT_ID

``open``: a new account, credited 10.00 and 25.00, a snapshot at version 2. ``resume``: the
account a previous process made, credited 30.00, a snapshot at the end. Each prints what it
sees as one JSON line (balance, version, the notification log, the snapshots' versions).
The application is the library's own example (``eventsourcing.tests.application.BankAccounts``)
on our module, selected only through the environment.
"""

from __future__ import annotations

import json
import os
import sys
from decimal import Decimal
from uuid import UUID


def main(store_name: str, step: str, account: str | None = None) -> None:
    os.environ.update({"PERSISTENCE_MODULE": "eventstore.eventsourcing_persistence",
                       "EVENTSTORE_NAME": store_name, "IS_SNAPSHOTTING_ENABLED": "y"})
    from eventsourcing.tests.application import BankAccounts

    app = BankAccounts()
    try:
        if step == "open":
            account_id = app.open_account(full_name="Alice", email_address="alice@example.com")
            app.credit_account(account_id, Decimal("10.00"))
            app.credit_account(account_id, Decimal("25.00"))
            app.take_snapshot(account_id, version=2)
        else:
            account_id = UUID(account)
            before = app.get_balance(account_id)
            app.credit_account(account_id, Decimal("30.00"))
            app.take_snapshot(account_id)
        aggregate = app.repository.get(account_id)
        items = app.notification_log["1,100"].items
        print(json.dumps({
            "account": str(account_id),
            "balance_before": str(before) if step != "open" else None,
            "balance": str(app.get_balance(account_id)),
            "version": aggregate.version,
            "notifications": [[n.id, n.originator_version] for n in items],
            "snapshots": [s.originator_version for s in app.snapshots.get(account_id)],
            "pid": os.getpid(),
        }))
    finally:
        app.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
