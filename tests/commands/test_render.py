"""Output formats: AWS-CLI-shaped json (bytes base64), yaml, the AWS CLI's text form, tables, --query."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
import yaml

from kmstui.commands.registry import Result, TableHint
from kmstui.commands.render import choose_format, format_text, render
from kmstui.errors import UsageError

BLOB = b"\x00\x01kmstui\xff"
DATA = {
    "CiphertextBlob": BLOB,
    "KeyId": "arn:aws:kms:us-east-1:111122223333:key/k1",
    "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
}
KEYS = {"Keys": [
    {"KeyId": "k1", "Aliases": ["alias/app", "alias/web"], "KeyState": "Enabled", "Enabled": True,
     "CreationDate": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "Description": "payments"},
    {"KeyId": "k2", "Aliases": [], "KeyState": "Disabled", "Enabled": False,
     "CreationDate": dt.datetime(2026, 2, 3, tzinfo=dt.timezone.utc), "Description": "evil\x1b[31mred"},
]}


def test_json_is_aws_shaped_with_base64_bytes_and_indent_4():
    out = render(Result(data=DATA), "json")
    assert json.loads(out)["CiphertextBlob"] == base64.b64encode(BLOB).decode()
    assert out.startswith('{\n    "CiphertextBlob": ')
    assert json.loads(render(Result(data=KEYS), "json"))["Keys"][0]["CreationDate"] == "2026-01-02T03:04:05+00:00"


def test_yaml():
    doc = yaml.safe_load(render(Result(data=DATA), "yaml"))
    assert base64.b64decode(doc["CiphertextBlob"]) == BLOB
    assert list(doc) == ["CiphertextBlob", "KeyId", "EncryptionAlgorithm"]  # order kept


def test_text_follows_the_aws_cli():
    # awscli/text.py: scalars of a dict on one line (sorted keys), lists of records under an upper-case name
    assert format_text({"B": 2, "A": 1}) == "1\t2\n"
    assert format_text({"Keys": [{"KeyId": "k1", "KeyArn": "a1"}, {"KeyId": "k2", "KeyArn": "a2"}]}) == \
        "KEYS\ta1\tk1\nKEYS\ta2\tk2\n"
    assert format_text({"Aliases": ["alias/a", "alias/b"]}) == "ALIASES\talias/a\nALIASES\talias/b\n"
    assert format_text(["a", "b"]) == "a\tb\n"
    assert format_text("just text") == "just text\n"


def test_text_prefers_the_commands_own_text_unless_queried():
    result = Result(data={"Plaintext": b"hi"}, text="custom")
    assert render(result, "text") == "custom\n"
    assert render(result, "text", query="Plaintext") == base64.b64encode(b"hi").decode() + "\n"


def test_table_with_hint_and_untrusted_control_characters():
    hint = TableHint("Keys", [("Alias", "Aliases"), ("KeyId", "KeyId"), ("State", "KeyState"),
                              ("Description", "Description")])
    out = render(Result(data=KEYS, table=hint), "table")
    lines = out.splitlines()
    assert lines[0].split() == ["Alias", "KeyId", "State", "Description"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert "alias/app, alias/web" in lines[2] and "Enabled" in lines[2]
    assert "\x1b" not in out and "evil\\x1b[31mred" in out  # the escape shown, not obeyed
    assert lines[2].index("k1") == lines[3].index("k2")  # aligned


def test_table_without_hint_falls_back_to_fields():
    out = render(Result(data={"KeyMetadata": {"KeyId": "k1", "Enabled": True}}), "table")
    assert out.splitlines()[0].split() == ["Field", "Value"]
    assert "KeyMetadata.KeyId" in out and "True" in out


def test_table_colour_only_when_asked():
    assert "\x1b[1m" in render(Result(data=KEYS), "table", color=True)
    assert "\x1b" not in render(Result(data=KEYS), "table", color=False)


def test_query_applies_before_rendering():
    assert json.loads(render(Result(data=KEYS), "json", query="Keys[?Enabled].KeyId")) == ["k1"]
    assert render(Result(data=KEYS), "text", query="Keys[].KeyId") == "k1\tk2\n"
    assert json.loads(render(Result(data=DATA), "json", query="CiphertextBlob")) == base64.b64encode(BLOB).decode()
    with pytest.raises(UsageError, match="--query") as bad:
        render(Result(data=KEYS), "json", query="Keys[")
    # Regression: the message ended in "Incomplete expression:" and never said which expression.
    assert "'Keys['" in str(bad.value) and "Incomplete expression" in str(bad.value)
    assert not str(bad.value).rstrip(")").endswith(":")


def test_text_only_results_print_as_text_in_every_format():
    for fmt in ("json", "yaml", "table", "text"):
        assert render(Result(text="usage: x"), fmt) == "usage: x\n"
    assert render(Result(), "json") == ""


def test_format_choice(monkeypatch):
    monkeypatch.delenv("KMSTUI_OUTPUT", raising=False)
    assert choose_format(None, None, True) == "table"
    assert choose_format(None, None, False) == "json"
    assert choose_format(None, "yaml", False) == "yaml"
    monkeypatch.setenv("KMSTUI_OUTPUT", "text")
    assert choose_format(None, "yaml", False) == "text"
    assert choose_format("json", "yaml", False) == "json"
    with pytest.raises(UsageError):
        choose_format("xml", None, False)


def test_cli_output_formats_and_query_end_to_end(run_kmstui):
    as_json = json.loads(run_kmstui("config", "locate", "--output", "json").out)
    as_yaml = yaml.safe_load(run_kmstui("config", "locate", "--output", "yaml").out)
    assert as_json == as_yaml
    assert run_kmstui("config", "locate", "--output", "text").out.strip() == as_json["ConfigFile"]
    # No table hint but a human rendering: a table shows the command's own text, not a generic grid.
    table = run_kmstui("config", "locate", "--output", "table").out
    assert table.strip() == as_json["ConfigFile"]
    q = run_kmstui("config", "locate", "--query", "DataDir", "--output", "text")
    assert q.out.strip() == as_json["DataDir"]
