"""Who may claim, object or push by mail: the registered mailboxes of routing.yaml decide."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.email.normalize import Reply
from adapters.email.trust import Directory, check_push, check_reply
from hub.message import CanonicalMessage
from hub.routing import load_routing_text
from tests.unit.core.conftest import message

ROOT = Path(__file__).resolve().parents[3]
MINIMAL = (ROOT / "tests" / "data" / "routing" / "minimal.yaml").read_text(encoding="utf-8")
DELIVERY = "D" + "a" * 25


@pytest.fixture
def directory() -> Directory:
    text = MINIMAL.replace('["scjg@dept.test"]', '["scjg@dept.test", "Liaison.SCJG@Dept.Test"]')
    return Directory.from_departments(load_routing_text(text).router.departments.values())


def reply(sender: str, sender_header: str | None = None) -> Reply:
    return Reply(DELIVERY, sender, "claim", "", "认领", sender_header)


def test_directory_maps_registered_addresses_case_insensitively(directory: Directory) -> None:
    assert directory.department_of("SCJG@dept.test") == "scjg"
    assert directory.department_of("liaison.scjg@dept.test") == "scjg"
    assert directory.department_of("zjj@dept.test") == "zjj"
    assert directory.department_of("scjg@dept.test.evil") is None  # exact, not a prefix
    assert directory.department_of("x.scjg@dept.test") is None
    assert directory.department_of(None) is None


@pytest.mark.parametrize("sender", ["scjg@dept.test", "LIAISON.scjg@dept.test"])
def test_reply_from_a_registered_mailbox_is_trusted(directory: Directory, sender: str) -> None:
    verdict = check_reply(directory, reply(sender), "scjg")
    assert (verdict.ok, verdict.department_id) == (True, "scjg")


@pytest.mark.parametrize(
    "sender",
    ["outsider@elsewhere.test", "zjj@dept.test", "hub@hub.test"],
    ids=["outsider", "other-department", "the-hub-itself"],
)
def test_reply_from_any_other_mailbox_is_spoofed(directory: Directory, sender: str) -> None:
    verdict = check_reply(directory, reply(sender), "scjg")
    assert (verdict.ok, verdict.code) == (False, "spoofed")
    assert sender in verdict.reason_zh and "scjg" in verdict.reason_zh
    assert verdict.reason_en.startswith("spoofed:")
    assert verdict.problem().path == "From"


def test_reply_sent_on_behalf_is_not_trusted(directory: Directory) -> None:
    verdict = check_reply(directory, reply("scjg@dept.test", "relay@elsewhere.test"), "scjg")
    assert (verdict.ok, verdict.code) == (False, "on_behalf")
    assert "Sender" in verdict.reason_zh


def test_sender_header_equal_to_from_is_fine(directory: Directory) -> None:
    assert check_reply(directory, reply("scjg@dept.test", "SCJG@dept.test"), "scjg").ok


def supervision(department: str) -> CanonicalMessage:
    return message("liangshan/02*.json", sender={"department_id": department})


def test_push_in_the_senders_own_name_is_trusted(directory: Directory) -> None:
    verdict = check_push(directory, "scjg@dept.test", [supervision("scjg")])
    assert (verdict.ok, verdict.department_id) == (True, "scjg")


def test_push_in_another_departments_name_is_spoofed(directory: Directory) -> None:
    verdict = check_push(directory, "scjg@dept.test", [supervision("scjg"), supervision("zjj")])
    assert (verdict.ok, verdict.code, verdict.department_id) == (False, "foreign_sender", "scjg")
    assert "zjj" in verdict.reason_zh


def test_push_from_an_unregistered_mailbox_is_spoofed(directory: Directory) -> None:
    verdict = check_push(directory, "outsider@elsewhere.test", [supervision("scjg")])
    assert (verdict.ok, verdict.code) == (False, "unregistered")
    assert "未登记" in verdict.reason_zh


def test_push_from_a_mailbox_shared_by_two_departments_is_ambiguous() -> None:
    directory = Directory({"scjg": ["shared@dept.test"], "zjj": ["shared@dept.test"]})
    verdict = check_push(directory, "shared@dept.test", [supervision("scjg")])
    assert (verdict.ok, verdict.code) == (False, "ambiguous")
    assert directory.department_of("shared@dept.test") is None
    # a reply is still judged by the delivery's department alone
    assert check_reply(directory, reply("shared@dept.test"), "zjj").ok


def test_push_sent_on_behalf_is_not_trusted(directory: Directory) -> None:
    verdict = check_push(
        directory, "scjg@dept.test", [supervision("scjg")], sender_header="x@dept.test"
    )
    assert (verdict.ok, verdict.code) == (False, "on_behalf")
