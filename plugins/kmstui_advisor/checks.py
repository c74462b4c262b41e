"""Constraint checks run after the rules (C1-C11). Each adds warnings to the options it concerns or changes
the recommendation, and says why; wording and sources are in data/checks.toml."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from kmstui_advisor import costs, datafiles
from kmstui_advisor.facts import Facts
from kmstui_advisor.model import OptionAdvice
from kmstui_advisor.rules import KMS_FAMILY, Decision, cite

NON_SYMMETRIC = ("hmac", "rsa", "ecc_nist", "secp256k1", "ed25519", "ml_dsa", "ml_kem", "sm2_sm4")
CUSTOM_STORES = ("kms_cloudhsm_ks", "kms_xks")


class Context:
    """What a check sees: the answers, facts, options and decision, plus helpers to report."""

    def __init__(self, answers: Mapping[str, Any], facts: Facts, options: dict[str, OptionAdvice],
                 decision: Decision) -> None:
        self.answers, self.facts, self.options, self.decision = answers, facts, options, decision
        self.fired: list[str] = []
        self.notes: list[str] = []
        self._texts = datafiles.load("checks.toml")

    def text(self, check: str, key: str = "message", **values: Any) -> str:
        spec = self._texts[check]
        return f"{check}: " + cite(spec[key].format(**values), spec.get("sources", ()))

    def viable(self, *option_ids: str) -> list[OptionAdvice]:
        return [self.options[o] for o in option_ids if self.options[o].viable]

    def warn(self, check: str, option_ids: tuple[str, ...] | list[str], key: str = "message", **values: Any) -> bool:
        targets = self.viable(*option_ids)
        for opt in targets:
            opt.warn(self.text(check, key, **values))
        if targets:
            self.mark(check)
        return bool(targets)

    def mark(self, check: str) -> None:
        if check not in self.fired:
            self.fired.append(check)

    def recommend(self, option_id: str) -> None:
        self.decision.add(option_id)

    def withdraw(self, option_id: str, reason: str) -> None:
        """Take an option out of the recommendation; when nothing is left, raise the "no AWS option" flag."""
        if option_id in self.decision.recommended:
            self.decision.recommended.remove(option_id)
            if self.decision.primary == option_id:
                self.decision.primary = self.decision.recommended[0] if self.decision.recommended else None
        if not self.decision.recommended:
            flag = self.options["none_qualifies"]
            flag.viable = True
            flag.reasons = [r for r in flag.reasons if not r.startswith("Not viable")] + [reason]
            self.recommend("none_qualifies")


def c1_multi_region(ctx: Context) -> None:
    if ctx.answers["Q8"] == "yes":
        ctx.warn("C1", CUSTOM_STORES)
        ctx.warn("C1", ["cloudhsm_direct"], "message_cloudhsm")


def c2_key_types(ctx: Context) -> None:
    algorithms = [a for a in ctx.answers["Q6"] if a in NON_SYMMETRIC]
    if not algorithms:
        return
    names = ", ".join(algorithms)
    ctx.warn("C2", CUSTOM_STORES, algorithms=names)
    if "kms_cloudhsm_ks" in ctx.decision.recommended and ctx.options["cloudhsm_direct"].viable:
        ctx.recommend("cloudhsm_direct")
        ctx.warn("C2", ["kms_cloudhsm_ks"], "message_single_tenant", algorithms=names)
    if "kms_xks" in ctx.decision.recommended:
        ctx.warn("C2", ["kms_xks"], "message_hyok")


def c3_key_store_quota(ctx: Context) -> None:
    opt = ctx.options["kms_cloudhsm_ks"]
    if not opt.viable:
        return
    load, stores = costs.key_store_load(ctx.answers, ctx.facts)
    if stores <= 1:
        return
    peak = ctx.answers["Q11"]
    values = dict(load=f"{load:,.0f}", symmetric=f"{peak['symmetric']:,}", gdk=f"{peak['symmetric_generate_data_key']:,}",
                  weight=ctx.facts.num("kms_cloudhsm_ks_gdk_weight"), quota=f"{ctx.facts.num('kms_cloudhsm_ks_rps'):,}",
                  stores=stores, max_stores=ctx.facts.num("kms_custom_key_stores_max"))
    ctx.mark("C3")
    if stores > ctx.facts.num("kms_custom_key_stores_max"):
        message = ctx.text("C3", "message_over_max", **values)
        opt.block("Not viable: " + message)
        ctx.withdraw("kms_cloudhsm_ks", message)
    else:
        opt.warn(ctx.text("C3", **values))


def c4_kms_quotas(ctx: Context) -> None:
    region = ctx.answers["Q14"]["region"]
    peak = ctx.answers["Q11"]
    for kind, rate, quota in (
        ("symmetric", peak["symmetric"], ctx.facts.kms_symmetric_quota(region)),
        ("RSA", peak["rsa"], int(ctx.facts.num("kms_rsa_rps"))),
        ("ECC/ML-DSA", peak["ecc"], int(ctx.facts.num("kms_ecc_rps"))),
    ):
        if rate > quota:
            targets = KMS_FAMILY if kind == "symmetric" else ("kms_standard", "kms_imported")
            ctx.warn("C4", targets, kind=kind, rate=f"{rate:,}", region=region, quota=f"{quota:,}")


def c5_cloudhsm_sizing(ctx: Context) -> None:
    hsms, _ = costs.cloudhsm_direct_hsms(ctx.answers, ctx.facts)
    if hsms == 1:
        ctx.warn("C5", ["cloudhsm_direct"], "message_single")
    ceiling = int(ctx.facts.num("cloudhsm_max_hsms_per_cluster"))
    if hsms > ceiling:
        ctx.warn("C5", ["cloudhsm_direct"], "message_ceiling", hsms=hsms, max=ceiling)
    keys = ctx.answers["Q13"]
    max_keys = int(ctx.facts.num("cloudhsm_max_keys_per_cluster"))
    max_asym = int(ctx.facts.num("cloudhsm_max_asymmetric_keys_per_cluster"))
    if keys["keys"] > max_keys or keys["asymmetric_keys"] > max_asym:
        ctx.warn("C5", ["cloudhsm_direct", "kms_cloudhsm_ks"], "message_keys", keys=f"{keys['keys']:,}",
                 asym=f"{keys['asymmetric_keys']:,}", max_keys=f"{max_keys:,}", max_asym=f"{max_asym:,}")
    if ctx.answers["Q11"]["symmetric"] > 0:
        ctx.warn("C5", ["cloudhsm_direct"], "message_no_symmetric_figure")


def c6_china(ctx: Context) -> None:
    if ctx.answers["Q10"] != "yes":
        return
    ctx.warn("C6", KMS_FAMILY)
    if ctx.answers["Q1"] != "none":
        ctx.warn("C6", KMS_FAMILY, "message_fips")
    if "ml_kem" in ctx.answers["Q6"]:
        ctx.warn("C6", ["kms_standard", "kms_imported"], "message_ml_kem")


def c7_rotation(ctx: Context) -> None:
    keys = ctx.answers["Q13"]
    if keys["rotations"] > 0:
        ctx.warn("C7", CUSTOM_STORES, "message_custom")
        if keys["asymmetric_keys"] > 0:
            ctx.warn("C7", ["kms_standard", "kms_imported"], "message_asym")


def c8_bucket_keys(ctx: Context) -> None:
    threshold = datafiles.load("checks.toml")["C8"]["threshold"]
    a = ctx.answers
    if "aws_services" in a["Q4"] and a["Q16"] == "no" and a["Q12"]["symmetric"] > threshold:
        saving = costs.bucket_key_saving(a, ctx.facts)
        if ctx.warn("C8", KMS_FAMILY, requests=f"{a['Q12']['symmetric']:,}", saving=f"{saving:,.2f}"):
            ctx.notes.append(ctx.text("C8", requests=f"{a['Q12']['symmetric']:,}", saving=f"{saving:,.2f}"))


def c9_audit(ctx: Context) -> None:
    if ctx.answers["Q17"] == "yes":
        ctx.warn("C9", ["cloudhsm_direct"])


def c10_operations(ctx: Context) -> None:
    if ctx.answers["Q15"] == "no":
        ctx.warn("C10", ["cloudhsm_direct", "kms_cloudhsm_ks"], "message_cloudhsm")
        ctx.warn("C10", ["kms_xks"], "message_xks")


def c11_non_fips_algorithms(ctx: Context) -> None:
    a = ctx.answers
    if "sm2_sm4" in a["Q6"]:
        if a["Q1"] != "none":
            ctx.warn("C11", (*KMS_FAMILY, "cloudhsm_direct"), "message_sm")
        if a["Q10"] == "no":
            ctx.warn("C11", ["kms_standard", "kms_imported"], "message_sm_region")
    if "3des_or_raw_mechanisms" in a["Q6"] and a["Q1"] != "none":
        ctx.warn("C11", ["cloudhsm_direct"], "message_3des")


CHECKS: tuple[Callable[[Context], None], ...] = (
    c1_multi_region, c2_key_types, c3_key_store_quota, c4_kms_quotas, c5_cloudhsm_sizing, c6_china,
    c7_rotation, c8_bucket_keys, c9_audit, c10_operations, c11_non_fips_algorithms,
)


def run_checks(ctx: Context) -> None:
    for check in CHECKS:
        check(ctx)
