"""What follows each attempt: backoff with full jitter, Retry-After, fallbacks, giving up."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notification_gateway.policy import RetryPolicy, next_state
from notification_gateway.status import AttemptOutcome, NotificationStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, base_seconds=2, max_seconds=10)


class FixedRandom(random.Random):
    """uniform(a, b) returns the top of the range, so delays are predictable."""

    def uniform(self, a: float, b: float) -> float:
        return b


def decide(outcome, *, tried=0, fallbacks=(), retry_after=None, rng=None):
    return next_state(
        outcome=outcome,
        attempts_on_channel=tried,
        fallback_channels=list(fallbacks),
        retry_after=retry_after,
        policy=POLICY,
        now=NOW,
        rng=rng or FixedRandom(),
    )


def test_sent_leaves_the_queue_to_wait_for_its_receipt():
    following = decide(AttemptOutcome.SENT, fallbacks=["email"])

    assert following.status is NotificationStatus.SENT
    assert following.leaves_queue
    assert not following.is_final  # a receipt or a confirmation timer may still move it
    assert "finished_at" not in following.updates
    assert following.wait_seconds is None


def test_a_suppressed_address_moves_to_the_fallback_without_using_an_attempt():
    following = decide(AttemptOutcome.SUPPRESSED, fallbacks=["email"])

    assert following.status is NotificationStatus.QUEUED
    assert following.updates["channel"] == "email"
    assert following.wait_seconds == 0


def test_a_suppressed_address_without_a_fallback_ends_suppressed():
    following = decide(AttemptOutcome.SUPPRESSED, fallbacks=[])

    assert following.status is NotificationStatus.SUPPRESSED
    assert following.is_final
    assert following.updates["finished_at"] == NOW


@pytest.mark.parametrize(("tried", "ceiling"), [(0, 2), (1, 4), (2, 8)])
def test_retryable_waits_up_to_an_exponential_ceiling(tried, ceiling):
    policy = RetryPolicy(max_attempts=10, base_seconds=2, max_seconds=100)

    following = next_state(
        outcome=AttemptOutcome.RETRYABLE,
        attempts_on_channel=tried,
        fallback_channels=[],
        retry_after=None,
        policy=policy,
        now=NOW,
        rng=FixedRandom(),
    )

    assert following.status is NotificationStatus.QUEUED
    assert following.wait_seconds == ceiling
    assert following.updates["attempts_on_channel"] == tried + 1


def test_the_ceiling_is_capped():
    assert POLICY.delay(20, FixedRandom(), None) == 10


@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=2**32))
def test_full_jitter_stays_within_zero_and_the_ceiling(attempt, seed):
    delay = POLICY.delay(attempt, random.Random(seed), None)

    assert 0 <= delay <= min(POLICY.max_seconds, POLICY.base_seconds * 2 ** (attempt - 1))


def test_retry_after_is_a_floor():
    assert POLICY.delay(1, FixedRandom(), 30) == 30
    assert POLICY.delay(3, FixedRandom(), 1) == 8
    assert RetryPolicy(max_retry_after_seconds=60).delay(1, FixedRandom(), 10_000) == 60


def test_retryable_after_the_last_attempt_falls_back():
    following = decide(AttemptOutcome.RETRYABLE, tried=2, fallbacks=["email", "push"])

    assert following.status is NotificationStatus.QUEUED
    assert following.updates["channel"] == "email"
    assert following.updates["fallback_channels"] == ["push"]
    assert following.updates["attempts_on_channel"] == 0
    assert following.wait_seconds == 0


def test_permanent_falls_back_at_once():
    following = decide(AttemptOutcome.PERMANENT, tried=0, fallbacks=["email"])

    assert following.updates["channel"] == "email"


@pytest.mark.parametrize(("outcome", "tried"), [(AttemptOutcome.PERMANENT, 0), (AttemptOutcome.RETRYABLE, 2)])
def test_without_fallbacks_it_fails_for_good(outcome, tried):
    following = decide(outcome, tried=tried)

    assert following.status is NotificationStatus.FAILED
    assert following.is_final
    assert following.updates["finished_at"] == NOW
