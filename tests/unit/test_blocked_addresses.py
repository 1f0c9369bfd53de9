"""BlockedAddresses: a refusal is held until the end of the window it named, for a bounded number of addresses."""

from __future__ import annotations

import pytest

from memo.application import blocked_addresses
from memo.application.blocked_addresses import BlockedAddresses
from memo.application.dto import RateLimitDecision

REFUSED = RateLimitDecision(allowed=False, limit=300, remaining=0, reset_after_s=60)


def test_a_refusal_is_held_with_its_wait_counted_down_then_dropped() -> None:
    blocked = BlockedAddresses()
    blocked.remember("10.0.0.1", REFUSED, now_s=1000.0)

    assert blocked.refusal("10.0.0.1", now_s=1000.0) == REFUSED
    held = blocked.refusal("10.0.0.1", now_s=1059.2)
    assert held is not None
    assert held.reset_after_s == 1
    assert blocked.refusal("10.0.0.1", now_s=1060.0) is None
    assert len(blocked) == 0
    assert blocked.refusal("10.0.0.2", now_s=1000.0) is None


def test_past_its_bound_the_oldest_refusal_goes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocked_addresses, "CAPACITY", 2)
    blocked = BlockedAddresses()
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3"):  # .1 refused again: newer than .2 now
        blocked.remember(address, REFUSED, now_s=1000.0)

    assert len(blocked) == 2
    assert blocked.refusal("10.0.0.2", now_s=1000.0) is None
    assert blocked.refusal("10.0.0.1", now_s=1000.0) is not None
