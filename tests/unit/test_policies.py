from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.policies import PublishRetryPolicy
from jobs.policies import RetryPolicy, effective


def test_backoff_doubles_from_the_base_and_stops_at_the_cap() -> None:
    policy = RetryPolicy(backoff_base=2, backoff_cap=10, jitter=False, max_retries=5)
    assert [policy.delay(n) for n in range(5)] == [2, 4, 8, 10, 10]


@given(
    base=st.integers(1, 60),
    cap_extra=st.integers(0, 3600),
    retry=st.integers(0, 10_000),
    seed=st.integers(0, 2**32),
)
def test_a_jittered_delay_is_a_whole_number_of_seconds_between_one_and_the_ceiling(
    base: int, cap_extra: int, retry: int, seed: int
) -> None:
    policy = RetryPolicy(backoff_base=base, backoff_cap=base + cap_extra, jitter=True)
    delay = policy.delay(retry, random.Random(seed))
    assert isinstance(delay, int)
    assert 1 <= delay <= policy.ceiling(retry) <= base + cap_extra


def test_a_job_overrides_only_what_it_declares() -> None:
    default = RetryPolicy(max_retries=3, backoff_base=2, time_limit=300)
    policy = effective(default, {"max_retries": 9, "retry_on": KeyError})
    assert policy.max_retries == 9
    assert policy.retry_on == (KeyError,)
    assert (policy.backoff_base, policy.time_limit) == (2, 300)


def test_an_unknown_policy_option_is_an_error_naming_it() -> None:
    with pytest.raises(TypeError, match="max_retry"):
        effective(RetryPolicy(), {"max_retry": 1})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"backoff_base": 0}, "backoff_base"),
        ({"backoff_base": 10, "backoff_cap": 5}, "backoff_cap"),
        ({"time_limit": 0}, "time_limit"),
        ({"on_exhausted": "drop"}, "on_exhausted"),
        ({"retry_on": ()}, "retry_on"),
    ],
)
def test_an_impossible_policy_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]  # wrong types on purpose


def test_only_listed_exceptions_are_retried_and_only_up_to_max_retries() -> None:
    policy = RetryPolicy(retry_on=(KeyError,), max_retries=2)
    assert policy.should_retry(KeyError("x"), 0)
    assert policy.should_retry(KeyError("x"), 1)
    assert not policy.should_retry(KeyError("x"), 2)
    assert not policy.should_retry(ValueError("x"), 0)


def test_the_policy_describes_itself_for_the_api() -> None:
    described = RetryPolicy(retry_on=(KeyError,), max_retries=3, jitter=False).describe()
    assert described["retry_on"] == ["KeyError"]
    assert described["delays"] == [2, 4, 8]


def test_publish_retries_wait_longer_each_time_up_to_the_maximum() -> None:
    policy = PublishRetryPolicy(interval_start=0.2, interval_step=0.5, interval_max=1.0)
    assert [policy.delay(n) for n in range(4)] == [0.2, 0.7, 1.0, 1.0]
    assert policy.as_kombu()["max_retries"] == 3
