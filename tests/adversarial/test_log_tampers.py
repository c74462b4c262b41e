"""Hypothesis: random damage to the audit log's bytes never lets sealed lines disappear silently (item 2).

For any cut, appended garbage, deleted, duplicated or swapped line: the next call either is refused with
AuditGapError (and the log is left exactly as found) or goes ahead; and when it goes ahead and the chain
then verifies, every line the HSM file had sealed is still there, unchanged, in order.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmstui.audit import AuditGapError
from kmstui.backends.local import auditing
from kmstui.backends.local.backend import LocalBackend
from kmstui.backends.local.store import Store

TAMPERS = ("cut", "append", "delete_line", "duplicate_line", "swap_lines", "cut_and_append")


def tamper(data: bytes, kind: str, a: int, b: int, junk: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    n = len(lines)
    if kind == "cut":
        return data[: a % (len(data) + 1)]
    if kind == "append":
        return data + junk
    if kind == "cut_and_append":
        return data[: a % (len(data) + 1)] + junk
    i, j = a % n, b % n
    if kind == "delete_line":
        return b"".join(lines[:i] + lines[i + 1:])
    if kind == "duplicate_line":
        return b"".join(lines[: i + 1] + [lines[i]] + lines[i + 1:])
    lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


def test_random_log_damage_never_hides_a_sealed_line(unsealed_hsm, slow_mode):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    for i in range(4):
        hsm.encrypt(KeyId=key, Plaintext=b"x")
        hsm.tag_resource(KeyId=key, Tags=[{"TagKey": "t", "TagValue": str(i)}])
    hsm.encrypt(KeyId=key, Plaintext=b"unsealed for a moment")
    keys, path, log = hsm._keys, hsm.path, hsm.audit.path
    hsm.close()
    original, db = log.read_bytes(), path.read_bytes()
    tried = []

    @settings(max_examples=400 if slow_mode else 40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(kind=st.sampled_from(TAMPERS), a=st.integers(0, 1 << 20), b=st.integers(0, 1 << 20),
           junk=st.binary(max_size=300))
    def run(kind, a, b, junk):
        tried.append(kind)
        path.write_bytes(db)
        for suffix in ("-wal", "-shm"):
            (path.parent / (path.name + suffix)).unlink(missing_ok=True)
        damaged = tamper(original, kind, a, b, junk)
        log.write_bytes(damaged)
        backend = LocalBackend(Store.open(path), keys)
        try:
            head = auditing.sealed_head(backend.store)
            sealed = [line for line in original.splitlines(keepends=True)][: head.seq]
            try:
                backend.describe_key(KeyId=key)
            except AuditGapError:
                assert log.read_bytes() == damaged  # the evidence is left as found
                return
            if backend.verify_audit()["Valid"]:
                assert log.read_bytes().startswith(b"".join(sealed)), (kind, a, b, junk)
        finally:
            backend.close()

    run()
    assert len(tried) >= 20
