"""``decide``: what comes after a send, by table (no I/O)."""

from __future__ import annotations

import pytest

from hub.channels import Purpose
from hub.core.decide import DeadLetter, Decision, Delivered, FallBack, RetryAt, RetryPolicy, decide
from hub.core.jobs import DeliverJob
from hub.errors import DeliveryError
from hub.message import Channel

P, E, X = Channel.PLATFORM, Channel.EMAIL, Channel.PAPER
POLICY = RetryPolicy(rounds=3, round_wait_initial=60, round_wait_max=100)
RETRY, PERMANENT = DeliveryError("503", retryable=True), DeliveryError("404", retryable=False)


def job(channels: tuple[Channel, ...], index: int = 0, round: int = 0) -> DeliverJob:
    return DeliverJob("D1", Purpose.PUSH, "scjg", channels, channel_index=index, round=round)


@pytest.mark.parametrize(
    ("tried", "error", "expected"),
    [
        (job((P, X)), None, Delivered()),
        (job((P, X)), RETRY, RetryAt(60.0, job((P, X), round=1))),
        (job((P, X), round=1), RETRY, RetryAt(100.0, job((P, X), round=2))),  # capped
        (job((P, X), round=2), RETRY, FallBack(job((P, X), index=1))),  # rounds used up
        (job((P, E, X), round=1), PERMANENT, FallBack(job((P, E, X), index=1))),
        (job((P, E, X), index=1), PERMANENT, FallBack(job((P, E, X), index=2))),
        (job((P, X), index=1, round=2), RETRY, DeadLetter()),
        (job((X,)), PERMANENT, DeadLetter()),
        (job((X,)), RETRY, RetryAt(60.0, job((X,), round=1))),
    ],
)
def test_decide(tried: DeliverJob, error: DeliveryError | None, expected: Decision) -> None:
    assert decide(tried, error, POLICY) == expected


def test_a_job_round_trips_through_its_payload_and_refuses_garbage() -> None:
    j = job((P, E, X), index=1, round=2)
    assert DeliverJob.from_payload(j.to_payload()) == j
    legacy = {"delivery_id": "D1", "purpose": "push", "channel": "email", "target": "scjg"}
    assert DeliverJob.from_payload(legacy).channels == (E,)  # a job written before 0.4
    for bad in ({}, {**j.to_payload(), "channels": "platform"}, {**j.to_payload(), "purpose": "x"}):
        with pytest.raises((KeyError, ValueError, TypeError)):
            DeliverJob.from_payload(bad)
    with pytest.raises(ValueError):
        DeliverJob("D1", Purpose.PUSH, "scjg", (P,), channel_index=1)
