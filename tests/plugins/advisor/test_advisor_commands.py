"""The advise commands through the session (as every face calls them) and through the real entry point;
the sample answer files against their expected recommendations; the interactive path."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from kmstui.errors import UsageError
from kmstui.session import Session

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "samples" / "advisor"
EXPECTED = tomllib.loads((SAMPLES / "expected.toml").read_text(encoding="utf-8"))
OPTION_KEYS = {"Name", "Viable", "Reasons", "Warnings", "MonthlyCostUSD", "CostBreakdown"}


@pytest.fixture(scope="module")
def session():
    s = Session()
    yield s
    s.close()


def test_every_sample_has_an_expectation_and_vice_versa():
    assert {p.name for p in SAMPLES.glob("*.toml")} - {"expected.toml"} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_gives_expected_recommendation(session, name):
    result = session.execute(["advise", "--answers", str(SAMPLES / name)])
    data, want = result.data, EXPECTED[name]
    assert data["Recommendation"] == want["recommendation"]
    assert data["Recommended"] == want["recommended"]
    assert set(data) == {"Recommendation", "Recommended", "Options", "FactsAsOf"}
    assert len(data["Options"]) == 7 and all(set(o) == OPTION_KEYS for o in data["Options"])
    for opt in data["Options"]:
        if opt["Name"] in data["Recommended"]:
            assert opt["Viable"] and opt["Reasons"]
    from kmstui_advisor import advise
    from kmstui_advisor.answers import load_answers
    assert set(want["fired"]) <= set(advise(load_answers(SAMPLES / name)).fired)


def test_text_output_explains_reasons_and_cost_formulas(session):
    result = session.execute(["advise", "--answers", str(SAMPLES / "regulated-single-tenant-s3.toml")])
    text = result.text
    assert text.startswith("Recommendation: KMS CloudHSM key store")
    assert "R6: Keeps the S3/EBS/RDS integrations" in text
    assert "clusters x hsms x hsm_hour_price x hsm_hours = $3,504.00" in text
    assert "hsms=3" in text and "hsm_hour_price=1.6" in text
    assert "Not viable:" in text and "multi-tenant" in text
    assert result.message.startswith("Recommendation: KMS CloudHSM key store")


def test_no_terminal_and_no_answers_is_a_usage_error(session):
    with pytest.raises(UsageError, match="pass --answers FILE.toml"):
        session.execute(["advise"])


def test_malformed_answer_file_names_question(session, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('consumers = ["aws_services", "pkcs11"]\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"answer Q4 \(consumers\): 'pkcs11' is not an allowed answer; allowed: a list of"):
        session.execute(["advise", "--answers", str(bad)])


def test_report_and_saved_answers(session, tmp_path):
    report, saved = tmp_path / "decision.md", tmp_path / "answers.toml"
    sample = str(SAMPLES / "bank-pkcs11-tls.toml")
    session.execute(["advise", "--answers", sample, "--report", str(report), "--save-answers", str(saved)])
    md = report.read_text(encoding="utf-8")
    assert md.startswith("# Key management decision")
    assert "**Recommendation: CloudHSM direct**" in md and "Also recommended (mixed answer): KMS standard" in md
    assert "| CloudHSM direct | yes | yes | $3,482.10 |" in md
    assert "## Sources" in md and "[S19]" in md and "## Facts used" in md and "possibly stale" in md
    again = session.execute(["advise", "--answers", str(saved)])
    assert again.data == session.execute(["advise", "--answers", sample]).data
    with pytest.raises(UsageError, match="exists; pass --force"):
        session.execute(["advise", "--answers", sample, "--report", str(report)])
    session.execute(["advise", "--answers", sample, "--report", str(report), "--force"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.toml", "decision.md"]  # no temp files left


def test_report_never_replaces_a_device_or_named_pipe(session, tmp_path):
    """A named pipe stands in for /dev/null, which a rename with --force would have replaced (as root)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sample = str(SAMPLES / "bank-pkcs11-tls.toml")
    with pytest.raises(UsageError, match=r"--report .*fifo is a named pipe, not a regular file: .*give a regular"):
        session.execute(["advise", "--answers", sample, "--report", str(fifo), "--force"])
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_questions_command(session):
    data = session.execute(["advise", "questions"]).data
    assert [q["Id"] for q in data["Questions"]] == [f"Q{i}" for i in range(1, 19)]
    q4 = data["Questions"][3]
    assert q4["Name"] == "consumers" and "std_crypto_api" in q4["Allowed"] and q4["Default"] == ["aws_services"]


def test_facts_command_flags_stale(session, tmp_path):
    today = dt.date.today()
    facts = tmp_path / "facts.toml"
    facts.write_text(
        f'[[fact]]\nid = "fresh"\ntitle = "t"\nvalue = 1\nseen = {today.isoformat()}\nsource = ["S1"]\n'
        f'[[fact]]\nid = "old"\ntitle = "t"\nvalue = 2\nseen = {(today - dt.timedelta(days=366)).isoformat()}\n'
        'source = ["S1"]\n[sources]\nS1 = "x"\n', encoding="utf-8")
    result = session.execute(["advise", "facts", "--facts", str(facts)])
    rows = {r["Id"]: r for r in result.data["Facts"]}
    assert rows["old"]["PossiblyStale"] and not rows["fresh"]["PossiblyStale"]
    assert "possibly stale" in result.text and result.message == "1 fact(s) possibly stale"
    shipped = session.execute(["advise", "facts"]).data
    assert {"Id", "Title", "Value", "Seen", "Status", "Sources"} <= set(shipped["Facts"][0])


def test_commands_never_open_a_backend(session):
    for name in ("advise", "advise facts", "advise questions"):
        assert session.registry.get(name.split()).needs_backend is False


def test_interactive_questions_with_pipe_input():
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from kmstui_advisor import advise
    from kmstui_advisor.interactive import ask_answers, toolkit_prompt

    said: list[str] = []
    # Q1 bad then good, Q2 default, Q3 help then default, Q4 two consumers, Enter for the rest.
    lines = ["level9", "fips140_level3", "", "?", "", "aws_services std_crypto_api"] + [""] * 60
    with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
        inp.send_text("".join(line + "\r" for line in lines))
        answers = ask_answers(toolkit_prompt(), said.append)
    assert answers["Q1"] == "fips140_level3" and answers["Q2"] == "no"
    assert answers["Q4"] == ["aws_services", "std_crypto_api"]
    assert any("'level9' is not an allowed answer" in s for s in said)
    assert any("bring your own key" in s for s in said)  # Q3 help
    assert advise(answers).name(advise(answers).primary) == "CloudHSM direct"


CLI = REPO / "kmstui" / "cli.py"


@pytest.mark.skipif(not CLI.exists(), reason="kmstui/cli.py not written yet; in-process tests cover the command")
@pytest.mark.parametrize("name", ["startup-s3-rds.toml", "bank-pkcs11-tls.toml", "payments-processor.toml"])
def test_entry_point_json(name):
    proc = subprocess.run([sys.executable, "-m", "kmstui", "advise", "--answers", str(SAMPLES / name), "--output", "json"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["Recommendation"] == EXPECTED[name]["recommendation"]
    assert data["Recommended"] == EXPECTED[name]["recommended"]


@pytest.mark.skipif(not CLI.exists(), reason="kmstui/cli.py not written yet")
def test_entry_point_usage_errors(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kmstui", "advise"], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, cwd=REPO)
    assert proc.returncode == 252 and "pass --answers FILE.toml" in proc.stderr and "Traceback" not in proc.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('environment = "prod"\n', encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "kmstui", "advise", "--answers", str(bad)], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=REPO)
    assert proc.returncode == 252 and "answer Q18 (environment): 'prod' is not an allowed answer" in proc.stderr
    assert proc.stdout == ""


def test_output_paths_checked_before_anything_is_written(session, tmp_path):
    """Regression: --report naming a folder with --force ended in an internal IsADirectoryError (exit 255), and
    a bad --report path was found only after --save-answers had written its file."""
    sample = str(SAMPLES / "startup-s3-rds.toml")
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(UsageError, match="is a folder"):
        session.execute(["advise", "--answers", sample, "--report", str(folder), "--force"])
    saved = tmp_path / "answers.toml"
    with pytest.raises(UsageError, match="does not exist"):
        session.execute(["advise", "--answers", sample, "--save-answers", str(saved),
                         "--report", str(tmp_path / "missing" / "r.md")])
    assert not saved.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_interactive_help_and_complaints_go_to_stderr(capsys):
    """Regression: question help and complaints were printed on stdout, into `advise --output json > file`."""
    from kmstui_advisor.interactive import ask_answers

    replies = iter(["?", ""] + [""] * 60)
    ask_answers(lambda message, completions, default: next(replies))
    captured = capsys.readouterr()
    assert captured.out == "" and "FIPS" in captured.err


def test_advise_table_prints_prices_with_two_decimals(run_kmstui):
    table = run_kmstui("advise", "--answers", "samples/advisor/china-sm2.toml", "--output", "table").out
    import re

    prices = re.findall(r"\s(\d[\d,]*\.\d+)\s*$", table, re.M)
    assert prices and all(re.fullmatch(r"[\d,]+\.\d\d", p) for p in prices), prices
    assert "1.00" in prices and "2,336.00" in prices
