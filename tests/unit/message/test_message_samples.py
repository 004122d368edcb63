"""The bundled sample messages (hub/samples/<county>/*.json) are valid and realistic."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

import hub
from hub.message import CanonicalMessage, Channel, MessageKind
from hub.uscc import validate_uscc
from hub.validation import parse_message

SAMPLES_DIR = Path(hub.__file__).parent / "samples"
SAMPLE_FILES = sorted(SAMPLES_DIR.glob("*/*.json"))
DIVISIONS = {
    "liangshan": "370832",  # 梁山县
    "zhoucun": "370306",  # 周村区
    "guanxian": "371525",  # 冠县
    "danzhou": "460400",  # 儋州市
    "baokang": "420626",  # 保康县
}
DEPARTMENTS = {"xzsp", "scjg", "wsjk", "zjj", "yjgl", "sthj", "jtys", "zhzf", "whly", "nync"}


def _load(path: Path) -> CanonicalMessage:
    return parse_message(path.read_bytes())


ALL = {path.relative_to(SAMPLES_DIR).as_posix(): _load(path) for path in SAMPLE_FILES}


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.relative_to(SAMPLES_DIR).as_posix())
def test_sample_parses(path: Path) -> None:
    message = _load(path)
    assert path.name.split("-", 1)[1].startswith(message.kind.value)


def test_the_five_counties_are_there() -> None:
    folders = {path.parent.name for path in SAMPLE_FILES}
    assert folders == set(DIVISIONS)


@pytest.mark.parametrize("county", sorted(DIVISIONS))
def test_each_county_has_the_core_kinds(county: str) -> None:
    kinds = Counter(m.kind for name, m in ALL.items() if name.startswith(f"{county}/"))
    assert kinds[MessageKind.APPROVAL_DECISION] >= 1
    assert kinds[MessageKind.SUPERVISION_INFO] >= 1
    others = set(kinds) - {MessageKind.APPROVAL_DECISION, MessageKind.SUPERVISION_INFO}
    assert len(others) >= 2, f"{county}: {sorted(others)}"


def test_every_kind_has_a_sample() -> None:
    assert {m.kind for m in ALL.values()} == set(MessageKind)


@pytest.mark.parametrize("name", sorted(ALL))
def test_party_uscc_matches_the_county(name: str) -> None:
    division = DIVISIONS[name.split("/")[0]]
    uscc = ALL[name].field("body.party.uscc")
    if uscc is None:
        return
    assert isinstance(uscc, str)
    assert validate_uscc(uscc) == uscc
    assert uscc[2:8] == division


def test_departments_use_the_shared_vocabulary() -> None:
    for name, message in ALL.items():
        assert message.sender.department_id in DEPARTMENTS, name
        assert set(message.recipients) <= DEPARTMENTS, name


def test_source_ids_and_message_ids_are_unique() -> None:
    triples = Counter((m.source.channel, m.source.system, m.source.source_id) for m in ALL.values())
    assert max(triples.values()) == 1
    assert len({m.message_id for m in ALL.values()}) == len(ALL)


def test_replies_point_at_their_requests() -> None:
    by_id = {m.message_id: m for m in ALL.values()}
    replies = [m for m in ALL.values() if m.correlation is not None]
    assert len(replies) >= 4
    for reply in replies:
        assert reply.correlation is not None
        request = by_id[reply.correlation.in_reply_to]
        assert reply.correlation.request_source_id == request.source.source_id
        assert reply.occurred_at > request.occurred_at
        assert reply.sender.department_id in request.recipients
        assert request.sender.department_id in reply.recipients


def test_exactly_one_classified_message_and_it_is_on_paper() -> None:
    classified = [m for m in ALL.values() if m.classification.is_classified]
    assert len(classified) == 1
    assert classified[0].source.channel is Channel.PAPER
    assert classified[0].classification.paper_only


def test_times_are_beijing_time_in_autumn_2026() -> None:
    for name, m in ALL.items():
        for moment in (m.occurred_at, m.source.received_at):
            assert moment.utcoffset() == timedelta(hours=8), name
            assert date(2026, 9, 1) <= moment.date() <= date(2026, 10, 31), name
        assert m.source.received_at >= m.occurred_at, name
