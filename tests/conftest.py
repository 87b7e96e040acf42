"""Test-wide settings."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# No per-example deadline: CI machines are shared and timing is not what these
# properties test. Example counts are set per test where a figure is promised.
settings.register_profile("syncwire", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("syncwire")
