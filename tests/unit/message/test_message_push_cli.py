"""``hub push FILE``: what it refuses is quarantined with its reasons, as over the API.

Through the real Typer app on a SQLite ledger and the minimal routing file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner, Result

import hub
from hub.cli import app
from hub.ledger.db import Database
from hub.ops.quarantine import Entry, get_entry, list_entries

ROOT = Path(hub.__file__).resolve().parents[1]
MINIMAL = ROOT / "tests" / "data" / "routing" / "minimal.yaml"
SAMPLE = ROOT / "hub" / "samples" / "liangshan" / "01-approval_decision-food-licence.json"
runner = CliRunner()


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path}/hub.db"
    monkeypatch.setenv("HUB_DATABASE_URL", url)
    monkeypatch.setenv("HUB_ROUTING", str(MINIMAL))
    db = Database(url)
    yield db
    db.dispose()


def push(*args: str) -> Result:
    try:
        return runner.invoke(app, ["push", *args])
    finally:
        structlog.reset_defaults()


def write(tmp_path: Path, name: str, data: dict[str, Any] | bytes) -> Path:
    path = tmp_path / name
    raw = data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode()
    path.write_bytes(raw)
    return path


def approval(source_id: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    data["source"]["source_id"] = source_id
    data.update(changes)
    return data


def entries(db: Database) -> list[Entry]:
    with db.transaction() as session:
        return list_entries(session, state=None)


def entry(db: Database, entry_id: int) -> Entry:
    with db.transaction() as session:
        found = get_entry(session, entry_id)
    assert found is not None
    return found


def test_a_valid_file_is_accepted_and_nothing_is_quarantined(
    ledger: Database, tmp_path: Path
) -> None:
    result = push(str(write(tmp_path, "ok.json", approval("cli-ok"))))
    assert result.exit_code == 0, result.output
    assert "已受理" in result.stdout
    assert entries(ledger) == []


def test_an_implausible_date_is_quarantined_with_its_reason(
    ledger: Database, tmp_path: Path
) -> None:
    # Given one good file and one dated with .NET's zero date
    good = write(tmp_path, "good.json", approval("cli-good"))
    bad = write(tmp_path, "bad.json", approval("cli-zero", occurred_at="0001-01-01T00:00:00Z"))
    # When both are pushed
    result = push(str(good), str(bad))
    # Then the good one is accepted, the bad one quarantined, and the command fails
    assert result.exit_code == 1
    (quarantined,) = entries(ledger)
    assert f"隔离编号 (quarantine id) #{quarantined.id}" in result.stdout
    assert "已受理" in result.stdout and "occurred_at" in result.stdout
    kept = entry(ledger, quarantined.id)
    assert kept.raw == bad.read_bytes()
    assert [p["path"] for p in kept.problems] == ["occurred_at"]
    assert "1949-10-01" in kept.reason_zh
    assert (kept.stage, kept.channel, kept.source_id) == ("ingest", "platform", "cli-zero")


def test_json_output_names_the_quarantine_id_and_every_problem(
    ledger: Database, tmp_path: Path
) -> None:
    data = approval("cli-json", subject="")
    data["body"]["licence"]["valid_until"] = "9999-12-31"
    result = push("--json", str(write(tmp_path, "bad.json", data)))
    assert result.exit_code == 1
    (answer,) = json.loads(result.stdout)
    (quarantined,) = entries(ledger)
    assert answer["quarantine_id"] == quarantined.id
    paths = {p["path"] for p in answer["problems"]}
    assert paths == {"subject", "body.licence.valid_until"}
    assert all(p["zh"] and p["en"] for p in answer["problems"])


def test_an_unroutable_file_is_quarantined(ledger: Database, tmp_path: Path) -> None:
    result = push(str(write(tmp_path, "x.json", approval("cli-nobody", recipients=["nobody"]))))
    assert result.exit_code == 1
    (quarantined,) = entries(ledger)
    assert "nobody" in quarantined.reason_zh and "unknown department" in quarantined.reason_en
    assert f"#{quarantined.id}" in result.stdout


@pytest.mark.parametrize(
    "raw", [b'{"kind": "approval_decision",', "非 UTF-8".encode("gbk"), b"[1, 2]"]
)
def test_a_file_that_is_not_a_message_is_quarantined_as_paper(
    ledger: Database, tmp_path: Path, raw: bytes
) -> None:
    result = push(str(write(tmp_path, "junk.json", raw)))
    assert result.exit_code == 1
    (quarantined,) = entries(ledger)
    assert (quarantined.channel, quarantined.source_id) == ("paper", "")
    assert entry(ledger, quarantined.id).raw == raw


def test_an_empty_or_missing_file_fails_without_a_record(ledger: Database, tmp_path: Path) -> None:
    result = push(str(write(tmp_path, "empty.json", b"")), str(tmp_path / "missing.json"))
    assert result.exit_code == 1
    assert "未受理" in result.stdout and "cannot read the file" in result.stdout
    assert entries(ledger) == []
