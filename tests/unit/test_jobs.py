"""The job rules every store applies: claiming, backoff with jitter, parking after the last attempt, retry."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from memo.adapters.system import TEST_NOW
from memo.domain.jobs import MAX_ERROR_CHARS, Job, JobCounts, JobState, next_run_after


def _job() -> Job:
    return Job.new(id=UUID(int=1), kind="index", now=TEST_NOW, payload={"memoryId": "m"})


def _highest(bound: float) -> float:
    return bound


def test_a_new_job_is_pending_and_due_at_once() -> None:
    job = _job()

    assert (job.state, job.attempts, job.run_after) == (JobState.PENDING, 0, TEST_NOW)
    assert job.due(TEST_NOW)


@pytest.mark.parametrize("kind", ["", "k" * 65])
def test_a_job_kind_that_the_table_cannot_hold_is_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="1 to 64 characters"):
        Job.new(id=UUID(int=1), kind=kind, now=TEST_NOW)


@pytest.mark.parametrize(("attempts", "bound_s"), [(1, 2), (2, 4), (3, 8), (10, 1024), (12, 3600), (40, 3600)])
def test_the_backoff_doubles_per_attempt_up_to_the_cap(attempts: int, bound_s: float) -> None:
    assert next_run_after(attempts, TEST_NOW, jitter=_highest) == TEST_NOW + timedelta(seconds=bound_s)


def test_the_backoff_jitter_is_full_between_zero_and_the_bound() -> None:
    bounds: list[float] = []

    def half(bound: float) -> float:
        bounds.append(bound)
        return bound / 2

    assert next_run_after(3, TEST_NOW, jitter=half) == TEST_NOW + timedelta(seconds=4)
    assert bounds == [8]


def test_a_jitter_outside_its_bound_is_clamped() -> None:
    assert next_run_after(1, TEST_NOW, jitter=lambda _: 99.0) == TEST_NOW + timedelta(seconds=2)
    assert next_run_after(1, TEST_NOW, jitter=lambda _: -5.0) == TEST_NOW


def test_a_claim_takes_a_lease_and_counts_an_attempt() -> None:
    job = _job().claimed("w1", TEST_NOW, lease_s=30)

    assert (job.state, job.attempts, job.lease_owner) == (JobState.RUNNING, 1, "w1")
    assert job.lease_expires_at == TEST_NOW + timedelta(seconds=30)
    assert not job.due(TEST_NOW + timedelta(seconds=30))
    assert job.due(TEST_NOW + timedelta(seconds=31))


def test_a_failed_attempt_goes_back_to_pending_after_a_backoff_with_its_error() -> None:
    job = _job().claimed("w1", TEST_NOW, lease_s=30).failed_attempt("boom", TEST_NOW, max_attempts=3,
                                                                     jitter=_highest)

    assert (job.state, job.last_error, job.lease_owner, job.lease_expires_at) == (
        JobState.PENDING, "boom", None, None)
    assert job.run_after == TEST_NOW + timedelta(seconds=2)
    assert not job.due(TEST_NOW + timedelta(seconds=1))


def test_the_last_attempt_parks_the_job_as_failed_with_its_error_truncated() -> None:
    job = _job()
    for _ in range(3):
        job = job.claimed("w1", TEST_NOW, lease_s=30).failed_attempt("x" * 5000, TEST_NOW, max_attempts=3)

    assert job.state is JobState.FAILED
    assert job.attempts == 3
    assert job.last_error == "x" * MAX_ERROR_CHARS
    assert not job.due(TEST_NOW + timedelta(days=365))


def test_a_released_job_gives_its_attempt_back() -> None:
    job = _job().claimed("w1", TEST_NOW, lease_s=30).released(TEST_NOW)

    assert (job.state, job.attempts, job.lease_owner) == (JobState.PENDING, 0, None)


def test_a_retried_job_gets_every_attempt_again_at_once() -> None:
    parked = _job().claimed("w1", TEST_NOW, lease_s=30).failed_attempt("boom", TEST_NOW, max_attempts=1)
    later = TEST_NOW + timedelta(hours=1)

    job = parked.retried(later)

    assert (job.state, job.attempts, job.run_after) == (JobState.PENDING, 0, later)


def test_the_oldest_pending_age_is_measured_from_when_it_fell_due() -> None:
    counts = JobCounts(pending=1, oldest_due_at=TEST_NOW)

    assert counts.oldest_pending_age_s(TEST_NOW + timedelta(seconds=90)) == 90
    assert JobCounts().oldest_pending_age_s(TEST_NOW) is None
