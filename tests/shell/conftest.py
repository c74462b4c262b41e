"""Shared REPL fixtures: prompt_toolkit reading keys from a pipe, writing nowhere."""

from __future__ import annotations

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput


@pytest.fixture
def pipe():
    """The keys a test sends to the shell (`pipe.send_text(...)`), inside an app session with no real output."""
    with create_pipe_input() as inp:
        with create_app_session(input=inp, output=DummyOutput()):
            yield inp
