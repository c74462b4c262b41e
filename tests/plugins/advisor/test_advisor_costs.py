"""Cost formulas against figures worked out by hand from the facts (us-east-1 unless stated)."""

from __future__ import annotations

import pytest

from kmstui_advisor import advise, load_facts
from kmstui_advisor.costs import cloudhsm_direct_hsms, kms_keys, kms_requests, total
from kmstui_advisor.questions import normalize

FACTS = load_facts()


def cost(answers, option):
    return advise(answers).options[option].cost


def test_kms_keys_and_rotation_cap():
    # 10 keys + 4 replicas = $14; 10 rotating keys rotated 5 times are charged for 2 rotations = $20.
    assert total(kms_keys(10, 4, 10, 5, FACTS)) == pytest.approx(34.0)
    assert total(kms_keys(10, 0, 10, 1, FACTS)) == pytest.approx(20.0)
    assert total(kms_keys(10, 0, 0, 3, FACTS)) == pytest.approx(10.0)


def test_kms_requests_free_tier_applies_to_symmetric_only():
    assert total(kms_requests(20_000, 0, 0, 0, FACTS)) == 0
    # (1,020,000 - 20,000) / 10k x 0.03 = 3.00
    assert total(kms_requests(1_020_000, 0, 0, 0, FACTS)) == pytest.approx(3.00)
    # asymmetric and GenerateDataKeyPair get no free tier: 10k RSA2048 = 0.03, 10k other = 0.15, 10k GDKP = 0.10
    assert total(kms_requests(0, 10_000, 10_000, 10_000, FACTS)) == pytest.approx(0.28)


def test_kms_standard_total():
    answers = {"Q13": {"keys": 5, "asymmetric_keys": 1, "rotations": 3},
               "Q12": {"symmetric": 2_020_000, "rsa_2048": 20_000, "asymmetric_other": 40_000,
                       "generate_data_key_pair": 30_000}}
    # keys 5 + rotations 4 x 2 = 13; sym 6.00; rsa 0.06; other 0.60; gdkp 0.30 -> 19.96
    assert cost(answers, "kms_standard") == pytest.approx(19.96)
    assert cost(answers, "kms_imported") == pytest.approx(19.96)


def test_cloudhsm_key_store_adds_two_hsms_and_counts_symmetric_keys_only():
    answers = {"Q13": {"keys": 5, "asymmetric_keys": 1}, "Q12": {"symmetric": 1_020_000, "rsa_2048": 99_999}}
    # 4 symmetric keys + 3.00 requests + 2 x 1.60 x 730 = 2,343.00
    assert cost(answers, "kms_cloudhsm_ks") == pytest.approx(2343.00)
    durable = {**answers, "Q18": "production_new_key_durability"}
    assert cost(durable, "kms_cloudhsm_ks") == pytest.approx(4 + 3 + 3 * 1.60 * 730)


def test_cloudhsm_key_store_needing_two_stores_pays_two_clusters():
    answers = {"Q2": "yes", "Q4": ["aws_services"], "Q11": {"symmetric": 3000}, "Q13": {"keys": 1}}
    assert cost(answers, "kms_cloudhsm_ks") == pytest.approx(1 + 2 * 2 * 1.60 * 730)


def test_xks_adds_the_operator_figure():
    answers = {"Q3": "outside_aws", "Q13": {"keys": 2}, "Q14": {"external_key_manager_monthly_usd": 1500}}
    assert cost(answers, "kms_xks") == pytest.approx(1502.0)


@pytest.mark.parametrize("peak, env, expected", [
    ({}, "production", 2),                               # floor for HA
    ({}, "production_new_key_durability", 3),            # floor for new-key durability
    ({}, "non_production", 1),
    ({"rsa": 2500}, "production", 4),                    # ceil(2.5) + 1
    ({"rsa": 1000, "ecc": 1500}, "production", 3),       # ceil(1 + 1) + 1
    ({"ecc": 4000}, "non_production", 3),                # ceil(2.67), no redundancy
])
def test_cloudhsm_direct_sizing(peak, env, expected):
    assert cloudhsm_direct_hsms(normalize({"Q11": peak, "Q18": env}), FACTS)[0] == expected


def test_cloudhsm_direct_cost_uses_region_price_and_hours():
    base = {"Q4": ["std_crypto_api"]}
    assert cost(base, "cloudhsm_direct") == pytest.approx(2 * 1.60 * 730)  # $2,336
    assert cost({**base, "Q14": {"region": "us-west-2"}}, "cloudhsm_direct") == pytest.approx(2 * 1.45 * 730)
    given = {**base, "Q14": {"region": "ap-south-1", "hsm_hour_price": 2.0, "hsm_hours": 200}, "Q18": "non_production"}
    assert cost(given, "cloudhsm_direct") == pytest.approx(1 * 2.0 * 200)


def test_unknown_region_falls_back_to_us_east_1_and_says_so():
    advice = advise({"Q4": ["std_crypto_api"], "Q14": {"region": "ap-south-1"}})
    line = advice.options["cloudhsm_direct"].breakdown[0]
    assert line.inputs["hsm_hour_price"] == 1.60 and "Region has none" in line.inputs["price_from"]


def test_payment_cryptography():
    answers = {"Q5": ["payment_pin_emv"], "Q13": {"payment_keys": 10}, "Q12": {"payment_operations": 100_000}}
    assert cost(answers, "payment_cryptography") == pytest.approx(30.0)  # AWS pricing example 1


def test_bucket_key_saving_shown_but_not_in_total():
    answers = {"Q16": "no", "Q12": {"symmetric": 1_020_000, "s3_symmetric": 1_000_000}, "Q13": {"keys": 1}}
    opt = advise(answers).options["kms_standard"]
    assert opt.cost == pytest.approx(1 + 3.00)
    saving = [line for line in opt.breakdown if "Bucket Keys" in line.item]
    assert saving and saving[0].usd == pytest.approx(1_000_000 * 0.99 / 10_000 * 0.03)
    assert not any("Bucket Keys" in line.item for line in advise({**answers, "Q16": "yes"}).options["kms_standard"].breakdown)


def test_no_cost_for_non_viable_options_and_the_flag():
    advice = advise({})
    assert advice.options["payment_cryptography"].cost is None
    assert advice.options["none_qualifies"].cost is None


def test_bucket_key_saving_never_exceeds_the_symmetric_bill():
    """Regression: the saving was avoided requests x price, ignoring the free tier, so it could exceed what
    was billed. 1,000,000 S3 requests: bill (1,000,000 - 20,000) / 10k x 0.03 = 2.94; with Bucket Keys
    10,000 requests remain, inside the free tier, so the saving is the whole 2.94 (not 2.97)."""
    answers = {"Q16": "no", "Q12": {"symmetric": 1_000_000, "s3_symmetric": 1_000_000}}
    opt = advise(answers).options["kms_standard"]
    saving = [line for line in opt.breakdown if "Bucket Keys" in line.item][0]
    assert saving.usd == pytest.approx(2.94)
    bill = [line for line in opt.breakdown if line.item == "Symmetric requests"][0]
    assert saving.usd <= bill.usd
