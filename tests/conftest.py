"""Shared fixtures; the helpers behind them live in tests/support/servers.py.

Hypothesis profiles: ``dev`` (the default) draws new random examples on every
run, which is how new counterexamples are found while developing; ``ci``
(``CI=true``) runs more examples but derandomized, so a CI run is
reproducible and a commit that passed once cannot turn red on its own.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")
