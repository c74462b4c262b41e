"""Splitting lines into commands and spotting lines that carry secrets."""

from __future__ import annotations

import pytest

from kmstui.errors import UsageError
from kmstui.lines import has_secret, script_lines, split_commands
from kmstui.session import Session


def test_semicolons_comments_and_quotes():
    assert split_commands("key list; alias list  # all of them") == [["key", "list"], ["alias", "list"]]
    assert split_commands("key create --description 'a; b # c'") == [["key", "create", "--description", "a; b # c"]]
    assert split_commands(";; version;;") == [["version"]]
    assert split_commands("   # only a comment") == []


def test_unclosed_quote_is_a_usage_error():
    with pytest.raises(UsageError, match="no closing quotation"):
        split_commands("help 'key")


def test_script_lines_keep_line_numbers_and_continuations():
    text = "# header\nversion\n\nkey create \\\n  --description x; key list\nhelp 'oops\n"
    lines = list(script_lines(text))
    assert [(line.words, line.lineno) for line in lines[:3]] == [
        (["version"], 2), (["key", "create", "--description", "x"], 4), (["key", "list"], 4)]
    assert lines[3].lineno == 6 and lines[3].error and not lines[3].words


@pytest.mark.parametrize("line", [
    "encrypt --key-id alias/a --plaintext hello",
    "encrypt --key-id alias/a --plaintext=hello",
    "hsm unseal --passphrase hunter22",
    "connect --pin 1234",
    "whatever --so-pin 1234",
    "note password=abc",
    "random --out - QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaDEyMzQ1Njc4OTA=",
    # issue 11 item 11: every secret-bearing line, whatever the command
    "mac generate --key-id alias/mac --message 'wire 5000 to acct 12'",
    "mac verify --key-id alias/mac --message=hello --mac AAAA",
    "sign --key-id alias/s --message release-notes",
    "verify --key-id alias/s --message m --signature AAAA",
    "key list  # the prod passphrase is hunter22",
    "# hunter22",
    "key list; alias list # note to self",
    "decrypt --in f --grant-token AQpAM2RhZTk1MGE3",
    "grant retire --grant-token tok",
    "mac generat --message typo-in-the-command",
    "encrypt --key-id k --plaintext 'unclosed",
    "note api_key: abc",
    "import --raw-material 00112233445566778899aabbccddeeff",
    "envelope encrypt f --key-material 1",
    "set token=abc",
])
def test_secret_lines(line):
    assert has_secret(line, Session().registry)


@pytest.mark.parametrize("line", [
    "key list --output json",
    "key describe 1234abcd-12ab-34cd-56ef-1234567890ab",
    "encrypt --key-id arn:aws:kms:us-east-1:111122223333:alias/app-production-keys --in f",
    "key create --description 'payments service key'",
    "decrypt --in ciphertext.bin --context purpose=test",
    "key create --description 'issue #12 fix'",  # a '#' inside quotes is not a comment
    "key describe 1234abcd-12ab-34cd-56ef-1234567890ab; key list",
])
def test_ordinary_lines(line):
    assert not has_secret(line, Session().registry)
