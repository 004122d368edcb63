"""``hub push --batch DIR``: every ``*.json`` under DIR in chunks of one transaction each,
progress on stderr, refused files quarantined with their path and problems, exit 1 on any.

Through the real Typer app on a SQLite ledger and the minimal routing file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import text
from typer.testing import CliRunner, Result

import hub
from hub.cli import app, run_cmd
from hub.core.hub import Hub
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


def approval(source_id: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    data["source"]["source_id"] = source_id
    data.update(changes)
    return data


def write(directory: Path, name: str, data: dict[str, Any]) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def entries(db: Database) -> list[Entry]:
    with db.transaction() as session:
        return list_entries(session, state=None)


def messages(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM messages")).scalar_one())


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every ``Hub.accept_many`` call."""
    sizes: list[int] = []
    original = Hub.accept_many

    def spy(self: Hub, batch: Any) -> Any:
        sizes.append(len(batch))
        return original(self, batch)

    monkeypatch.setattr(Hub, "accept_many", spy)
    return sizes


def test_a_directory_is_pushed_in_chunks_with_progress(
    ledger: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: list[int]
) -> None:
    # Given 7 valid files (one in a subdirectory, one repeating another) and chunks of 3
    monkeypatch.setattr(run_cmd, "PUSH_CHUNK", 3)
    folder = tmp_path / "in"
    for i in range(6):
        write(folder, f"m{i:02}.json", approval(f"batch-{i}"))
    write(folder, "sub/again.json", approval("batch-0"))
    (folder / "notes.txt").write_text("not a message")
    # When they are pushed as a batch
    result = push("--batch", str(folder))
    # Then every file is accepted once, in chunks of 3, with a progress line per chunk
    assert result.exit_code == 0, result.output
    assert calls == [3, 3, 1]
    assert messages(ledger) == 6 and entries(ledger) == []
    progress = [line for line in result.stderr.splitlines() if line.startswith("已处理")]
    assert progress == [
        "已处理 3/7，受理 3，重复 0，拒绝 0 (processed, accepted, duplicates, refused)",
        "已处理 6/7，受理 6，重复 0，拒绝 0 (processed, accepted, duplicates, refused)",
        "已处理 7/7，受理 6，重复 1，拒绝 0 (processed, accepted, duplicates, refused)",
    ]
    assert "共 7 个文件：受理 6，重复 1，拒绝 0" in result.stdout


def test_refused_files_are_quarantined_named_and_fail_the_command(
    ledger: Database, tmp_path: Path, calls: list[int]
) -> None:
    # Given a valid file, an invalid one, an unroutable one and one that is not JSON
    folder = tmp_path / "in"
    write(folder, "a-good.json", approval("mix-good"))
    bad = write(folder, "b-bad.json", approval("mix-bad", subject=""))
    nobody = write(folder, "c-nobody.json", approval("mix-nobody", recipients=["nobody"]))
    (folder / "d-broken.json").write_bytes(b"{")
    # When the folder is pushed
    result = push("--batch", str(folder))
    # Then the good one is accepted, the other three quarantined and named, and it exits 1
    assert result.exit_code == 1
    assert calls == [2]  # the two that parse go to the hub together
    assert messages(ledger) == 1
    kept = {e.source_id: e for e in entries(ledger)}
    assert set(kept) == {"mix-bad", "mix-nobody", ""}
    with ledger.transaction() as session:
        stored = get_entry(session, kept["mix-bad"].id)
    assert stored is not None and stored.raw == bad.read_bytes()
    assert f"{bad}" in result.stdout and f"#{kept['mix-bad'].id}" in result.stdout
    assert f"{nobody}" in result.stdout and "subject" in result.stdout
    assert "已处理 4/4，受理 1，重复 0，拒绝 3" in result.stderr


def test_json_output_lists_the_refused_files(ledger: Database, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write(folder, "a.json", approval("json-a"))
    bad = write(folder, "b.json", approval("json-b", subject=""))
    result = push("--batch", str(folder), "--json")
    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert (answer["files"], answer["accepted"], answer["duplicates"]) == (2, 1, 0)
    (refused,) = answer["refused"]
    assert refused["file"] == str(bad) and refused["quarantine_id"] == entries(ledger)[0].id
    assert [p["path"] for p in refused["problems"]] == ["subject"]


def test_an_empty_directory_or_both_forms_at_once_are_errors(
    ledger: Database, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    empty = push("--batch", str(tmp_path / "empty"))
    assert empty.exit_code == 1 and "no .json files" in empty.stderr
    file = write(tmp_path, "one.json", approval("one"))
    both = push(str(file), "--batch", str(tmp_path / "empty"))
    assert both.exit_code == 2 and "not both" in both.stderr
    assert push().exit_code == 2
