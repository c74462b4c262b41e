"""Answer files: every accepted shape, defaults for unanswered questions, and a clear error for every
malformed answer, naming the question and what it allows."""

from __future__ import annotations

import tomllib

import pytest

from kmstui.errors import UsageError
from kmstui_advisor.answers import dump_answers, load_answers
from kmstui_advisor.questions import defaults, normalize, questions


def test_eighteen_questions_with_ids_and_names():
    qs = questions()
    assert [q.id for q in qs] == [f"Q{i}" for i in range(1, 19)]
    assert len({q.name for q in qs}) == 18


def test_defaults_fill_unanswered_questions():
    a = normalize({})
    assert a == defaults()
    assert a["Q1"] == "none" and a["Q4"] == ["aws_services"] and a["Q5"] == []
    assert a["Q14"] == {"region": "us-east-1", "hsm_hour_price": 0.0, "hsm_hours": 730,
                        "external_key_manager_monthly_usd": 0.0}


def test_ids_names_and_shapes():
    a = normalize({"fips_level": "fips140_level3", "q2": True, "Q4": "std_crypto_api", "use_cases": ["none", "db_tde"],
                   "peak_rps": {"rsa": 10.0}, "pricing": {"hsm_hour_price": 2}})
    assert a["Q1"] == "fips140_level3" and a["Q2"] == "yes" and a["Q4"] == ["std_crypto_api"]
    assert a["Q5"] == ["db_tde"]
    assert a["Q11"] == {"symmetric": 0, "symmetric_generate_data_key": 0, "rsa": 10, "ecc": 0}
    assert a["Q14"]["hsm_hour_price"] == 2.0 and isinstance(a["Q14"]["hsm_hour_price"], float)
    assert normalize(a) == a  # idempotent


@pytest.mark.parametrize("answers, needle", [
    ({"Q1": "level3"}, "answer Q1 (fips_level): 'level3' is not an allowed answer; allowed: one of: none, fips140_level2"),
    ({"Q3": 3}, "answer Q3 (key_material_holder): 3 is not an allowed answer"),
    ({"consumers": ["aws_services", "pkcs11"]}, "answer Q4 (consumers): 'pkcs11' is not an allowed answer; allowed: a list of:"),
    ({"Q6": {"aes": True}}, "answer Q6 (algorithms): {'aes': True} is not a list"),
    ({"Q11": 5}, "answer Q11 (peak_rps): 5 is not a table; allowed: a table with symmetric (int, >=0)"),
    ({"Q12": {"symetric": 5}}, "answer Q12 (monthly_requests): unknown part 'symetric'"),
    ({"Q13": {"keys": -1}}, "answer Q13 (keys): keys = -1 is out of range"),
    ({"Q13": {"keys": 1.5}}, "keys = 1.5 is not a whole number"),
    ({"Q13": {"keys": "ten"}}, "keys = 'ten' is not a number"),
    ({"Q14": {"hsm_hours": 800}}, "hsm_hours = 800 is out of range"),
    ({"Q14": {"region": ""}}, "region = '' is not a non-empty string"),
    ({"Q18": True}, "answer Q18 (environment): True is not an allowed answer; allowed: one of: production,"),
    ({"Q19": "x"}, "unknown question 'Q19' in answers; known: Q1/fips_level"),
    ({"Q1": "none", "fips_level": "none"}, "answer Q1 (fips_level) is given twice"),
])
def test_malformed_answers_name_question_and_allowed(answers, needle):
    with pytest.raises(UsageError) as err:
        normalize(answers)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_answer_file_errors(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        load_answers(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("Q1 = \n", encoding="utf-8")
    with pytest.raises(UsageError, match="is not valid TOML"):
        load_answers(bad)


def test_dump_round_trips_with_readable_names():
    text = dump_answers({"Q4": ["aws_services", "std_crypto_api"], "Q13": {"keys": 7}})
    data = tomllib.loads(text)
    assert data["consumers"] == ["aws_services", "std_crypto_api"] and data["keys"]["keys"] == 7
    assert set(data) == {q.name for q in questions()}
    assert normalize(data) == normalize({"Q4": ["aws_services", "std_crypto_api"], "Q13": {"keys": 7}})


def test_answer_file_that_is_a_folder_or_not_text(tmp_path):
    with pytest.raises(UsageError, match="is a folder"):
        load_answers(tmp_path)
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(UsageError, match="not UTF-8 text"):
        load_answers(binary)


def test_answer_file_name_with_a_nul_is_a_usage_error():
    with pytest.raises(UsageError, match="--answers: a file name cannot contain a NUL character"):
        load_answers("answers\x00.toml")
