"""The command registry's parsing of a line of words, without a backend."""

from __future__ import annotations

import pytest

from kmstui.commands.registry import Arg, CommandRegistry
from kmstui.errors import UsageError


@pytest.fixture
def registry() -> CommandRegistry:
    reg = CommandRegistry()
    reg.command("pair", "two words, each also a flag", [
        Arg("first", "first", aliases=("--first-name",), metavar="A"),
        Arg("second", "second", aliases=("--second-name",), metavar="B"),
        Arg("--other", "a plain flag"),
    ])(lambda session, args: None)
    reg.command("one", "one word, also a flag", [Arg("only", "only", aliases=("--only",), metavar="X")])(
        lambda session, args: None)
    return reg


@pytest.mark.parametrize("words", [
    ["a", "b"], ["--first-name", "a", "b"], ["a", "--second-name", "b"], ["--second-name", "b", "a"],
    ["--first-name", "a", "--second-name", "b"], ["--other", "o", "--first-name", "a", "b"],
])
def test_bare_words_fill_the_arguments_not_given_as_flags(registry, words):
    _cmd, args = registry.parse(["pair", *words])
    assert (args.first, args.second) == ("a", "b")
    assert not any(name.startswith("_flag_") for name in vars(args))


@pytest.mark.parametrize("words, message", [
    (["a"], "B is required"), ([], "A is required"), (["a", "b", "--first-name", "c"], "once"),
])
def test_a_missing_or_doubled_argument_is_a_usage_error(registry, words, message):
    with pytest.raises(UsageError, match=message):
        registry.parse(["pair", *words])


def test_a_single_word_given_twice_names_its_flag(registry):
    with pytest.raises(UsageError, match="give X once, either as an argument or as --only"):
        registry.parse(["one", "x", "--only", "y"])
    assert registry.parse(["one", "--only", "y"])[1].only == "y"


def test_arg_replace_copies_a_shared_argument_with_changes():
    """Plugins reuse the core's argument specs with one change (`GRANTEE.replace(required=True)`): the copy
    keeps every other setting, the original is untouched, and a misspelt setting is refused."""
    base = Arg("--grantee", "who", aliases=("--grantee-principal",), complete="principal", metavar="ARN")
    copy = base.replace(required=True)
    assert copy.required and not base.required
    assert (copy.name, copy.help, copy.aliases, copy.complete, copy.metavar) == \
        ("--grantee", "who", ("--grantee-principal",), "principal", "ARN")
    with pytest.raises(TypeError):
        base.replace(requierd=True)
