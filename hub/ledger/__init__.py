"""The ledger: tables, migrations, the event log and the outbox."""
