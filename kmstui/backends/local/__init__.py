"""The local sealed-key HSM: one SQLite file whose key material is sealed under a random root key.

Modules: store (SQLite schema, MAC'd rows, transactions), seal (root key, unseal slots, KDF), blob (the
ciphertext format), keymaterial (key specs and the cryptography), agent (the per-user unseal agent),
unseal (finding the root key: agent, env, keyring, prompt), backend (the KMS-shaped API).
"""
