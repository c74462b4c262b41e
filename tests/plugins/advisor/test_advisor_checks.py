"""Every constraint check (C1-C11) fires on answers that should fire it, stays quiet otherwise, and does
what it says: a warning on the options concerned, or a changed recommendation."""

from __future__ import annotations

import pytest

from kmstui_advisor import advise

SINGLE_TENANT_S3 = {"Q2": "yes", "Q4": ["aws_services"], "Q15": "yes"}

# check -> (answers that fire it, answers that do not)
CASES = {
    "C1": ({**SINGLE_TENANT_S3, "Q8": "yes"}, {**SINGLE_TENANT_S3, "Q8": "no"}),
    "C2": ({**SINGLE_TENANT_S3, "Q6": ["aes", "hmac"]}, {**SINGLE_TENANT_S3, "Q6": ["aes"]}),
    "C3": ({**SINGLE_TENANT_S3, "Q11": {"symmetric": 2000}}, {**SINGLE_TENANT_S3, "Q11": {"symmetric": 1800}}),
    "C4": ({"Q11": {"symmetric": 10_001}, "Q14": {"region": "sa-east-1"}},
           {"Q11": {"symmetric": 10_000}, "Q14": {"region": "sa-east-1"}}),
    "C5": ({"Q4": ["std_crypto_api"], "Q18": "non_production", "Q15": "yes"},
           {"Q4": ["std_crypto_api"], "Q18": "production", "Q15": "yes"}),
    "C6": ({"Q10": "yes"}, {"Q10": "no"}),
    "C7": ({"Q13": {"keys": 3, "rotations": 1}}, {"Q13": {"keys": 3, "rotations": 0}}),
    "C8": ({"Q16": "no", "Q12": {"symmetric": 10_000_001, "s3_symmetric": 10_000_000}},
           {"Q16": "yes", "Q12": {"symmetric": 10_000_001, "s3_symmetric": 10_000_000}}),
    "C9": ({"Q4": ["std_crypto_api"], "Q17": "yes", "Q15": "yes"}, {"Q4": ["std_crypto_api"], "Q17": "no", "Q15": "yes"}),
    "C10": ({"Q2": "yes", "Q4": ["aws_services"], "Q15": "no"}, SINGLE_TENANT_S3),
    "C11": ({"Q1": "fips140_level3", "Q6": ["sm2_sm4"], "Q10": "yes"}, {"Q1": "none", "Q6": ["sm2_sm4"], "Q10": "yes"}),
}


@pytest.mark.parametrize("check", sorted(CASES, key=lambda c: int(c[1:])))
def test_check_fires(check):
    assert check in advise(CASES[check][0]).fired


@pytest.mark.parametrize("check", sorted(CASES, key=lambda c: int(c[1:])))
def test_check_stays_quiet(check):
    assert check not in advise(CASES[check][1]).fired


def _warnings(advice, oid, check):
    return [w for w in advice.options[oid].warnings if w.startswith(check + ":")]


def test_c1_conflict_on_custom_key_stores_not_on_standard_kms():
    advice = advise({"Q4": ["aws_services"], "Q8": "yes"})
    assert _warnings(advice, "kms_cloudhsm_ks", "C1") and _warnings(advice, "kms_xks", "C1")
    assert not _warnings(advice, "kms_standard", "C1")


def test_c2_adds_cloudhsm_direct_for_asymmetric_keys_under_single_tenancy():
    advice = advise({"Q2": "yes", "Q4": ["aws_services", "own_apps_aws_sdk"], "Q6": ["aes", "rsa"], "Q15": "yes"})
    assert advice.recommended == ["kms_cloudhsm_ks", "cloudhsm_direct"]
    assert any("go to CloudHSM directly" in w for w in _warnings(advice, "kms_cloudhsm_ks", "C2"))


def test_c2_hyok_with_asymmetric_keys_warns_on_xks():
    advice = advise({"Q3": "outside_aws", "Q4": ["aws_services"], "Q6": ["aes", "rsa"]})
    assert advice.recommended == ["kms_xks"]
    assert any("outside AWS through KMS" in w for w in _warnings(advice, "kms_xks", "C2"))


def test_c3_counts_generate_data_key_three_times():
    # 700 rps, all GenerateDataKey -> 2,100 weighted > 1,800: fires although 700 < 1,800.
    advice = advise({**SINGLE_TENANT_S3, "Q11": {"symmetric": 700, "symmetric_generate_data_key": 700}})
    assert "C3" in advice.fired
    assert any("split the keys across 2 key stores" in w for w in _warnings(advice, "kms_cloudhsm_ks", "C3"))
    assert advise({**SINGLE_TENANT_S3, "Q11": {"symmetric": 700, "symmetric_generate_data_key": 500}}).fired.count("C3") == 0


def test_c3_beyond_ten_key_stores_changes_the_recommendation():
    advice = advise({**SINGLE_TENANT_S3, "Q11": {"symmetric": 18_001}})
    assert not advice.options["kms_cloudhsm_ks"].viable
    assert advice.recommended == ["none_qualifies"]
    assert any("at most 10" in r for r in advice.options["none_qualifies"].reasons)
    # 18,000 rps = exactly 10 stores: still viable, with a warning
    ten = advise({**SINGLE_TENANT_S3, "Q11": {"symmetric": 18_000}})
    assert ten.recommended == ["kms_cloudhsm_ks"] and "C3" in ten.fired


def test_c4_uses_the_regions_quota():
    assert "C4" not in advise({"Q11": {"symmetric": 15_000}, "Q14": {"region": "eu-central-1"}}).fired
    assert "C4" in advise({"Q11": {"symmetric": 15_000}, "Q14": {"region": "sa-east-1"}}).fired
    assert "C4" not in advise({"Q11": {"symmetric": 45_000}, "Q14": {"region": "us-east-1"}}).fired  # top tier
    rsa = advise({"Q11": {"rsa": 1_001}})
    assert _warnings(rsa, "kms_standard", "C4") and not _warnings(rsa, "kms_cloudhsm_ks", "C4")


def test_c5_ceiling_and_key_limits():
    big = advise({"Q4": ["std_crypto_api"], "Q11": {"rsa": 30_000}, "Q15": "yes"})
    assert any("above the fixed 28" in w for w in _warnings(big, "cloudhsm_direct", "C5"))
    keys = advise({"Q4": ["std_crypto_api"], "Q13": {"keys": 5000, "asymmetric_keys": 3334}, "Q15": "yes"})
    assert any("exceed one hsm2m cluster" in w for w in _warnings(keys, "cloudhsm_direct", "C5"))


def test_c6_fips_and_ml_kem_in_china():
    advice = advise({"Q10": "yes", "Q1": "fips140_level3", "Q6": ["aes", "ml_kem"]})
    texts = " ".join(_warnings(advice, "kms_standard", "C6"))
    assert "OSCCA" in texts and "cannot be met" in texts and "ML-KEM" in texts


def test_c7_asymmetric_rotation_warning():
    advice = advise({"Q13": {"keys": 3, "asymmetric_keys": 1, "rotations": 1}})
    assert any("Asymmetric and HMAC" in w for w in _warnings(advice, "kms_standard", "C7"))
    assert not any("Asymmetric" in w for w in _warnings(advise({"Q13": {"keys": 3, "rotations": 1}}), "kms_standard", "C7"))


def test_c8_needs_aws_services_and_volume():
    a = {"Q16": "no", "Q12": {"symmetric": 20_000_000, "s3_symmetric": 10_000_000}}
    advice = advise(a)
    assert any("$29.70" in w for w in _warnings(advice, "kms_standard", "C8"))  # 10M x 0.99 / 10k x 0.03
    assert advice.notes and "Bucket Keys" in advice.notes[0]
    assert "C8" not in advise({**a, "Q4": ["own_apps_aws_sdk"]}).fired
    assert "C8" not in advise({**a, "Q12": {"symmetric": 9_000_000, "s3_symmetric": 9_000_000}}).fired


def test_c10_xks_wording():
    advice = advise({"Q3": "outside_aws", "Q15": "no"})
    assert any("XKS proxy" in w for w in _warnings(advice, "kms_xks", "C10"))


def test_c11_sm_outside_china_and_3des_under_fips():
    advice = advise({"Q6": ["sm2_sm4"], "Q10": "no"})
    assert any("only in the KMS China Regions" in w for w in _warnings(advice, "kms_standard", "C11"))
    des = advise({"Q6": ["3des_or_raw_mechanisms"], "Q1": "fips140_level3", "Q4": ["std_crypto_api"], "Q15": "yes"})
    assert any("3DES" in w for w in _warnings(des, "cloudhsm_direct", "C11"))
    assert "C11" not in advise({"Q6": ["3des_or_raw_mechanisms"], "Q4": ["std_crypto_api"]}).fired
