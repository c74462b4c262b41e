"""Backend keys through the kmstui Backend interface, on a real local HSM file: provider ids, several
wrapping keys, strict vs discovery decryption, rewrap, and the data-key cache's effect on backend calls."""

from __future__ import annotations

import io
import os

import pytest

from envelope_helpers import listing
from kmstui_envelope.errors import NoUsableKey
from kmstui_envelope.header import read_header


@pytest.fixture
def keys(unsealed_hsm, run):
    r = run()
    arns = []
    for alias in ("alias/app", "alias/other"):
        md = r("key", "create").data["KeyMetadata"]
        r("alias", "create", alias, md["KeyId"])
        arns.append(md["Arn"])
    return arns


def test_local_key_encrypt_decrypt_with_kmstui_local_provider(run, workdir, keys):
    (workdir / "a").write_bytes(b"payload" * 999)
    res = run()("envelope", "encrypt", "a", "--key-id", "alias/app", "--key-id", "alias/other",
                "--context", "app=web")
    assert res.data["Summary"]["BackendCalls"] == 2  # GenerateDataKey + Encrypt
    header = read_header(io.BytesIO((workdir / "a.enc").read_bytes()).read)
    assert [(e.provider_id, e.provider_info.decode()) for e in header.edks] == \
        [("kmstui-local", keys[0]), ("kmstui-local", keys[1])]
    (workdir / "a").unlink()
    res = run()("envelope", "decrypt", "a.enc")  # discovery on the local backend by default
    assert (workdir / "a").read_bytes() == b"payload" * 999
    assert res.data["Summary"]["BackendCalls"] == 1


def test_strict_mode_only_uses_allowed_keys(run, workdir, keys):
    (workdir / "a").write_bytes(b"x")
    run()("envelope", "encrypt", "a", "--key-id", "alias/app")
    with pytest.raises(NoUsableKey):
        run()("envelope", "decrypt", "a.enc", "--key-id", "alias/other", "--out", "o")
    with pytest.raises(NoUsableKey):
        run()("envelope", "decrypt", "a.enc", "--allow-key", keys[1], "--out", "o")
    run()("envelope", "decrypt", "a.enc", "--allow-key", keys[0], "--out", "o")
    run()("envelope", "decrypt", "a.enc", "--key-id", "alias/app", "--out", "o2")
    assert (workdir / "o").read_bytes() == (workdir / "o2").read_bytes() == b"x"


def test_wrong_context_is_refused_by_the_backend(run, workdir, keys):
    (workdir / "a").write_bytes(b"x")
    run()("envelope", "encrypt", "a", "--key-id", "alias/app", "--context", "k=v")
    data = bytearray((workdir / "a.enc").read_bytes())
    i = data.index(b"k\x00\x01v") + 3
    data[i] = ord("w")
    (workdir / "a.enc").write_bytes(bytes(data))
    with pytest.raises(NoUsableKey):
        run()("envelope", "decrypt", "a.enc", "--out", "o")
    assert "o" not in listing(workdir)


def test_rewrap_with_backend_keys_costs_a_constant_number_of_calls(run, workdir, keys):
    (workdir / "a").write_bytes(os.urandom(2 << 20))
    run()("envelope", "encrypt", "a", "--key-id", "alias/app")
    res = run()("envelope", "rewrap", "a.enc", "--add-key-id", "alias/other", "--remove-key-id", "alias/app")
    assert res.data["Files"][0] == {"Input": "a.enc", "Output": "a.enc", "Removed": 1, "Added": 1,
                                    "EncryptedDataKeys": 1}
    assert res.data["Summary"]["BackendCalls"] <= 5
    with pytest.raises(NoUsableKey):
        run()("envelope", "decrypt", "a.enc", "--key-id", "alias/app", "--out", "o")
    run()("envelope", "decrypt", "a.enc", "--key-id", "alias/other", "--out", "o")
    assert (workdir / "o").read_bytes() == (workdir / "a").read_bytes()


def test_data_key_cache_cuts_backend_calls(run, workdir, keys):
    src = workdir / "tree"
    src.mkdir()
    for i in range(200):
        (src / f"f{i:03}").write_bytes(os.urandom(4096))
    plain = run()("envelope", "encrypt", "tree", "-r", "--out", "enc1", "--key-id", "alias/app")
    cached = run()("envelope", "encrypt", "tree", "-r", "--out", "enc2", "--key-id", "alias/app",
                   "--cache-max-messages", "1000", "--cache-max-age", "600")
    assert plain.data["Summary"]["BackendCalls"] == 200
    assert cached.data["Summary"]["BackendCalls"] == 1 and cached.data["Summary"]["CacheHits"] == 199
    ids = {read_header(io.BytesIO(p.read_bytes()).read).message_id for p in (workdir / "enc2").iterdir()}
    assert len(ids) == 200  # each file still has its own message id (and derived key)
    limited = run()("envelope", "encrypt", "tree", "-r", "--out", "enc3", "--key-id", "alias/app",
                    "--cache-max-messages", "50")
    assert limited.data["Summary"]["BackendCalls"] == 4
    res = run()("envelope", "decrypt", "enc2", "-r", "--out", "dec")
    assert (workdir / "dec" / "f007").read_bytes() == (src / "f007").read_bytes()
    assert res.data["Summary"]["BackendCalls"] == 1  # shared EDK: unwrapped once for the whole tree


def test_cache_byte_limit(run, workdir, keys):
    for i in range(6):
        (workdir / f"f{i}").write_bytes(bytes(1000))
    res = run()("envelope", "encrypt", *[f"f{i}" for i in range(6)], "--out", "enc", "--key-id", "alias/app",
                "--cache-max-bytes", "2000")
    assert res.data["Summary"]["BackendCalls"] == 3


def test_raw_key_only_work_never_opens_the_backend(run, workdir, keyfiles):
    (workdir / "a").write_bytes(b"x")
    r = run()
    r("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"])
    assert r.session.open_backends() == {}




def test_cache_byte_limit_counts_streamed_input(keys, run, workdir):
    r = run(stdin=bytes(3000))
    res = r("envelope", "encrypt", "-", "--out", "s1.enc", "--key-id", "alias/app", "--cache-max-bytes", "2000")
    assert res.data["Summary"]["BackendCalls"] == 1
    from kmstui_envelope.cache import CachePolicy, DataKeyCache
    from kmstui_envelope.rawkeys import RawAesKeyring
    from kmstui_envelope.materials import cache_key, encryption_materials
    from kmstui_envelope.suites import DEFAULT_SUITE

    cache = DataKeyCache(CachePolicy(max_bytes=2000))
    kr = [RawAesKeyring("ns", "k", bytes(32))]
    first = encryption_materials(kr, DEFAULT_SUITE, {}, cache=cache)
    cache.charge(cache_key(DEFAULT_SUITE, kr, {}), 3000)  # a stream turned out larger than the limit
    second = encryption_materials(kr, DEFAULT_SUITE, {}, cache=cache)
    assert cache.hits == 0 and cache.misses == 2 and first.data_key != second.data_key
