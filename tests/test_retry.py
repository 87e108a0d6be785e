"""``keepalive.retry.Retry``: budgets, method rules, backoff and Retry-After, as a pure value.

The policy has no I/O, so most tests drive it with errors and statuses directly; the last
section runs the retry loop the pool is meant to implement against the loopback server, to
check that the errors the pool really raises are classified as the policy assumes.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
import random
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from testserver import ReceivedRequest, Reply, ServerSide

import keepalive
from keepalive.exceptions import (
    ConnectError,
    ConnectTimeout,
    InvalidArgument,
    InvalidArgumentType,
    InvalidURL,
    KeepaliveError,
    LocalProtocolError,
    PoolTimeout,
    ProxyError,
    ReadTimeout,
    RemoteProtocolError,
    RetryError,
    ServerDisconnected,
    TLSError,
    TransportError,
    WriteTimeout,
)
from keepalive.retry import (
    DEFAULT_BACKOFF_MAX,
    IDEMPOTENT_METHODS,
    RETRY_AFTER_STATUS_CODES,
    Retry,
    RetryRecord,
)

NOW = 1_700_000_000.0  # a fixed "now" in POSIX seconds: no test reads the clock for dates


def failed(retry: Retry, times: int, error: BaseException | None = None) -> Retry:
    """``retry`` after ``times`` failures of ``error`` (a read timeout by default)."""
    for _ in range(times):
        retry = retry.increment("GET", error=error or ReadTimeout("read timed out"))
    return retry


def http_date(seconds: float) -> str:
    return email.utils.format_datetime(
        datetime.fromtimestamp(seconds, tz=timezone.utc), usegmt=True
    )


# -- construction and validation ------------------------------------------------------------


def test_defaults_match_urllib3_where_the_spec_is_silent() -> None:
    retry = Retry()
    assert (retry.total, retry.connect, retry.read, retry.status) == (10, None, None, None)
    assert (retry.backoff_factor, retry.backoff_max, retry.backoff_jitter) == (0.0, 120.0, 0.0)
    assert DEFAULT_BACKOFF_MAX == 120.0
    assert retry.status_forcelist == frozenset()
    assert retry.allowed_methods == frozenset(
        {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}
    )
    assert isinstance(retry.allowed_methods, frozenset)
    assert retry.allowed_methods is IDEMPOTENT_METHODS is Retry.DEFAULT_ALLOWED_METHODS
    assert RETRY_AFTER_STATUS_CODES == Retry.RETRY_AFTER_STATUS_CODES == {413, 429, 503}
    assert retry.respect_retry_after_header is True and retry.raise_on_status is True
    assert retry.history == ()


def test_arguments_are_normalised() -> None:
    retry = Retry(
        3,
        connect=1,
        read=2,
        status=0,
        backoff_factor=1,
        backoff_max=5,
        backoff_jitter=0.25,
        status_forcelist=[500, 502, 500],
        allowed_methods=["get", "Post"],
    )
    assert (retry.total, retry.connect, retry.read, retry.status) == (3, 1, 2, 0)
    assert isinstance(retry.backoff_factor, float) and retry.backoff_factor == 1.0
    assert isinstance(retry.backoff_max, float) and retry.backoff_max == 5.0
    assert retry.status_forcelist == frozenset({500, 502})
    assert retry.allowed_methods == frozenset({"GET", "POST"})
    assert Retry(allowed_methods=None).allowed_methods is None
    assert Retry(allowed_methods=()).allowed_methods == frozenset()


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"total": -1}, InvalidArgument, "total"),
        ({"connect": -2}, InvalidArgument, "connect"),
        ({"read": -1}, InvalidArgument, "read"),
        ({"status": -1}, InvalidArgument, "status"),
        ({"total": 2.0}, InvalidArgumentType, "total"),
        ({"total": "3"}, InvalidArgumentType, "total"),
        ({"total": False}, InvalidArgumentType, "total"),
        ({"read": True}, InvalidArgumentType, "read"),
        ({"backoff_factor": "1"}, InvalidArgumentType, "backoff_factor"),
        ({"backoff_factor": None}, InvalidArgumentType, "backoff_factor"),
        ({"backoff_factor": True}, InvalidArgumentType, "backoff_factor"),
        ({"backoff_factor": -0.5}, InvalidArgument, "backoff_factor"),
        ({"backoff_factor": math.nan}, InvalidArgument, "backoff_factor"),
        ({"backoff_max": math.inf}, InvalidArgument, "backoff_max"),
        ({"backoff_max": 10**400}, InvalidArgument, "backoff_max"),
        ({"backoff_jitter": -1}, InvalidArgument, "backoff_jitter"),
        ({"backoff_jitter": [1]}, InvalidArgumentType, "backoff_jitter"),
        ({"status_forcelist": "503"}, InvalidArgumentType, "status_forcelist"),
        ({"status_forcelist": 503}, InvalidArgumentType, "status_forcelist"),
        ({"status_forcelist": ["503"]}, InvalidArgumentType, "status_forcelist"),
        ({"status_forcelist": [True]}, InvalidArgumentType, "status_forcelist"),
        ({"status_forcelist": [600]}, InvalidArgument, "status_forcelist"),
        ({"status_forcelist": [99]}, InvalidArgument, "status_forcelist"),
        ({"allowed_methods": "GET"}, InvalidArgumentType, "allowed_methods"),
        ({"allowed_methods": b"GET"}, InvalidArgumentType, "allowed_methods"),
        ({"allowed_methods": ["GET", 1]}, InvalidArgumentType, "allowed_methods"),
        ({"allowed_methods": [""]}, InvalidArgumentType, "allowed_methods"),
        ({"respect_retry_after_header": 1}, InvalidArgumentType, "respect_retry_after_header"),
        ({"raise_on_status": None}, InvalidArgumentType, "raise_on_status"),
        ({"history": []}, InvalidArgumentType, "history"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(
    kwargs: dict[str, Any], error: type[Exception], names: str
) -> None:
    with pytest.raises(error, match=names) as info:
        Retry(**kwargs)
    assert isinstance(info.value, KeepaliveError)
    builtin = TypeError if error is InvalidArgumentType else ValueError
    assert isinstance(info.value, builtin)


def test_positional_arguments_beyond_total_are_refused() -> None:
    with pytest.raises(TypeError):
        Retry(3, 1)  # type: ignore[call-arg]


def test_a_retry_is_an_immutable_hashable_value() -> None:
    retry = Retry(3, status_forcelist=[503])
    with pytest.raises(dataclasses.FrozenInstanceError):
        retry.total = 5  # type: ignore[misc]
    assert retry == Retry(3, status_forcelist={503})
    assert retry != Retry(4, status_forcelist={503})
    assert len({retry, Retry(3, status_forcelist=(503,))}) == 1


def test_from_int_is_urllib3s_total() -> None:
    assert Retry.from_int(3) == Retry(total=3)
    assert Retry.from_int(0).total == 0
    with pytest.raises(InvalidArgument, match="retries"):
        Retry.from_int(-1)
    with pytest.raises(InvalidArgumentType, match="retries"):
        Retry.from_int(True)


def test_coerce_keeps_an_int_for_rule_6_and_a_retry_as_the_policy() -> None:
    policy = Retry(2)
    assert Retry.coerce(policy) is policy
    assert Retry.coerce(0) is None
    assert Retry.coerce(3) is None
    assert Retry.coerce(None) is None
    with pytest.raises(InvalidArgument, match="retries"):
        Retry.coerce(-1)
    for bad in ("3", 2.5, True):
        with pytest.raises(InvalidArgumentType, match="retries"):
            Retry.coerce(bad)  # type: ignore[arg-type]


def test_repr_shows_the_remaining_budgets() -> None:
    retry = Retry(3, read=2)
    assert repr(retry) == "Retry(total=3, connect=None, read=2, status=None, retried=0)"
    assert repr(failed(retry, 1)) == "Retry(total=2, connect=None, read=1, status=None, retried=1)"


# -- which requests may be sent again -------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", "get"])
def test_idempotent_methods_are_retryable_by_default(method: str) -> None:
    assert Retry().is_method_retryable(method)


@pytest.mark.parametrize("method", ["POST", "PATCH", "CONNECT", "PROPFIND"])
def test_other_methods_are_not(method: str) -> None:
    retry = Retry()
    assert not retry.is_method_retryable(method)
    assert not retry.is_method_retryable(method, [("Content-Type", "application/json")])
    assert not retry.is_method_retryable(method, [(b"Idempotency", b"1")])


@pytest.mark.parametrize(
    "headers",
    [
        [("Idempotency-Key", "8e03978e-40d5-43e8-bc93-6894a57f9324")],
        [("Accept", "*/*"), ("idempotency-key", "1")],
        [(b"IDEMPOTENCY-KEY", b"1")],
        {"Idempotency-Key": "1"},
        keepalive.Headers({"Idempotency-Key": "1"}),
    ],
)
def test_an_idempotency_key_makes_any_method_retryable(headers: Any) -> None:
    assert Retry().is_method_retryable("POST", headers)
    assert Retry(allowed_methods=()).is_method_retryable("PATCH", headers)


def test_allowed_methods_none_means_any_and_a_set_means_those() -> None:
    assert Retry(allowed_methods=None).is_method_retryable("POST")
    only_post = Retry(allowed_methods={"post"})
    assert only_post.is_method_retryable("POST")
    assert not only_post.is_method_retryable("GET")


# -- classifying errors ---------------------------------------------------------------------


def _proxy_error_with_cause() -> ProxyError:
    try:
        raise ProxyError("CONNECT through proxy failed") from ConnectionResetError()
    except ProxyError as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ConnectError("refused"), "connect"),
        (ConnectTimeout("connect timed out"), "connect"),
        (ServerDisconnected("closed before we wrote", request_sent=False), "connect"),
        (_proxy_error_with_cause(), "connect"),
        (ServerDisconnected("closed after the request"), "read"),
        (ReadTimeout("read timed out"), "read"),
        (WriteTimeout("write timed out"), "read"),
        (RemoteProtocolError("bad framing"), "read"),
        (TransportError("something on the wire"), "read"),
        (TLSError("certificate verify failed"), None),
        (PoolTimeout("no connection free"), None),
        (ProxyError("proxy refused CONNECT: 407"), None),
        (LocalProtocolError("bad header"), None),
        (InvalidURL("no host"), None),
        (InvalidArgument("bad"), None),
        (ValueError("foreign"), None),
        (KeyboardInterrupt(), None),
    ],
)
def test_classify_error(error: BaseException, kind: str | None) -> None:
    assert Retry.classify_error(error) == kind


def test_connect_errors_are_retried_for_any_method_read_errors_only_when_allowed() -> None:
    retry = Retry(3)
    assert retry.retry_error("POST", ConnectError("refused")) is not None
    assert retry.retry_error("POST", ReadTimeout("slow")) is None
    assert retry.retry_error("PATCH", ServerDisconnected("closed")) is None
    keyed = [("Idempotency-Key", "k1")]
    assert retry.retry_error("POST", ReadTimeout("slow"), request_headers=keyed) is not None
    assert retry.retry_error("GET", ReadTimeout("slow")) is not None


@pytest.mark.parametrize(
    "error", [TLSError("bad cert"), PoolTimeout("full"), LocalProtocolError("bad"), OSError()]
)
def test_errors_that_would_repeat_are_never_retried(error: BaseException) -> None:
    assert Retry(None, allowed_methods=None).retry_error("GET", error) is None


# -- budgets --------------------------------------------------------------------------------


def test_total_allows_that_many_retries_then_raises_retry_error() -> None:
    retry = Retry(2)
    first = ReadTimeout("one")
    retry = retry.increment("GET", error=first)
    retry = retry.increment("GET", error=ReadTimeout("two"))
    assert retry.total == 0
    last = ReadTimeout("three")
    with pytest.raises(RetryError, match="after 3 attempts, no total retry left") as info:
        retry.increment("GET", error=last)
    assert info.value.reason is last
    assert info.value.response is None
    assert info.value.__cause__ is last
    assert isinstance(info.value, KeepaliveError)


def test_total_zero_allows_no_retry() -> None:
    with pytest.raises(RetryError, match="after 1 attempt, no total"):
        Retry(0).increment("GET", error=ConnectError("refused"))
    with pytest.raises(RetryError):
        Retry(0, status_forcelist=[500]).retry_response("GET", 500)


def test_each_kind_spends_total_and_its_own_budget() -> None:
    retry = Retry(10, connect=5, read=5, status=5)
    retry = retry.increment("GET", error=ConnectError("refused"))
    assert (retry.total, retry.connect, retry.read, retry.status) == (9, 4, 5, 5)
    retry = retry.increment("GET", error=ReadTimeout("slow"))
    assert (retry.total, retry.connect, retry.read, retry.status) == (8, 4, 4, 5)
    retry = retry.increment("GET", response_status=503)
    assert (retry.total, retry.connect, retry.read, retry.status) == (7, 4, 4, 4)
    retry = retry.increment("GET", error=ValueError("unclassified counts as read"))
    assert (retry.total, retry.connect, retry.read, retry.status) == (6, 4, 3, 4)


@pytest.mark.parametrize(
    ("budget", "error", "status"),
    [
        ("connect", ConnectError("refused"), None),
        ("read", ReadTimeout("slow"), None),
        ("status", None, 503),
    ],
)
def test_a_kind_budget_runs_out_on_its_own(
    budget: str, error: BaseException | None, status: int | None
) -> None:
    limit: dict[str, Any] = {budget: 1}
    retry = Retry(None, **limit)
    retry = retry.increment("GET", error=error, response_status=status)
    assert getattr(retry, budget) == 0
    with pytest.raises(RetryError, match=f"no {budget} retry left"):
        retry.increment("GET", error=error, response_status=status)
    # The other kinds are not limited by it.
    other = ReadTimeout("slow") if budget != "read" else ConnectError("refused")
    assert retry.increment("GET", error=other).total is None


def test_none_budgets_never_run_out() -> None:
    retry = failed(Retry(None), 500)
    assert retry.total is None and len(retry.history) == 500


def test_increment_records_history_and_leaves_the_original_alone() -> None:
    original = Retry(3, backoff_factor=0.5, status_forcelist=[503])
    error = ConnectError("refused")
    after = original.increment("GET", error=error).increment("GET", response_status=503)
    assert original.total == 3 and original.history == ()
    assert after.history == (
        RetryRecord("GET", error, None),
        RetryRecord("GET", "status 503", 503),
    )
    assert after.backoff_factor == 0.5 and after.status_forcelist == {503}


def test_increment_needs_exactly_one_outcome() -> None:
    with pytest.raises(InvalidArgument, match="error= or response_status="):
        Retry().increment("GET")
    with pytest.raises(InvalidArgument):
        Retry().increment("GET", error=ReadTimeout("x"), response_status=503)


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as exc:
        return exc


def test_a_retried_error_drops_its_traceback_a_final_one_keeps_it() -> None:
    swallowed = _raised(ReadTimeout("one"))
    assert swallowed.__traceback__ is not None
    retry = Retry(1).increment("GET", error=swallowed)
    assert swallowed.__traceback__ is None
    final = _raised(ReadTimeout("two"))
    with pytest.raises(RetryError) as info:
        retry.increment("GET", error=final)
    assert info.value.__cause__ is final and final.__traceback__ is not None


# -- status retries -------------------------------------------------------------------------


def test_is_retry_for_statuses_in_the_forcelist_and_allowed_methods() -> None:
    retry = Retry(3, status_forcelist=[500, 502])
    assert retry.is_retry("GET", 500)
    assert retry.is_retry("PUT", 502)
    assert not retry.is_retry("GET", 404)
    assert not retry.is_retry("POST", 500)
    assert retry.is_retry("POST", 500, request_headers=[("Idempotency-Key", "x")])


@pytest.mark.parametrize("status", sorted(RETRY_AFTER_STATUS_CODES))
def test_retry_after_statuses_retry_without_being_listed(status: int) -> None:
    retry = Retry(3)
    assert retry.is_retry("GET", status, has_retry_after=True)
    assert not retry.is_retry("GET", status, has_retry_after=False)
    assert not retry.is_retry("POST", status, has_retry_after=True)
    assert not Retry(3, respect_retry_after_header=False).is_retry("GET", status, True)
    assert not Retry(0).is_retry("GET", status, True)
    assert not Retry(3, status=0).is_retry("GET", status, True)
    assert Retry(None).is_retry("GET", status, True)


def test_other_statuses_with_retry_after_are_not_retried() -> None:
    assert not Retry(3).is_retry("GET", 500, has_retry_after=True)
    assert not Retry(3).is_retry("GET", 301, has_retry_after=True)


def test_retry_response_hands_back_ordinary_responses() -> None:
    retry = Retry(3, status_forcelist=[500])
    for status in (200, 204, 301, 404, 501):
        assert retry.retry_response("GET", status, [("Retry-After", "1")]) is None


def test_retry_response_retries_and_raises_with_the_last_response() -> None:
    retry = Retry(1, status_forcelist=[500])
    first, last = object(), object()
    retry_next = retry.retry_response("GET", 500, [], response=first)
    assert retry_next is not None and retry_next.total == 0
    with pytest.raises(RetryError, match="no total retry left: status 500") as info:
        retry_next.retry_response("GET", 500, [], response=last)
    assert info.value.response is last
    assert info.value.reason == "status 500"


def test_raise_on_status_false_hands_back_the_last_response() -> None:
    retry = Retry(None, status=1, status_forcelist=[502], raise_on_status=False)
    retry_next = retry.retry_response("GET", 502)
    assert retry_next is not None
    assert retry_next.retry_response("GET", 502) is None


def test_retry_after_retries_end_by_handing_the_response_back() -> None:
    retry = Retry(1)
    headers = [(b"Retry-After", b"0")]
    retry_next = retry.retry_response("GET", 503, headers)
    assert retry_next is not None and retry_next.history[-1].status == 503
    assert retry_next.retry_response("GET", 503, headers) is None  # not a RetryError
    assert retry.retry_response("GET", 503, []) is None  # no Retry-After: not a retry


# -- backoff --------------------------------------------------------------------------------


def test_backoff_follows_urllib3_first_retry_immediate_then_doubling() -> None:
    retry = Retry(None, backoff_factor=0.5)
    delays = [failed(retry, n).get_backoff_time() for n in range(6)]
    assert delays == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0]


def test_backoff_is_capped_at_backoff_max() -> None:
    retry = Retry(None, backoff_factor=10, backoff_max=15)
    assert failed(retry, 2).get_backoff_time() == 15.0
    assert failed(retry, 9).get_backoff_time() == 15.0


def test_a_very_long_history_does_not_overflow() -> None:
    history = tuple(RetryRecord("GET", "status 503", 503) for _ in range(5000))
    assert Retry(None, backoff_factor=1, history=history).get_backoff_time() == 120.0
    assert Retry(None, backoff_factor=0, history=history).get_backoff_time() == 0.0
    tiny = Retry(None, backoff_factor=5e-324, backoff_max=7, history=history)
    assert tiny.get_backoff_time() == 7.0


def test_jitter_is_added_after_the_cap_from_the_given_source() -> None:
    retry = failed(Retry(None, backoff_factor=100, backoff_max=1, backoff_jitter=0.5), 3)
    assert retry.get_backoff_time(lambda: 1.0) == 1.5
    assert retry.get_backoff_time(lambda: 0.0) == 1.0
    seeded = [retry.get_backoff_time(random.Random(7)) for _ in range(2)]
    assert seeded[0] == seeded[1] == 1.0 + 0.5 * random.Random(7).random()
    assert retry.get_backoff_time(random.Random(7).random) == seeded[0]


def test_the_first_retry_has_no_jitter_either() -> None:
    retry = failed(Retry(None, backoff_factor=1, backoff_jitter=3), 1)
    assert retry.get_backoff_time(lambda: 1.0) == 0.0


@pytest.mark.parametrize("draw", [1.5, -0.1, math.nan, "0.5"])
def test_a_bad_random_source_is_reported(draw: Any) -> None:
    retry = failed(Retry(None, backoff_factor=1, backoff_jitter=1), 2)
    with pytest.raises(InvalidArgument, match="rand"):
        retry.get_backoff_time(lambda: draw)


# -- Retry-After ----------------------------------------------------------------------------


def after_503(**kwargs: Any) -> Retry:
    """A policy that has just counted a 503 (so ``sleep_for`` looks at Retry-After)."""
    return Retry(None, **kwargs).increment("GET", response_status=503)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("\t7", 7.0),
        ("0", 0.0),
        ("007", 7.0),
        ("9" * 5000, 300.0),  # capped at backoff_max
        (http_date(NOW + 30), 30.0),
        (http_date(NOW - 30), 0.0),  # a date in the past: at once, never negative
        (http_date(NOW + 10**6), 300.0),
        ("Tue, 14 Nov 2023 22:13:50 -0000", 30.0),  # no zone: UTC
        ("Tuesday, 14-Nov-23 22:13:50 GMT", 30.0),  # RFC 850 form
        ("Tue Nov 14 22:13:50 2023", 30.0),  # asctime form
    ],
)
def test_retry_after_values(value: str, seconds: float) -> None:
    assert http_date(NOW) == "Tue, 14 Nov 2023 22:13:20 GMT"
    retry = after_503(backoff_max=300)
    assert retry.retry_after([("Retry-After", value)], NOW) == seconds
    assert retry.sleep_for([("retry-after", value.encode())], NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "",
        "soon",
        "-5",
        "1.5",
        "1e3",
        "٣",  # ARABIC-INDIC DIGIT THREE: a digit, but not an ASCII one
        "Wed, 32 Oct 2015 07:28:00 GMT",
        "Wed, 21 Oct 99999 07:28:00 GMT",
        "Mon, 1 Jan 2024 00:00:00 +9999",
    ],
)
def test_a_malformed_retry_after_falls_back_to_backoff(value: str) -> None:
    retry = after_503(backoff_factor=1)
    assert retry.retry_after([("Retry-After", value)], NOW) is None
    twice = retry.increment("GET", response_status=503)
    assert twice.sleep_for([("Retry-After", value)], NOW) == 2.0


def test_conflicting_retry_after_values_are_ignored_identical_ones_used() -> None:
    retry = after_503(backoff_max=300)
    assert retry.retry_after([("Retry-After", "5"), ("Retry-After", "9")], NOW) is None
    assert retry.retry_after([("Retry-After", "5"), ("retry-after", "5")], NOW) == 5.0
    assert retry.retry_after([], NOW) is None
    assert retry.retry_after(None, NOW) is None


def test_retry_after_is_capped_at_backoff_max() -> None:
    assert after_503().sleep_for({"Retry-After": "3600"}, NOW) == DEFAULT_BACKOFF_MAX
    assert after_503(backoff_max=2).sleep_for({"Retry-After": "3"}, NOW) == 2.0


def test_retry_after_only_counts_for_413_429_503_and_when_respected() -> None:
    headers = [("Retry-After", "50")]
    for status in (413, 429, 503):
        retry = Retry(None, backoff_factor=1).increment("GET", response_status=status)
        assert retry.sleep_for(headers, NOW) == 50.0
    for status in (500, 502):
        retry = Retry(None, backoff_factor=1).increment("GET", response_status=status)
        assert retry.sleep_for(headers, NOW) == 0.0  # the first retry's backoff
    ignoring = after_503(respect_retry_after_header=False, backoff_factor=1)
    assert ignoring.sleep_for(headers, NOW) == 0.0
    assert failed(Retry(None), 1).sleep_for(headers, NOW) == 0.0  # after an error


def test_sleep_for_without_headers_or_history_is_the_backoff() -> None:
    assert Retry(backoff_factor=3).sleep_for(None, NOW) == 0.0
    retry = failed(Retry(None, backoff_factor=3, backoff_jitter=1), 2)
    assert retry.sleep_for(None, NOW, rand=lambda: 0.5) == 6.5


@pytest.mark.parametrize(
    ("now", "error"),
    [
        ("now", InvalidArgumentType),
        (None, InvalidArgumentType),
        (True, InvalidArgumentType),
        (math.nan, InvalidArgument),
        (math.inf, InvalidArgument),
    ],
)
def test_sleep_for_needs_a_real_now(now: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="now"):
        after_503().sleep_for([], now)


# -- properties -----------------------------------------------------------------------------

budgets = st.none() | st.integers(min_value=0, max_value=6)
seconds = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
outcomes = st.lists(st.sampled_from(["connect", "read", "status"]), max_size=25)
OUTCOME: dict[str, dict[str, Any]] = {
    "connect": {"error": ConnectError("refused")},
    "read": {"error": ReadTimeout("slow")},
    "status": {"response_status": 503},
}


@settings(max_examples=300, deadline=None)
@given(
    factor=seconds,
    cap=seconds,
    jitter=seconds,
    failures=st.integers(min_value=0, max_value=3000),
    draw=st.floats(min_value=0, max_value=1),
)
def test_backoff_is_between_zero_and_cap_plus_jitter(
    factor: float, cap: float, jitter: float, failures: int, draw: float
) -> None:
    history = (RetryRecord("GET", "status 503", 503),) * failures
    retry = Retry(None, backoff_factor=factor, backoff_max=cap, backoff_jitter=jitter,
                  history=history)
    delay = retry.get_backoff_time(lambda: draw)
    assert 0.0 <= delay <= cap + jitter
    assert not math.isnan(delay)
    if failures <= 1:
        assert delay == 0.0


@settings(max_examples=200, deadline=None)
@given(factor=seconds, cap=seconds, failures=st.integers(min_value=0, max_value=200))
def test_backoff_never_shrinks_as_failures_add_up(factor: float, cap: float, failures: int) -> None:
    def backoff(n: int) -> float:
        history = (RetryRecord("GET", "x", None),) * n
        retry = Retry(None, backoff_factor=factor, backoff_max=cap, history=history)
        return retry.get_backoff_time()

    assert backoff(failures) <= backoff(failures + 1)


@settings(max_examples=300, deadline=None)
@given(total=budgets, connect=budgets, read=budgets, status=budgets, sequence=outcomes)
def test_budgets_only_go_down_and_never_allow_more_than_they_say(
    total: int | None,
    connect: int | None,
    read: int | None,
    status: int | None,
    sequence: list[str],
) -> None:
    retry = Retry(total, connect=connect, read=read, status=status, status_forcelist=[503])
    model = {"total": total, "connect": connect, "read": read, "status": status}
    retried = 0
    for kind in sequence:
        before = retry
        model_after = dict(model)
        for name in ("total", kind):
            left_before = model_after[name]
            if left_before is not None:
                model_after[name] = left_before - 1
        runs_out = any(n is not None and n < 0 for n in model_after.values())
        try:
            retry = retry.increment("GET", **OUTCOME[kind])
        except RetryError:
            assert runs_out
            break
        assert not runs_out
        retried += 1
        model = model_after
        for name in ("total", "connect", "read", "status"):
            left, was = getattr(retry, name), getattr(before, name)
            assert (left is None) == (was is None)
            assert left is None or 0 <= left <= was
        assert retry.total is None or retry.total == before.total - 1  # type: ignore[operator]
        assert len(retry.history) == retried
    if total is not None:
        assert retried <= total
    for name, budget in (("connect", connect), ("read", read), ("status", status)):
        if budget is not None:
            assert sequence[:retried].count(name) <= budget


header_names = st.sampled_from(["Accept", "X-Idempotency", "Idempotency-Keys", "Cookie"])


@settings(max_examples=200, deadline=None)
@given(
    others=st.lists(st.tuples(header_names, st.text(max_size=5)), max_size=4),
    spelled=st.sampled_from(["Idempotency-Key", "idempotency-key", "IDEMPOTENCY-KEY"]),
    as_bytes=st.booleans(),
    where=st.integers(min_value=0, max_value=4),
    method=st.sampled_from(["POST", "PATCH", "LOCK"]),
)
def test_an_idempotency_key_anywhere_in_any_case_is_found(
    others: list[tuple[str, str]], spelled: str, as_bytes: bool, where: int, method: str
) -> None:
    retry = Retry()
    assert not retry.is_method_retryable(method, others)
    headers: list[Any] = list(others)
    headers.insert(where, (spelled.encode(), b"k") if as_bytes else (spelled, "k"))
    assert retry.is_method_retryable(method, headers)


@settings(max_examples=500, deadline=None)
@given(value=st.text(max_size=40) | st.from_regex(r"\A[A-Za-z]{3}, \d{1,2} [A-Za-z]{3} \d{1,5} "
                                                    r"\d\d:\d\d:\d\d [A-Z+\-\d]{1,5}\Z"),
       now=st.floats(min_value=-1e10, max_value=1e10))
def test_any_retry_after_value_gives_a_bounded_delay_or_none(value: str, now: float) -> None:
    retry = after_503(backoff_max=60)
    delay = retry.retry_after([("Retry-After", value)], now)
    assert delay is None or 0.0 <= delay <= 60.0
    assert 0.0 <= retry.sleep_for([("Retry-After", value)], now) <= 60.0


# -- the loop the pool is meant to run, over real loopback sockets --------------------------


def send_with_retry(
    pool: keepalive.ConnectionPool,
    method: str,
    url: str,
    retry: Retry,
    headers: list[tuple[str, str]] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Any, Retry]:
    """The loop of keepalive/retry.py's docstring (no body to rewind), bounded for a test."""
    for _ in range(10):
        try:
            response = pool.request(method, url, headers=headers)
        except KeepaliveError as exc:
            next_retry = retry.retry_error(method, exc, request_headers=headers)
            if next_retry is None:
                raise
            retry = next_retry
            sleep(retry.sleep_for(None, time.time()))
            continue
        next_retry = retry.retry_response(
            method, response.status_code, response.headers,
            request_headers=headers, response=response,
        )
        if next_retry is None:
            return response, retry
        delay = next_retry.sleep_for(response.headers, time.time())
        response.close()  # drain, so the next attempt can reuse the connection
        retry = next_retry
        sleep(delay)
    raise AssertionError("the retry loop did not end")


def test_loop_retries_503_with_retry_after_on_the_same_connection(
    no_fd_leak: None, make_server: Any
) -> None:
    lock = threading.Lock()
    count = [0]

    def app(request: ReceivedRequest, side: ServerSide) -> Reply:
        with lock:
            count[0] += 1
            n = count[0]
        if n <= 2:
            return Reply(503, [("Retry-After", "0")], b"busy")
        return Reply(200, [], b"ok")

    srv = make_server(app)
    slept: list[float] = []
    with keepalive.ConnectionPool(retries=0) as pool:
        response, retry = send_with_retry(pool, "GET", srv.url + "/", Retry(3), sleep=slept.append)
        assert response.status_code == 200 and response.read() == b"ok"
    assert slept == [0.0, 0.0]
    assert [record.status for record in retry.history] == [503, 503]
    assert len(srv.requests) == 3 and srv.connections == 1


def test_loop_gives_up_with_the_last_status_response(make_server: Any) -> None:
    srv = make_server(lambda request, side: Reply(500, [], b"broken"))
    policy = Retry(2, status_forcelist=[500])
    with keepalive.ConnectionPool(retries=0) as pool:
        with pytest.raises(RetryError) as info:
            send_with_retry(pool, "GET", srv.url + "/", policy, sleep=lambda s: None)
        last: Any = info.value.response  # the pool's RawResponse
        assert last.status_code == 500 and last.read() == b"broken"
    assert len(srv.requests) == 3


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_loop_retries_a_refused_connect_even_for_post(no_fd_leak: None) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/"
    slept: list[float] = []
    policy = Retry(5, connect=2, backoff_factor=0.1)
    with (
        keepalive.ConnectionPool(retries=0) as pool,
        pytest.raises(RetryError, match="no connect retry left") as info,
    ):
        send_with_retry(pool, "POST", url, policy, sleep=slept.append)
    assert isinstance(info.value.reason, ConnectError)
    assert slept == [0.0, 0.2]


def test_loop_never_resends_a_post_that_reached_the_server(make_server: Any) -> None:
    def app(request: ReceivedRequest, side: ServerSide) -> None:
        side.close()  # the request arrived; no response

    srv = make_server(app)
    with keepalive.ConnectionPool(retries=0) as pool:
        with pytest.raises(RemoteProtocolError) as info:
            send_with_retry(pool, "POST", srv.url + "/", Retry(5), sleep=lambda s: None)
        assert Retry.classify_error(info.value) == "read"
        with pytest.raises(RetryError, match="no read retry left"):
            send_with_retry(pool, "GET", srv.url + "/", Retry(5, read=1), sleep=lambda s: None)
    assert [r.method for r in srv.requests] == ["POST", "GET", "GET"]
