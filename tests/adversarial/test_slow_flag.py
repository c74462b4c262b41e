"""The `--slow` switch that the adversarial campaigns rely on: short in CI, long on request."""

import pytest


def test_slow_mode_is_off_without_the_flag(request, slow_mode):
    assert slow_mode is bool(request.config.getoption("--slow"))


@pytest.mark.slow
def test_slow_tests_run_only_with_the_flag(request):
    assert request.config.getoption("--slow"), "a slow-marked test ran without --slow"
