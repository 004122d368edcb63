"""The live-hub fixtures (tests/integration/hub/conftest.py) for every integration test."""

from tests.integration.hub.conftest import ledger_url, live_hub_factory  # noqa: F401
