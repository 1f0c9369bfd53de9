"""Hypothesis budgets for the fuzz suites: bounded and reproducible in CI, deeper on demand.

`MEMO_FUZZ_PROFILE=deep ./run test tests/fuzz` runs many more random examples locally; CI runs `ci`, derandomized
so a failure found there is found again on every run and machine. The app-level suites share one app across a
test's examples (the e2e fixtures, re-exported here), so the function-scoped fixture check is off.
"""

from __future__ import annotations

import os

import hypothesis

from tests.e2e.conftest import alice, clock, settings, world

__all__ = ["alice", "clock", "settings", "world"]

_QUIET = [hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.function_scoped_fixture]
hypothesis.settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True, print_blob=True,
                                     suppress_health_check=_QUIET)
hypothesis.settings.register_profile("deep", max_examples=5000, deadline=None, print_blob=True,
                                     suppress_health_check=_QUIET)
hypothesis.settings.load_profile(os.environ.get("MEMO_FUZZ_PROFILE", "ci"))
