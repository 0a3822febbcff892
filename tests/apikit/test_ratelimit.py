"""The moving-window rate limiter: exact counts per caller and an honest Retry-After."""

from __future__ import annotations

import threading

from apikit.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_caller_gets_the_limit_then_waits_until_the_oldest_hit_leaves_the_window():
    clock = Clock()
    limiter = RateLimiter("3/minute", clock=clock)
    for _ in range(3):
        assert limiter.check("admin-1") is None
        clock.now += 10
    # Hits at 1000, 1010, 1020; now 1030: the first leaves the window at 1060.
    assert limiter.check("admin-1") == 30
    clock.now = 1059.5
    assert limiter.check("admin-1") == 1  # never 0: a client would retry at once
    clock.now = 1060.0
    assert limiter.check("admin-1") is None
    assert limiter.check("admin-1") == 10  # 1010 + 60 - 1060


def test_callers_are_counted_apart():
    limiter = RateLimiter("1/second", clock=Clock())
    assert limiter.check("admin-1") is None
    assert limiter.check("admin-2") is None
    assert limiter.check("admin-1") == 1


def test_every_limit_applies_and_a_refused_request_counts_against_none():
    clock = Clock()
    limiter = RateLimiter("2/second;3/minute", clock=clock)
    assert limiter.check("k") is None
    assert limiter.check("k") is None
    assert limiter.check("k") == 1  # the per-second limit; not counted
    clock.now += 1
    assert limiter.check("k") is None  # third of the minute's three
    clock.now += 1
    assert limiter.check("k") == 58  # the minute's oldest hit (at 1000) leaves at 1060


def test_no_thread_is_started_per_hit():
    before = threading.active_count()
    limiter = RateLimiter("1000000/second")
    for _ in range(1000):
        limiter.check("admin-1")
    assert threading.active_count() == before
