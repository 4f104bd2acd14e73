"""The unit of work every repository function receives: one connection, one transaction, one clock reading.

Functions in the noun modules (`plugins`, `health`, `entities`, `api_keys`, `audit`) take a
`Transaction` so the registry and the keystore can compose several of them atomically through
`Database.run`. Audit entries written inside the transaction are logged only once it commits, so
the log never reports an action that was rolled back.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging

import sqlalchemy as sa

from plugin_operator.db import records

audit_logger = logging.getLogger("audit")


@dataclasses.dataclass
class Transaction:
    connection: sa.Connection
    #: The time of the whole unit of work: every row it touches gets the same timestamp.
    now: datetime.datetime
    audited: list[records.AuditRecord] = dataclasses.field(default_factory=list)

    def log_audit(self) -> None:
        """Emit one structured log line per audit entry; called after commit."""
        for entry in self.audited:
            audit_logger.info(
                "%s %s %s: %s",
                entry.actor,
                entry.action,
                entry.target,
                entry.outcome.value,
                extra={
                    "actor": entry.actor,
                    "action": entry.action,
                    "target": entry.target,
                    "outcome": entry.outcome.value,
                    "detail": entry.detail,
                },
            )
