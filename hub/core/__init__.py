"""The running hub: ingest, routing, dispatch, deadlines and claims on the ledger and bus."""
