"""Getting a data key: for encryption (generate under the first wrapping key, wrap under the others,
optionally from the cache) and for decryption (try the header's EDKs in order with the keys allowed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kmstui.errors import KMSError, UsageError
from kmstui_envelope.errors import NoUsableKey
from kmstui_envelope.header import PUBLIC_KEY_FIELD, RESERVED_PREFIX, EncryptedDataKey, Header, serialize_context
from kmstui_envelope.keyrings import Keyring, wipe
from kmstui_envelope.suites import Suite

if TYPE_CHECKING:
    from kmstui_envelope.cache import DataKeyCache


class EncryptionMaterials:
    """What one message is written with: its suite, the plaintext data key and its EDKs, the full context."""

    __slots__ = ("suite", "data_key", "edks", "context", "signing_key", "cached")

    def __init__(self, suite: Suite, data_key: bytearray, edks: list[EncryptedDataKey], context: dict[str, str],
                 signing_key: Any = None, cached: bool = False) -> None:
        self.suite = suite
        self.data_key = data_key
        self.edks = edks
        self.context = context
        self.signing_key = signing_key
        self.cached = cached

    def release(self) -> None:
        """Forget the data key unless the cache owns it."""
        if not self.cached:
            wipe(self.data_key)


def check_user_context(context: dict[str, str]) -> None:
    for key in context:
        if key.startswith(RESERVED_PREFIX):
            raise UsageError(f"encryption context key '{key}' is reserved for the format (aws-crypto-...); "
                             "choose another name")
    try:
        serialize_context(context)
    except ValueError as exc:
        raise UsageError(f"encryption context: {exc}") from None


def cache_key(suite: Suite, keyrings: list[Keyring], user_context: dict[str, str]) -> tuple:
    """What must match for a cached data key to be reused: suite, the very keyrings, the context."""
    return (suite.id, tuple(id(k) for k in keyrings), serialize_context(user_context))


def encryption_materials(keyrings: list[Keyring], suite: Suite, user_context: dict[str, str], *,
                         cache: DataKeyCache | None = None, plaintext_len: int | None = None) -> EncryptionMaterials:
    if not keyrings:
        raise UsageError("name at least one wrapping key: --key-id KEY or --raw-key FILE")
    check_user_context(user_context)
    key = None
    if cache is not None:
        key = cache_key(suite, keyrings, user_context)
        entry = cache.get(key, plaintext_len)
        if entry is not None:
            return EncryptionMaterials(suite, entry.data_key, entry.edks, entry.context, entry.signing_key, True)
    context = dict(user_context)
    signing_key = None
    if suite.signed:  # ECDSA and serialization load only for signed suites (not the default)
        import base64

        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        signing_key = ec.generate_private_key(suite.curve_obj())
        point = signing_key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        context[PUBLIC_KEY_FIELD] = base64.b64encode(point).decode("ascii")
    data_key, first = keyrings[0].generate(suite, context)
    try:
        edks = [first] + [k.wrap(data_key, context) for k in keyrings[1:]]
    except BaseException:
        wipe(data_key)
        raise
    if len(edks) > 0xFFFF:
        raise UsageError("too many wrapping keys (the format allows 65535)")
    mats = EncryptionMaterials(suite, data_key, edks, context, signing_key)
    if cache is not None and key is not None:
        from kmstui_envelope.cache import Entry  # loaded only when caching is on

        cache.put(key, Entry(data_key, edks, context, signing_key), plaintext_len)
        mats.cached = True
    return mats


class Unwrapped:
    """A plaintext data key, opened from the header's EDK number `edk_index` (from 0) by `keyring`."""

    __slots__ = ("data_key", "edk_index", "keyring")

    def __init__(self, data_key: bytearray, edk_index: int, keyring: Keyring) -> None:
        self.data_key = data_key
        self.edk_index = edk_index
        self.keyring = keyring


class UnwrapCache:
    """Data keys already unwrapped in this command run, by (EDK bytes, context, suite): files written with
    the data-key cache share EDKs, so a tree of them costs one backend call to decrypt, not one per file.
    Same EDK bytes and same context means the backend would return the same key."""

    def __init__(self) -> None:
        self._keys: dict[tuple, tuple[bytearray, Keyring]] = {}

    def get(self, key: tuple) -> tuple[bytearray, Keyring] | None:
        return self._keys.get(key)

    def put(self, key: tuple, data_key: bytearray, keyring: Keyring) -> None:
        self._keys[key] = (bytearray(data_key), keyring)

    def clear(self) -> None:
        for data_key, _ in self._keys.values():
            wipe(data_key)
        self._keys.clear()


def decrypt_data_key(header: Header, keyrings: list[Keyring], cache: UnwrapCache | None = None) -> Unwrapped:
    """Try each EDK in header order with the first keyring that claims it; first success wins.

    Failures are collected (without secrets) so the final error says what was tried and why it failed."""
    tried: list[str] = []
    ctx = b""
    if cache is not None:  # the bytes as read stand for the context (the same bytes, the same context)
        ctx = header.context_bytes if header.context_bytes is not None else serialize_context(header.context)
    if cache is not None:
        for i, edk in enumerate(header.edks):
            hit = cache.get((header.suite.id, edk, ctx))
            if hit is not None:
                return Unwrapped(bytearray(hit[0]), i, hit[1])
    for i, edk in enumerate(header.edks):
        for keyring in keyrings:
            try:
                if not keyring.matches(edk):
                    continue
            except KMSError as exc:  # resolving the allowed key's ARN failed
                tried.append(f"{keyring.label}: {exc}")
                continue
            try:
                key = keyring.unwrap(edk, header.context)
            except (KMSError, ValueError) as exc:
                tried.append(f"EDK {i + 1} with {keyring.label}: {exc}")
                continue
            if len(key) != header.suite.key_len:
                wipe(key)
                tried.append(f"EDK {i + 1} with {keyring.label}: data key has the wrong length")
                continue
            if cache is not None:
                cache.put((header.suite.id, edk, ctx), key, keyring)
            return Unwrapped(key, i, keyring)
    providers = ", ".join(sorted({f"{e.provider_id}:{_info(e)}" for e in header.edks}))
    detail = "; ".join(tried) if tried else f"none of the {len(header.edks)} data keys ({providers}) is for a key you allowed"
    raise NoUsableKey(f"no allowed key can decrypt this message: {detail}")


def _info(edk: EncryptedDataKey) -> str:
    if edk.provider_id.startswith(("aws-kms", "kmstui-")):
        return edk.provider_info.decode("utf-8", "replace")
    name = edk.provider_info[:-20] if len(edk.provider_info) > 20 and edk.provider_info[-20:-12] == b"\0\0\0\x80\0\0\0\x0c" else edk.provider_info
    return name.decode("utf-8", "replace")
