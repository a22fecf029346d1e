"""A top-up's timings are their own small value, not a stand-in TopUpPolicy."""

from __future__ import annotations

from inpaint_async.spend._policy import TopUpPolicy, TopUpTimings
from inpaint_async.spend._topup import DEFAULT_TIMINGS


def test_manual_top_ups_use_plain_timings_and_a_policy_hands_out_its_own() -> None:
    """DEFAULT_TIMINGS is a TopUpTimings; a policy's timings carry its values and deadline."""
    assert type(DEFAULT_TIMINGS) is TopUpTimings
    policy = TopUpPolicy(amount_usd=5, max_total_usd=10, settlement_timeout=7, request_timeout=3)
    timings = policy.timings
    assert (timings.settlement_timeout, timings.request_timeout) == (7, 3)
    assert timings.top_up_deadline == policy.top_up_deadline == 3 * 3 + 7
    assert DEFAULT_TIMINGS.top_up_deadline == TopUpPolicy(5, 5).top_up_deadline
