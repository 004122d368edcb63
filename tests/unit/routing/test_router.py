"""The router: tree selection, fan-out, placeholders, policies, overrides, paper-only rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from hub.errors import ClassifiedRoutingError, RoutingError
from hub.message import Channel
from hub.routing import LoadedRouting
from tests.unit.routing.conftest import build, sample

TZ = ZoneInfo("Asia/Shanghai")
EVE_OF_NATIONAL_DAY = dt.datetime(2026, 9, 30, 16, 0, tzinfo=TZ)


def approval(**changes: object) -> object:
    return build(sample("guanxian", "01"), **changes)


def test_approval_goes_to_its_route_with_the_inherited_channel_order(
    minimal: LoadedRouting,
) -> None:
    result = minimal.router.resolve(approval(), EVE_OF_NATIONAL_DAY)  # type: ignore[arg-type]
    (only,) = result.recipients
    assert (only.department_id, only.route_id) == ("scjg", "approval")
    assert only.route_path == ("root", "approval")
    assert only.channels == (Channel.PLATFORM, Channel.EMAIL, Channel.PAPER)
    # Given arrival on 2026-09-30 16:00, 1 working day skips National Day (10-01..10-07)
    assert only.claim_due is not None
    assert only.claim_due.due == dt.datetime(2026, 10, 9, 0, 0, tzinfo=TZ)
    assert only.claim_due.display() == "2026-10-08 24:00"
    assert only.on_timeout == "auto_claim"
    assert only.escalation == ("xzsp",)


def test_arrival_defaults_to_received_at(minimal: LoadedRouting) -> None:
    message = approval()
    result = minimal.router.resolve(message)  # type: ignore[arg-type]
    assert result.at == message.source.received_at  # type: ignore[attr-defined]
    # received Wed 2026-09-16 11:06 -> 1wd = end of Thu 09-17
    assert result.recipients[0].claim_due.display() == "2026-09-17 24:00"  # type: ignore[union-attr]


def test_supervision_info_goes_to_the_approval_bureau(minimal: LoadedRouting) -> None:
    message = build(sample("guanxian", "03"))
    (only,) = minimal.router.resolve(message, EVE_OF_NATIONAL_DAY).recipients
    assert (only.department_id, only.route_id, only.policy_id) == ("xzsp", "to-bureau", "other")
    # 3 working days from 09-30: 10-08, 10-09 and the 调休 Saturday 10-10
    assert only.claim_due is not None and only.claim_due.display() == "2026-10-10 24:00"
    assert only.on_timeout == "escalate"


def test_recipients_placeholder_uses_the_message_recipients(minimal: LoadedRouting) -> None:
    message = build(
        sample("zhoucun", "04"),
        sender__department_id="xzsp",
        direction="approval_to_supervision",
        recipients=["scjg"],
    )
    (only,) = minimal.router.resolve(message).recipients
    assert (only.department_id, only.route_id) == ("scjg", "addressed")


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({"sender__department_id": "nosuch"}, "unknown sender department 'nosuch'"),
        (
            {
                "recipients": ["wsjk"],
                "sender__department_id": "xzsp",
                "direction": "approval_to_supervision",
            },
            "unknown department 'wsjk'",
        ),
        (
            {
                "recipients": [],
                "sender__department_id": "xzsp",
                "direction": "approval_to_supervision",
            },
            "needs the message's recipients",
        ),
    ],
    ids=["unknown-sender", "unknown-recipient", "placeholder-without-recipients"],
)
def test_unroutable_messages_raise_a_routing_error_naming_the_problem(
    minimal: LoadedRouting, changes: dict[str, object], text: str
) -> None:
    message = build(sample("zhoucun", "04"), **changes)
    with pytest.raises(RoutingError, match=text):
        minimal.router.resolve(message)


def test_a_department_never_receives_its_own_push(minimal: LoadedRouting) -> None:
    message = build(
        sample("zhoucun", "04"),
        sender__department_id="xzsp",
        direction="approval_to_supervision",
        recipients=["xzsp", "scjg"],
    )
    assert [d.department_id for d in minimal.router.resolve(message).recipients] == ["scjg"]


def test_classified_messages_go_by_paper_only(minimal: LoadedRouting) -> None:
    message = approval(
        classification={"level": "secret"}, source__channel="paper", source__system="paper-registry"
    )
    (only,) = minimal.router.resolve(message).recipients
    assert only.channels == (Channel.PAPER,)
    assert any("paper only" in note for note in only.notes)


def test_the_router_refuses_classified_content_on_an_online_channel(
    minimal: LoadedRouting,
) -> None:
    # Given channels that a bug left online for a classified message, the last check refuses
    message = approval(
        classification={"level": "secret"}, source__channel="paper", source__system="paper-registry"
    )
    with pytest.raises(ClassifiedRoutingError, match="涉密"):
        minimal.router._assert_paper_only(message, (Channel.PAPER, Channel.EMAIL))  # type: ignore[arg-type]
    minimal.router._assert_paper_only(message, (Channel.PAPER,))  # type: ignore[arg-type]


def test_fan_out_to_several_departments(load_variant: Callable[..., LoadedRouting]) -> None:
    loaded = load_variant(("      to: [scjg]\n", "      to: [scjg, zjj]\n"))
    result = loaded.router.resolve(approval(), EVE_OF_NATIONAL_DAY)  # type: ignore[arg-type]
    assert [(d.department_id, d.route_id) for d in result.recipients] == [
        ("scjg", "approval"),
        ("zjj", "approval"),
    ]
    assert all(d.claim_due == result.recipients[0].claim_due for d in result.recipients)


def test_continue_collects_later_routes(load_variant: Callable[..., LoadedRouting]) -> None:
    loaded = load_variant(("      to: [scjg]\n", "      to: [scjg]\n      continue: true\n"))
    message = approval(recipients=["scjg", "zjj"])
    result = loaded.router.resolve(message)  # type: ignore[arg-type]
    # approval (continue) matched, to-bureau does not (wrong direction), then addressed adds
    # scjg again and zjj: scjg is deduplicated, the first route that took it wins
    assert [(d.department_id, d.route_id) for d in result.recipients] == [
        ("scjg", "approval"),
        ("zjj", "addressed"),
    ]


def test_without_continue_the_first_match_stops(minimal: LoadedRouting) -> None:
    result = minimal.router.resolve(approval(recipients=["scjg", "zjj"]))  # type: ignore[arg-type]
    assert [d.department_id for d in result.recipients] == ["scjg"]


def test_route_overrides_patch_the_policy(load_variant: Callable[..., LoadedRouting]) -> None:
    loaded = load_variant(
        (
            "      to: [scjg]\n",
            "      to: [scjg]\n      overrides: {claim: {within: 3wd}, objection: {within: 1wd}}\n",
        ),
    )
    (only,) = loaded.router.resolve(approval(), EVE_OF_NATIONAL_DAY).recipients  # type: ignore[arg-type]
    assert only.claim_due is not None and only.claim_due.display() == "2026-10-10 24:00"
    assert only.on_timeout == "auto_claim"  # kept from the policy
    assert only.objection_due is not None and only.objection_due.display() == "2026-10-08 24:00"


def test_named_policy_wins_over_the_kind_lookup(
    load_variant: Callable[..., LoadedRouting],
) -> None:
    loaded = load_variant(("      to: [scjg]\n", "      to: [scjg]\n      policy: other\n"))
    (only,) = loaded.router.resolve(approval()).recipients  # type: ignore[arg-type]
    assert (only.policy_id, only.on_timeout) == ("other", "escalate")


def test_channels_without_an_address_are_skipped_for_addressed_recipients(
    load_variant: Callable[..., LoadedRouting],
) -> None:
    loaded = load_variant(
        ('      email: {addresses: ["scjg@dept.test"]}\n', ""),
        ("      to: [scjg]\n", "      to: [xzsp]\n"),
    )
    message = build(
        sample("zhoucun", "04"),
        sender__department_id="xzsp",
        direction="approval_to_supervision",
        recipients=["scjg"],
    )
    (only,) = loaded.router.resolve(message).recipients
    assert only.channels == (Channel.PLATFORM, Channel.PAPER)
    assert any("skipped" in note for note in only.notes)


def test_field_matchers_and_regexes(load_variant: Callable[..., LoadedRouting]) -> None:
    loaded = load_variant(
        (
            "      match: {kind: approval_decision}\n",
            "      match:\n        kind: approval_decision\n"
            '        fields: {body.party.uscc: {regex: "9137152.*"}}\n',
        )
    )
    hit = loaded.router.resolve(approval(), EVE_OF_NATIONAL_DAY)  # type: ignore[arg-type]
    assert hit.recipients[0].route_id == "approval"
    elsewhere = approval(recipients=["scjg"], body__party__uscc="91350100M000100Y43")
    miss = loaded.router.resolve(elsewhere)  # type: ignore[arg-type]
    assert miss.recipients[0].route_id == "addressed"


def test_sender_push_deadline_late_and_on_time(
    load_variant: Callable[..., LoadedRouting],
) -> None:
    loaded = load_variant(
        (
            "    claim: {within: 1wd, on_timeout: auto_claim}\n",
            "    claim: {within: 1wd, on_timeout: auto_claim}\n"
            "    push: {within: 1wd, from: body.licence.decision_date}\n",
        )
    )
    message = approval()  # decision 2026-09-16 -> push due end of 09-17
    on_time = loaded.router.resolve(message, dt.datetime(2026, 9, 17, 23, 0, tzinfo=TZ))  # type: ignore[arg-type]
    late = loaded.router.resolve(message, dt.datetime(2026, 9, 18, 0, 0, tzinfo=TZ))  # type: ignore[arg-type]
    assert on_time.recipients[0].push_check is not None
    assert on_time.recipients[0].push_check.late is False
    assert late.recipients[0].push_check is not None and late.recipients[0].push_check.late


def test_reminders_are_computed_before_the_claim_deadline(
    load_variant: Callable[..., LoadedRouting],
) -> None:
    loaded = load_variant(
        (
            "claim: {within: 1wd, on_timeout: auto_claim}",
            'claim: {within: 1wd, on_timeout: auto_claim, reminders: ["-0.5wd", "-1wd"]}',
        )
    )
    (only,) = loaded.router.resolve(approval(), EVE_OF_NATIONAL_DAY).recipients  # type: ignore[arg-type]
    # claim due end of 10-08: the last half day starts 13:30, the last day at 09:00
    assert [r.display() for r in only.reminders] == ["2026-10-08 13:30", "2026-10-08 09:00"]


def test_deadlines_past_the_known_calendar_are_provisional(
    load_variant: Callable[..., LoadedRouting],
) -> None:
    # package_until pins the package's last year: 2027 is past the data whatever is installed
    loaded = load_variant(
        ("approval_bureau: xzsp\n", "approval_bureau: xzsp\ncalendar:\n  package_until: 2026\n")
    )
    late_december = dt.datetime(2026, 12, 31, 10, 0, tzinfo=TZ)
    with capture_logs() as logs:
        (only,) = loaded.router.resolve(approval(), late_december).recipients  # type: ignore[arg-type]
    assert only.claim_due is not None and only.claim_due.provisional
    # 2027-01-01 (Fri) is 元旦 by statute, then the weekend
    assert only.claim_due.display() == "2027-01-04 24:00 (暂定 provisional)"
    assert only.provisional
    assert any(e["event"] == "calendar.provisional" for e in logs)


def test_configured_2027_schedule_makes_it_definite(
    load_variant: Callable[..., LoadedRouting],
) -> None:
    loaded = load_variant(
        (
            "approval_bureau: xzsp\n",
            "approval_bureau: xzsp\ncalendar:\n  years:\n    2027:\n"
            '      holidays: ["2027-01-01..2027-01-03"]\n      workdays: []\n'
            "      complete: true\n",
        )
    )
    late_december = dt.datetime(2026, 12, 31, 10, 0, tzinfo=TZ)
    (only,) = loaded.router.resolve(approval(), late_december).recipients  # type: ignore[arg-type]
    assert only.claim_due is not None and not only.claim_due.provisional
    assert only.claim_due.display() == "2027-01-04 24:00"


def test_route_matched_events_carry_the_message_id(minimal: LoadedRouting) -> None:
    message = approval()
    with capture_logs() as logs:
        minimal.router.resolve(message)  # type: ignore[arg-type]
    matched = [e for e in logs if e["event"] == "route.matched"]
    assert matched and matched[0]["message_id"] == message.message_id  # type: ignore[attr-defined]
    assert matched[0]["route_id"] == "approval"


def test_reminders_and_advance_notice_count_back_however_written(
    load_variant: Callable[..., LoadedRouting],
) -> None:
    forward = load_variant(
        (
            "claim: {within: 1wd, on_timeout: auto_claim}",
            'claim: {within: 1wd, on_timeout: auto_claim, reminders: ["1wd"]}',
        )
    )
    backward = load_variant(
        (
            "claim: {within: 1wd, on_timeout: auto_claim}",
            'claim: {within: 1wd, on_timeout: auto_claim, reminders: ["-1wd"]}',
        )
    )
    (a,) = forward.router.resolve(approval(), EVE_OF_NATIONAL_DAY).recipients  # type: ignore[arg-type]
    (b,) = backward.router.resolve(approval(), EVE_OF_NATIONAL_DAY).recipients  # type: ignore[arg-type]
    assert [r.display() for r in a.reminders] == [r.display() for r in b.reminders]
    assert [r.display() for r in a.reminders] == ["2026-10-08 09:00"]
