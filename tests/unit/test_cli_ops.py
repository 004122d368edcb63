"""Operator commands through the real Typer app, on a SQLite file (and PostgreSQL where marked):
``hub db``, ``hub status``, ``hub trace``, ``hub quarantine``, ``hub audit``, ``hub token``."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from alembic.script import ScriptDirectory
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from hub.cli import app
from hub.core.tokens import TokenCache
from hub.errors import FieldProblem
from hub.ledger.migrate import MIGRATIONS
from hub.ledger.outbox import enqueue
from hub.ledger.schema import EventRow, OutboxRow
from hub.message import Channel
from tests.unit.core.conftest import MINIMAL, TZ, Rig, make_rig, message
from tests.unit.ops.conftest import ledger_url, pg_url  # noqa: F401 - fixtures
from tests.unit.ops.test_ops_quarantine import (
    ONLY_INQUIRIES,
    WITH_WSJK,
    inquiry_bytes,
    quarantine_unaddressable,
)

MINIMAL_PATH = Path(__file__).resolve().parents[1] / "data" / "routing" / "minimal.yaml"
runner = CliRunner()


def run(*args: str) -> Result:
    """Invoke ``hub …``, then drop the logging set-up bound to the runner's stderr."""
    try:
        return runner.invoke(app, list(args))
    finally:
        structlog.reset_defaults()


def use_ledger(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, *changes: tuple[str, str]
) -> Rig:
    monkeypatch.setenv("HUB_DATABASE_URL", url)
    monkeypatch.setenv("HUB_ROUTING", str(MINIMAL_PATH))
    return make_rig(tmp_path, *changes, url=url)


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ledger_url: str) -> Iterator[Rig]:  # noqa: F811
    r = use_ledger(monkeypatch, tmp_path, ledger_url)
    yield r
    r.hub.close()
    r.db.dispose()


@pytest.fixture
def sqlite_rig(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Rig]:
    r = use_ledger(monkeypatch, tmp_path, f"sqlite:///{tmp_path}/hub.db")
    yield r
    r.hub.close()
    r.db.dispose()


def approval(n: int) -> object:
    return message("guanxian/01*.json", recipients=["scjg"], source__source_id=f"src-{n}")


# -- hub db -------------------------------------------------------------------------------------
def test_db_upgrade_creates_a_fresh_ledger(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite:///{tmp_path}/new/hub.db")
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert f"revision {head}" in result.stdout and (tmp_path / "new" / "hub.db").is_file()
    again = run("db", "upgrade", "--json")
    assert json.loads(again.stdout)["revision"] == head


def test_db_url_masks_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql+psycopg://hub:s3cret@db.local:5432/hub")
    result = run("db", "url")
    assert result.stdout.strip() == "postgresql+psycopg://hub:***@db.local:5432/hub"


def test_an_unreachable_database_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql+psycopg://hub:s3cret@127.0.0.1:1/hub")
    result = run("status")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "无法打开数据库 postgresql+psycopg://hub:***@127.0.0.1:1/hub" in result.stderr
    assert "s3cret" not in result.stderr


# -- hub status ---------------------------------------------------------------------------------
def _two_pushes_one_claimed(rig: Rig) -> None:
    first = rig.push(approval(1))  # type: ignore[arg-type]
    rig.push(approval(2))  # type: ignore[arg-type]
    rig.clock.set(dt.datetime(2026, 10, 8, 10, tzinfo=TZ))
    (view,) = rig.hub.deliveries_of(first)
    rig.hub.claim(view.delivery_id, department_id="scjg", actor="李秀英", channel=Channel.PLATFORM)
    with rig.db.transaction() as s:  # a routing job waiting for two hours
        enqueue(s, "hub.route", {"message_id": "Mx"}, now=dt.datetime(2026, 10, 8, 22, tzinfo=TZ))


def test_status_as_json(rig: Rig) -> None:
    _two_pushes_one_claimed(rig)
    result = run("status", "--at", "2026-10-09T00:00:01", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    (scjg,) = payload["departments"]
    assert (scjg["department_id"], scjg["open"], scjg["overdue"], scjg["claimed"]) == (
        "scjg",
        1,
        1,
        1,
    )
    assert dt.datetime.fromisoformat(scjg["oldest_overdue_due"]) == dt.datetime(
        2026, 10, 9, tzinfo=TZ
    )
    (route,) = payload["queues"]
    assert (route["queue"], route["pending"], route["oldest_age_seconds"]) == (
        "hub.route",
        1,
        7201.0,
    )
    assert payload["totals"] == {
        "messages": {"routed": 2},
        "quarantine_open": 0,
        "dead_lettered": 0,
        "late_pushes": {},
    }
    assert payload["department_names"]["scjg"] == "测试县市场监督管理局"


def test_status_tables_for_people(rig: Rig) -> None:
    _two_pushes_one_claimed(rig)
    result = run("status", "--at", "2026-10-09T00:00:01")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for header in (
        "队列",
        "待处理",
        "最早等待时长",
        "延迟重试",
        "部门",
        "待认领",
        "已逾期",
        "已认领",
        "超时认领",
        "超时自动认领",
        "已升级",
        "投递失败",
    ):
        assert header in out, header
    assert "2 小时" in out and "测试县市场监督管理局" in out and "2026-10-08 24:00" in out
    scjg_row = next(line for line in out.splitlines() if "测试县市场监督管理局" in line)
    assert re.findall(r"│\s+(\d+)", scjg_row)[:3] == ["1", "1", "1"]
    assert "合计：消息 2 条（已路由 2）；隔离待处理 0 条；死信投递 0 条" in out


def test_status_rejects_a_bad_instant(sqlite_rig: Rig) -> None:
    result = run("status", "--at", "tomorrow")
    assert result.exit_code == 2 and "时间格式无效" in result.stderr


# -- hub trace ----------------------------------------------------------------------------------
def test_trace_shows_every_event_with_labels_in_order(rig: Rig) -> None:
    _two_pushes_one_claimed(rig)
    message_id = rig.push(approval(3))  # type: ignore[arg-type]
    (view,) = rig.hub.deliveries_of(message_id)
    rig.hub.claim(view.delivery_id, department_id="scjg", actor="王芳", channel=Channel.PLATFORM)
    result = run("trace", message_id)
    assert result.exit_code == 0, result.output
    out = result.stdout
    labels = ["收到推送", "生成投递", "已送达", "已认领"]
    positions = [out.index(label, out.index("事件 4 条")) for label in labels]
    assert positions == sorted(positions)
    assert "审批信息（审→管）" in out and "2026-10-08 10:00:00" in out and "王芳" in out
    assert "2026-10-09 24:00" in out  # the claim deadline: 1 working day after 10-08
    as_json = json.loads(run("trace", view.delivery_id, "--json").stdout)
    assert [e["type"] for e in as_json["events"]] == [
        "message.received",
        "delivery.created",
        "delivery.sent",
        "claim.recorded",
    ]


def test_trace_of_an_unknown_id_exits_1(sqlite_rig: Rig) -> None:
    result = run("trace", "Mnosuch")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "找不到消息或投递 Mnosuch" in result.stderr


# -- hub quarantine -----------------------------------------------------------------------------
def test_route_quarantine_replay_after_fixing_the_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rig = use_ledger(monkeypatch, tmp_path, f"sqlite:///{tmp_path}/hub.db", ONLY_INQUIRIES)
    broken = tmp_path / "broken.yaml"
    broken.write_text(MINIMAL.replace(*ONLY_INQUIRIES), encoding="utf-8")
    notice = message(
        "guanxian/05*.json",
        recipients=["scjg"],
        sender__department_id="xzsp",
        direction="approval_to_supervision",
    )
    message_id = rig.push(notice)
    listed = run("quarantine", "list")
    assert "路由" in listed.stdout and message_id in listed.stdout and "待处理" in listed.stdout
    shown = run("quarantine", "show", "1")
    assert "no route" in shown.stdout and '"kind": "meeting_notice"' in shown.stdout
    failed = run("quarantine", "replay", "1", "--config", str(broken))
    assert failed.exit_code == 1 and "重放失败" in failed.stdout and "no route" in failed.stdout
    fixed = run("quarantine", "replay", "1")  # HUB_ROUTING: the fixed minimal.yaml
    assert fixed.exit_code == 0, fixed.output
    assert (
        f"已重放隔离记录 #1：消息 {message_id}" in fixed.stdout and "新建 1 项任务" in fixed.stdout
    )
    with rig.db.transaction() as s:  # handed over: unpublished, for the running hub's relay
        job = s.scalar(select(OutboxRow).where(OutboxRow.queue == "hub.deliver.platform"))
        assert job is not None and job.published_at is None and job.done_at is None
    assert run("quarantine", "list", "--json").stdout.strip() == "[]"
    assert "已重放" in run("quarantine", "list", "--all").stdout
    rig.hub.close()


def test_ingest_quarantine_replay_as_json(sqlite_rig: Rig, tmp_path: Path) -> None:
    entry_id = quarantine_unaddressable(sqlite_rig.hub, inquiry_bytes("wsjk"))
    failed = run("quarantine", "replay", str(entry_id), "--json")
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["problems"][0]["en"] == "unknown department 'wsjk'"
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(WITH_WSJK, encoding="utf-8")
    result = run("quarantine", "replay", str(entry_id), "-c", str(fixed), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["ok"], payload["state"], payload["handed_over"]) == (True, "replayed", 1)
    assert payload["message_id"].startswith("M")


def test_show_truncates_a_large_payload_for_people(sqlite_rig: Rig) -> None:
    raw = json.dumps({"kind": "approval_decision", "note": "长" * 3000}, ensure_ascii=False)
    problem = FieldProblem("direction", "缺少必填字段", "Field required")
    entry_id = sqlite_rig.hub.quarantine_input(
        channel=Channel.EMAIL, raw=raw.encode(), problems=[problem]
    )
    shown = run("quarantine", "show", str(entry_id))
    assert shown.exit_code == 0, shown.output
    assert "direction" in shown.stdout and "缺少必填字段" in shown.stdout
    assert "已截断：只显示前 4096 字节" in shown.stdout
    full = json.loads(run("quarantine", "show", str(entry_id), "--json").stdout)
    assert full["raw"] == raw and full["problems"][0]["en"] == "Field required"
    missing = run("quarantine", "show", "99")
    assert missing.exit_code == 1 and "隔离记录 99 不存在" in missing.stderr


def test_discard(sqlite_rig: Rig) -> None:
    entry_id = str(quarantine_unaddressable(sqlite_rig.hub, inquiry_bytes("wsjk")))
    assert run("quarantine", "discard", entry_id).exit_code == 2  # --reason is required
    done = run("quarantine", "discard", entry_id, "--reason", "测试数据，无需处理")
    assert done.exit_code == 0 and f"已丢弃隔离记录 #{entry_id}" in done.stdout
    again = run("quarantine", "discard", entry_id, "--reason", "x")
    assert again.exit_code == 1 and "已处理" in again.stderr
    replayed = run("quarantine", "replay", entry_id)
    assert replayed.exit_code == 1 and "discarded" in replayed.stderr


# -- hub audit ----------------------------------------------------------------------------------
def test_audit_verify(rig: Rig) -> None:
    rig.push(approval(1))  # type: ignore[arg-type]
    ok = run("audit", "verify")
    assert ok.exit_code == 0, ok.output
    with rig.db.transaction() as s:
        head = s.get(EventRow, 3)
        assert head is not None
    assert f"审计链完整 3 条事件，链头 #3 sha256 {head.hash}" in ok.stdout
    assert run("audit", "verify", "--expect", f"3:{head.hash}").exit_code == 0
    with rig.db.transaction() as s:
        s.execute(update(EventRow).where(EventRow.seq == 2).values(actor="someone else"))
    broken = run("audit", "verify")
    assert broken.exit_code == 1
    assert "审计链异常：1 处问题" in broken.stderr and "event 2 was edited" in broken.stderr
    payload = json.loads(run("audit", "verify", "--json").stdout)
    assert payload["ok"] is False and payload["problems"] == [
        "事件 2 内容被修改 (event 2 was edited)"
    ]
    assert run("audit", "verify", "--expect", "three").exit_code == 2


def test_audit_verify_seals_what_no_running_hub_sealed(rig: Rig) -> None:
    rig.push(approval(1))  # type: ignore[arg-type]  # sealed by the rig, like a running hub
    rig.hub.accept(approval(2))  # type: ignore[arg-type]  # received + routed, not sealed yet
    with rig.db.read() as s:
        unsealed = s.scalars(
            select(EventRow.seq).where(EventRow.chain_seq.is_(None)).order_by(EventRow.seq)
        ).all()
    assert len(unsealed) == 2
    payload = json.loads(run("audit", "verify", "--json").stdout)
    assert (payload["ok"], payload["events"], payload["unsealed"]) == (True, 5, 0)
    with rig.db.read() as s:
        assert s.scalar(select(EventRow.chain_seq).where(EventRow.seq == unsealed[0])) == 4


# -- hub token ----------------------------------------------------------------------------------
def test_token_issue_authenticate_revoke(sqlite_rig: Rig) -> None:
    sqlite_rig.hub.tokens = TokenCache(0)  # the ledger side; the cache's delay: test_token_cache
    issued = run("token", "issue", "scjg", "--label", "平台对接")
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    assert "只显示这一次" in issued.stderr
    assert sqlite_rig.hub.authenticate(token) == "scjg"
    listed = run("token", "list")
    assert "平台对接" in listed.stdout and "有效" in listed.stdout and token not in listed.stdout
    revoked = run("token", "revoke", "scjg", "--label", "平台对接")
    assert revoked.exit_code == 0 and "已吊销 scjg 的 1 个令牌" in revoked.stdout
    assert sqlite_rig.hub.authenticate(token) is None
    assert run("token", "revoke", "scjg").exit_code == 1
    (row,) = json.loads(run("token", "list", "--json").stdout)
    assert row["revoked_at"] is not None and "token" not in row
    unknown = run("token", "issue", "nosuch")
    assert unknown.exit_code == 1 and "未知部门 'nosuch'" in unknown.stderr
