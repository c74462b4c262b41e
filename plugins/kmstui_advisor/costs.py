"""Monthly cost estimates per option (reference section 5.3), each line with its formula and inputs.

Every option is priced as if it carried all the stated keys and requests it can hold: custom key stores hold
symmetric keys only, so only those are counted there. Prices come from the dated facts."""

from __future__ import annotations

import math
from typing import Any, Mapping

from kmstui_advisor.facts import Facts
from kmstui_advisor.model import CostLine

Lines = list[CostLine]


def _money(x: float) -> str:
    return f"${x:,.2f}"


def kms_keys(n_keys: int, replicas: int, rotating_keys: int, rotations: int, facts: Facts) -> Lines:
    key = facts.num("kms_key_month")
    lines = [CostLine("KMS keys", "key_month x (keys + replicas)",
                      {"key_month": key, "keys": n_keys, "replicas": replicas}, key * (n_keys + replicas))]
    if rotating_keys and rotations:
        backing = facts.num("kms_rotation_backing_key_month")
        cap = int(facts.num("kms_rotation_charged_max"))
        charged = min(rotations, cap)
        lines.append(CostLine("Key rotations", "backing_key_month x rotating_keys x min(rotations, cap)",
                              {"backing_key_month": backing, "rotating_keys": rotating_keys,
                               "rotations": rotations, "cap": cap}, backing * rotating_keys * charged))
    return lines


def kms_requests(sym: int, rsa2048: int, asym_other: int, gdkp: int, facts: Facts) -> Lines:
    free = int(facts.num("kms_free_requests"))
    lines = [CostLine("Symmetric requests", "max(0, symmetric - free_tier) / 10,000 x price",
                      {"symmetric": sym, "free_tier": free, "price": facts.num("kms_symmetric_per_10k")},
                      max(0, sym - free) / 10_000 * facts.num("kms_symmetric_per_10k"))]
    for item, count, fact, name in (
        ("RSA_2048 asymmetric requests", rsa2048, "kms_rsa2048_per_10k", "rsa_2048"),
        ("Other asymmetric requests", asym_other, "kms_asymmetric_other_per_10k", "asymmetric_other"),
        ("GenerateDataKeyPair requests", gdkp, "kms_generate_data_key_pair_per_10k", "generate_data_key_pair"),
    ):
        if count:
            price = facts.num(fact)
            lines.append(CostLine(item, f"{name} / 10,000 x price (no free tier)", {name: count, "price": price},
                                  count / 10_000 * price))
    return lines


def _symmetric_bill(requests: float, facts: Facts) -> float:
    return max(0.0, requests - facts.num("kms_free_requests")) / 10_000 * facts.num("kms_symmetric_per_10k")


def bucket_key_saving(answers: Mapping[str, Any], facts: Facts) -> float:
    """What S3 Bucket Keys would save a month on the S3 share of the symmetric requests (0 unless Q16 = no):
    the symmetric bill now minus the bill with the S3 share cut by the reduction. Taken as a difference of
    bills, not as avoided requests x price, because requests that fall inside the free tier were never paid."""
    if answers["Q16"] != "no":
        return 0.0
    sym = answers["Q12"]["symmetric"]
    s3 = min(answers["Q12"]["s3_symmetric"], sym)
    return _symmetric_bill(sym, facts) - _symmetric_bill(sym - s3 * facts.num("s3_bucket_key_reduction"), facts)


def _bucket_key_line(answers: Mapping[str, Any], facts: Facts) -> Lines:
    saving = bucket_key_saving(answers, facts)
    if not saving:
        return []
    req = answers["Q12"]
    s3 = min(req["s3_symmetric"], req["symmetric"])
    return [CostLine("S3 Bucket Keys would save (not in the total)",
                     "bill(symmetric) - bill(symmetric - s3_symmetric x reduction), "
                     "bill(n) = max(0, n - free_tier) / 10,000 x price",
                     {"symmetric": req["symmetric"], "s3_symmetric": s3, "reduction": facts.num("s3_bucket_key_reduction"),
                      "free_tier": int(facts.num("kms_free_requests")), "price": facts.num("kms_symmetric_per_10k"),
                      "in_total": False}, saving)]


def hsm_price(answers: Mapping[str, Any], facts: Facts) -> tuple[float, str]:
    """The HSM-hour price used and where it came from (Q14, or the dated fact for the Region)."""
    given = answers["Q14"]["hsm_hour_price"]
    if given:
        return float(given), "Q14"
    price, own = facts.hsm_hour_price(answers["Q14"]["region"])
    return price, ("fact cloudhsm_hsm_hour" if own else "fact cloudhsm_hsm_hour (us-east-1 figure; Region has none)")


def cloudhsm_direct_hsms(answers: Mapping[str, Any], facts: Facts) -> tuple[int, int]:
    """(HSMs to run, HSMs the signing peak needs): +1 redundancy and the minimum for the environment."""
    peak = answers["Q11"]
    needed = math.ceil(peak["rsa"] / facts.num("cloudhsm_rsa2048_sign_per_hsm")
                       + peak["ecc"] / facts.num("cloudhsm_p256_sign_per_hsm"))
    env = answers["Q18"]
    if env == "non_production":
        return max(1, needed), needed
    floor = int(facts.num("cloudhsm_min_hsms_new_key_durability" if env == "production_new_key_durability"
                          else "cloudhsm_min_hsms_production"))
    return max(floor, needed + 1), needed


def key_store_hsms(answers: Mapping[str, Any], facts: Facts) -> int:
    """A CloudHSM key store needs two active HSMs in different AZs, three for new-key durability."""
    if answers["Q18"] == "production_new_key_durability":
        return int(facts.num("cloudhsm_min_hsms_new_key_durability"))
    return int(facts.num("cloudhsm_min_hsms_production"))


def key_store_load(answers: Mapping[str, Any], facts: Facts) -> tuple[float, int]:
    """(weighted peak rps against one CloudHSM key store's quota, key stores needed)."""
    peak = answers["Q11"]
    gdk = min(peak["symmetric_generate_data_key"], peak["symmetric"])
    load = peak["symmetric"] - gdk + gdk * facts.num("kms_cloudhsm_ks_gdk_weight")
    stores = max(1, math.ceil(load / facts.num("kms_cloudhsm_ks_rps")))
    return load, stores


def _hsm_line(item: str, clusters: int, hsms: int, answers: Mapping[str, Any], facts: Facts) -> CostLine:
    price, origin = hsm_price(answers, facts)
    hours = answers["Q14"]["hsm_hours"]
    return CostLine(item, "clusters x hsms x hsm_hour_price x hsm_hours",
                    {"clusters": clusters, "hsms": hsms, "hsm_hour_price": price, "price_from": origin,
                     "hsm_hours": hours, "region": answers["Q14"]["region"]},
                    clusters * hsms * price * hours)


def _symmetric_keys(answers: Mapping[str, Any]) -> int:
    keys = answers["Q13"]
    return max(0, keys["keys"] - keys["asymmetric_keys"])


def cost_kms(answers: Mapping[str, Any], facts: Facts) -> Lines:
    keys, req = answers["Q13"], answers["Q12"]
    rotating = _symmetric_keys(answers)
    return (kms_keys(keys["keys"], keys["replicas"], rotating, keys["rotations"], facts)
            + kms_requests(req["symmetric"], req["rsa_2048"], req["asymmetric_other"], req["generate_data_key_pair"], facts)
            + _bucket_key_line(answers, facts))


def cost_kms_cloudhsm_ks(answers: Mapping[str, Any], facts: Facts) -> Lines:
    _, stores = key_store_load(answers, facts)
    return (kms_keys(_symmetric_keys(answers), 0, 0, 0, facts)
            + kms_requests(answers["Q12"]["symmetric"], 0, 0, 0, facts)
            + [_hsm_line("CloudHSM clusters behind the key store(s)", stores, key_store_hsms(answers, facts), answers, facts)]
            + _bucket_key_line(answers, facts))


def cost_kms_xks(answers: Mapping[str, Any], facts: Facts) -> Lines:
    external = answers["Q14"]["external_key_manager_monthly_usd"]
    return (kms_keys(_symmetric_keys(answers), 0, 0, 0, facts)
            + kms_requests(answers["Q12"]["symmetric"], 0, 0, 0, facts)
            + [CostLine("External key manager and XKS proxy (yours, not an AWS charge)", "operator input (Q14)",
                        {"external_key_manager_monthly_usd": external}, external)]
            + _bucket_key_line(answers, facts))


def cost_cloudhsm_direct(answers: Mapping[str, Any], facts: Facts) -> Lines:
    hsms, needed = cloudhsm_direct_hsms(answers, facts)
    line = _hsm_line("CloudHSM HSMs (no per-key or per-request fee)", 1, hsms, answers, facts)
    line.inputs.update({"signing_peak_needs_hsms": needed, "environment": answers["Q18"],
                        "sizing": "max(floor, ceil(rsa/rsa_per_hsm + ecc/ecc_per_hsm) + 1); floor 2, 3 for "
                                  "new-key durability; non_production: max(1, need)"})
    return [line]


def cost_payment_cryptography(answers: Mapping[str, Any], facts: Facts) -> Lines:
    keys, ops = answers["Q13"]["payment_keys"], answers["Q12"]["payment_operations"]
    key_price, op_price = facts.num("payment_crypto_key_month"), facts.num("payment_crypto_per_10k")
    return [CostLine("Payment Cryptography active keys", "payment_keys x key_month",
                     {"payment_keys": keys, "key_month": key_price}, keys * key_price),
            CostLine("Payment Cryptography API calls", "payment_operations / 10,000 x price",
                     {"payment_operations": ops, "price": op_price}, ops / 10_000 * op_price)]


COSTERS = {
    "kms_standard": cost_kms,
    "kms_imported": cost_kms,
    "kms_cloudhsm_ks": cost_kms_cloudhsm_ks,
    "kms_xks": cost_kms_xks,
    "cloudhsm_direct": cost_cloudhsm_direct,
    "payment_cryptography": cost_payment_cryptography,
}


def total(lines: Lines) -> float:
    return sum(line.usd for line in lines if line.inputs.get("in_total", True))


def price(option_id: str, answers: Mapping[str, Any], facts: Facts) -> tuple[float | None, Lines]:
    """(monthly USD, breakdown) for an option; (None, []) for the "no AWS option" flag."""
    coster = COSTERS.get(option_id)
    if coster is None:
        return None, []
    lines = coster(answers, facts)
    return total(lines), lines
