"""What happens after a send: the dispatcher's decision, apart from any I/O.

``decide(job, error, retry)`` takes the job that was tried, the error of its last try (None when
the channel accepted it) and the retry policy, and says what comes next:

    Delivered        the channel accepted it
    RetryAt(delay)   a retryable failure with rounds left: the same channel in ``delay`` seconds
    FallBack(job)    this channel is done with (permanent error or rounds used up): the next one
    DeadLetter       no channel left: a push is undeliverable (投递失败), a note is given up

Tested by table in ``tests/unit/core/test_decide.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.backoff import backoff_delay
from hub.core.jobs import DeliverJob
from hub.errors import DeliveryError


@dataclass(frozen=True)
class RetryPolicy:
    """In-process tries per round, then durable rounds through the outbox, then fallback.

    ``lease_seconds`` None derives the lease of a deliver job from the channels' timeouts
    (see ``Dispatcher.lease_seconds``)."""

    tries_per_round: int = 3
    try_wait_initial: float = 0.5
    try_wait_max: float = 5.0
    rounds: int = 5
    round_wait_initial: float = 60.0
    round_wait_max: float = 3600.0
    lease_seconds: float | None = None


@dataclass(frozen=True)
class Delivered:
    pass


@dataclass(frozen=True)
class RetryAt:
    delay: float
    job: DeliverJob


@dataclass(frozen=True)
class FallBack:
    job: DeliverJob


@dataclass(frozen=True)
class DeadLetter:
    pass


Decision = Delivered | RetryAt | FallBack | DeadLetter


def decide(job: DeliverJob, error: DeliveryError | None, retry: RetryPolicy) -> Decision:
    if error is None:
        return Delivered()
    if error.retryable and job.round + 1 < retry.rounds:
        delay = backoff_delay(retry.round_wait_initial, retry.round_wait_max, job.round)
        return RetryAt(delay, job.next_round())
    if job.next_channel is not None:
        return FallBack(job.fallen_back())
    return DeadLetter()
