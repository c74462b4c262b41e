"""Handlers named by "package.module:function": registered without importing their module, imported on
first run, and a malformed name refused at registration."""

from __future__ import annotations

import argparse
import sys

import pytest

from kmstui.commands.registry import Arg, Command, CommandRegistry, LazyHandler, Result

HANDLER_MODULE = "lazy_handler_fixture_mod"


@pytest.fixture
def handler_module(tmp_path, monkeypatch):
    (tmp_path / f"{HANDLER_MODULE}.py").write_text(
        "from kmstui.commands.registry import Result\n\n"
        "def cmd_echo(session, args):\n"
        "    return Result(data={'Said': args.words})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, HANDLER_MODULE, raising=False)
    yield HANDLER_MODULE
    sys.modules.pop(HANDLER_MODULE, None)


def test_string_handler_is_imported_only_when_the_command_runs(handler_module):
    registry = CommandRegistry()
    command = registry.command("say", "say words", [Arg("words", nargs="+")],
                               handler=f"{handler_module}:cmd_echo", needs_backend=False)
    assert isinstance(command, Command) and registry.get(("say",)) is command
    cmd, args = registry.parse(["say", "hello", "there"])
    assert handler_module not in sys.modules  # parsing needs only the specs
    result = cmd.handler(None, args)
    assert handler_module in sys.modules
    assert result.data == {"Said": ["hello", "there"]}


def test_a_string_handler_runs_through_the_session(session, handler_module):
    session.registry.command("say", "say words", [Arg("words", nargs="+")], handler=f"{handler_module}:cmd_echo",
                             needs_backend=False)
    assert session.execute(["say", "hi"]).data == {"Said": ["hi"]}


def test_the_decorator_form_still_takes_a_callable():
    registry = CommandRegistry()

    @registry.command("ping", "ping")
    def ping(session, args):
        return Result(data="pong")

    assert registry.get(("ping",)).handler is ping


@pytest.mark.parametrize("target", ["no_colon", ":fn", "module:", ""])
def test_a_malformed_handler_name_is_refused_at_registration(target):
    with pytest.raises(ValueError, match="package.module:function"):
        CommandRegistry().command("bad", "bad", handler=target)


def test_a_missing_function_fails_when_the_command_runs(handler_module):
    handler = LazyHandler(f"{handler_module}:no_such_function")
    with pytest.raises(AttributeError):
        handler(None, argparse.Namespace())
