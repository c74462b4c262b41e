"""Every rule (R1-R10) fires on answers that should fire it and stays quiet otherwise; the condition
language and the option viability behave as rules.toml documents."""

from __future__ import annotations

import pytest

from kmstui_advisor import advise
from kmstui_advisor.questions import normalize
from kmstui_advisor.rules import holds

# rule id -> (answers that fire it, answers that do not, expected primary name when it fires or None)
CASES = {
    "R1": ({"Q5": ["payment_pin_emv"]}, {"Q5": ["tls_offload"]}, "AWS Payment Cryptography"),
    "R2": ({"Q5": ["eidas_qes_qseal"]}, {"Q5": []}, "No AWS option qualifies"),
    "R3": ({"Q3": "outside_aws"}, {"Q3": "we_generate_and_can_delete"}, "KMS external key store (XKS)"),
    "R4": ({"Q4": ["std_crypto_api"]}, {"Q4": ["aws_services", "own_apps_aws_sdk"]}, "CloudHSM direct"),
    "R5": ({"Q4": ["std_crypto_api"], "Q6": ["ed25519"], "Q1": "fips140_level3"},
           {"Q4": ["std_crypto_api"], "Q6": ["ed25519"], "Q1": "none"}, "CloudHSM direct"),
    "R6": ({"Q2": "yes", "Q4": ["aws_services"]}, {"Q2": "yes", "Q4": ["std_crypto_api"]}, "KMS CloudHSM key store"),
    "R7": ({"Q2": "yes", "Q4": ["std_crypto_api"]}, {"Q2": "yes", "Q4": ["aws_services"]}, "CloudHSM direct"),
    "R8": ({"Q3": "we_generate_and_can_delete"}, {"Q3": "aws_generated_ok"}, "KMS imported key material"),
    "R9": ({"Q1": "fips140_3_level3"}, {"Q1": "fips140_level2"}, "KMS standard"),
    "R10": ({}, {"Q1": "fips140_level3"}, "KMS standard"),
}


@pytest.mark.parametrize("rule", sorted(CASES, key=lambda r: int(r[1:])))
def test_rule_fires_and_decides(rule):
    fire, _quiet, primary = CASES[rule]
    advice = advise(fire)
    assert rule in advice.fired
    assert advice.name(advice.primary) == primary


@pytest.mark.parametrize("rule", sorted(CASES, key=lambda r: int(r[1:])))
def test_rule_stays_quiet(rule):
    _fire, quiet, _primary = CASES[rule]
    assert rule not in advise(quiet).fired


def test_r4_std_api_variants_all_fire():
    for answers in ({"Q5": ["tls_offload"]}, {"Q5": ["db_tde"]}, {"Q5": ["windows_ca_or_signtool"]},
                    {"Q7": "wrapped_export"}, {"Q7": "plaintext_export"}, {"Q6": ["3des_or_raw_mechanisms"]},
                    {"Q9": "yes"}):
        assert "R4" in advise(answers).fired, answers


def test_r4_adds_kms_standard_for_aws_service_keys_only_when_present():
    mixed = advise({"Q4": ["aws_services", "std_crypto_api"], "Q5": ["tls_offload"]})
    assert [mixed.name(o) for o in mixed.recommended] == ["CloudHSM direct", "KMS standard"]
    only_apps = advise({"Q4": ["std_crypto_api"]})
    assert only_apps.recommended == ["cloudhsm_direct"]


def test_r4_with_single_tenancy_adds_key_store_not_kms_standard():
    advice = advise({"Q2": "yes", "Q4": ["aws_services", "std_crypto_api"]})
    assert advice.recommended == ["cloudhsm_direct", "kms_cloudhsm_ks"]


def test_r5_warning_lands_on_cloudhsm_direct():
    advice = advise(CASES["R5"][0])
    assert any(w.startswith("R5:") and "non-FIPS" in w for w in advice.options["cloudhsm_direct"].warnings)


def test_terminal_rule_stops_later_recommendations_but_keeps_their_reasons():
    advice = advise({"Q3": "we_generate_and_can_delete", "Q1": "fips140_level3"})
    assert advice.recommended == ["kms_imported"]
    assert advice.fired[:2] == ["R8", "R9"]
    assert not advice.options["kms_standard"].viable  # Q3 rules standard KMS out
    assert any(r.startswith("R9:") for r in advice.options["kms_standard"].reasons)


def test_every_reason_cites_a_source():
    advice = advise({"Q4": ["aws_services", "std_crypto_api"], "Q5": ["payment_pin_emv"], "Q1": "fips140_level3"})
    for opt in advice.options.values():
        if opt.id == "none_qualifies" and not opt.viable:
            continue  # "every stated need has an AWS option" rests on the rest of the advice
        for text in opt.reasons:
            assert "[S" in text, text


def test_recommended_option_ruled_out_elsewhere_is_dropped():
    # Only payment keys: no consumers for KMS, so R10's KMS standard is dropped with a note.
    advice = advise({"Q4": [], "Q5": ["payment_pin_emv"]})
    assert advice.recommended == ["payment_cryptography"]
    assert any("dropped" in n for n in advice.notes)


def test_nothing_serves_raises_the_no_aws_option_flag():
    advice = advise({"Q4": []})
    assert advice.recommended == ["none_qualifies"]
    assert advice.options["none_qualifies"].viable


def test_viability_blockers_explain_themselves():
    advice = advise({"Q2": "yes", "Q4": ["aws_services"]})
    std = advice.options["kms_standard"]
    assert not std.viable and any("multi-tenant" in r for r in std.reasons)
    assert advice.options["kms_cloudhsm_ks"].viable
    hyok = advise({"Q3": "outside_aws", "Q4": ["aws_services"]})
    for oid in ("kms_standard", "kms_imported", "kms_cloudhsm_ks", "cloudhsm_direct"):
        assert not hyok.options[oid].viable, oid


def test_condition_language():
    a = normalize({"Q4": ["aws_services"], "Q1": "fips140_level3", "Q11": {"rsa": 5}})
    assert holds({"q": "Q4", "has": "aws_services"}, a)
    assert holds({"q": "Q4", "lacks": "std_crypto_api"}, a)
    assert holds({"q": "Q4", "has_any": ["x", "aws_services"]}, a)
    assert holds({"q": "Q1", "in": ["fips140_level3"]}, a) and not holds({"q": "Q1", "eq": "none"}, a)
    assert holds({"q": "Q11", "field": "rsa", "gt": 4}, a) and not holds({"q": "Q11", "field": "rsa", "gt": 5}, a)
    assert holds({"q": "Q11", "field": "rsa", "le": 5}, a)
    assert holds({"any": [{"q": "Q1", "eq": "none"}, {"not": {"q": "Q1", "eq": "none"}}]}, a)
    assert not holds({"all": [{"q": "Q1", "eq": "none"}, {"q": "Q4", "has": "aws_services"}]}, a)
    assert holds({"fired": "R4"}, a, ["R4"]) and not holds({"fired": "R4"}, a, [])
    with pytest.raises(ValueError):
        holds({"q": "Q1"}, a)


def test_r4_with_single_tenancy_and_no_aws_services_adds_no_key_store():
    """Regression: KMS-API apps alone made R4 add a CloudHSM key store "for the AWS-service keys", against
    R7 (single tenancy without AWS services: a KMS front end adds nothing)."""
    advice = advise({"Q2": "yes", "Q4": ["own_apps_aws_sdk", "std_crypto_api"]})
    assert advice.recommended == ["cloudhsm_direct"]
    assert not any(r.startswith("R4") for r in advice.options["kms_cloudhsm_ks"].reasons)
