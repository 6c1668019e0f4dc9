import pytest

from chalicelib.domain.rate_limit import (
    ADD_FUNDS,
    DEFAULT_LIMITS,
    SEND_STATEMENT,
    Limit,
    RateLimitConfigError,
    Window,
    counter_key,
    parse_limits,
    window_at,
)


def test_windows_are_aligned_to_the_epoch_and_half_open():
    limit = Limit(ADD_FUNDS, 3, 3600)
    assert window_at(limit, 7200.0) == Window(7200, 10800)
    assert window_at(limit, 10799.999) == Window(7200, 10800)
    assert window_at(limit, 10800.0) == Window(10800, 14400)


def test_retry_after_is_whole_seconds_until_the_window_ends_and_never_zero():
    window = Window(0, 60)
    assert window.retry_after(0.0) == 60
    assert window.retry_after(59.2) == 1
    assert window.retry_after(59.999) == 1
    assert window.retry_after(60.0) == 1


def test_counters_are_per_action_account_and_window():
    limit = Limit(ADD_FUNDS, 3, 60)
    assert counter_key(limit, "acct_1", Window(120, 180)) == "add_funds#acct_1#120"
    assert counter_key(Limit(SEND_STATEMENT, 3, 60), "acct_1", Window(120, 180)) != counter_key(
        limit, "acct_1", Window(120, 180)
    )


def test_defaults_cover_the_costly_actions():
    limits = parse_limits(None)
    assert limits == dict(DEFAULT_LIMITS)
    assert limits[ADD_FUNDS].enabled and limits[SEND_STATEMENT].enabled


def test_overrides_and_switching_off():
    limits = parse_limits(" add_funds=2/60 , send_statement=0/3600,custom=5/10 ")
    assert limits[ADD_FUNDS] == Limit(ADD_FUNDS, 2, 60)
    assert not limits[SEND_STATEMENT].enabled
    assert limits["custom"] == Limit("custom", 5, 10)


@pytest.mark.parametrize("text", ["add_funds", "add_funds=2", "add_funds=x/60", "=2/60", "add_funds=2/0", "a=-1/60"])
def test_malformed_limits_are_refused(text):
    with pytest.raises(RateLimitConfigError):
        parse_limits(text)
