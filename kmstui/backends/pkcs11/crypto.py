"""The cryptographic half of the PKCS#11 backend: Encrypt/Decrypt/ReEncrypt, data keys, random bytes,
Sign/Verify and GetPublicKey, all computed on the token.

Symmetric ciphertexts use the local HSM's blob layout (kmstui.backends.local.blob), so `inspect` reads them
and `decrypt` needs no key id: AES-256-GCM on the token, a random 12-byte IV, AAD = blob header + canonical
encryption context. The encrypt path is kept short on purpose: the wrapper must stay within a few
microseconds of a bare python-pkcs11 call.
"""

from __future__ import annotations

import os
from typing import Any

import pkcs11

from kmstui.backends.base import Backend
from kmstui.backends.local import blob
from kmstui.backends.pkcs11 import keyspecs
from kmstui.backends.pkcs11.token import LOCK
from kmstui.errors import (
    DisabledException, IncorrectKeyException, InvalidCiphertextException, InvalidKeyUsageException,
    KeyUnavailableException, KMSError, KMSInternalException, KMSInvalidMacException, KMSInvalidSignatureException,
    LimitExceededException, UnsupportedOperationException, ValidationException,
)

ENC = "ENCRYPT_DECRYPT"
_pack_header, _MAGIC, _VERSION = blob.HEADER.pack, blob.MAGIC, blob.VERSION
_AES_GCM = pkcs11.Mechanism.AES_GCM
_GCMParams = pkcs11.GCMParams
SIGN = "SIGN_VERIFY"
DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}


def translate(exc: Exception, action: str) -> KMSError:
    """A python-pkcs11 exception as the KMS-named error a user can act on."""
    import pkcs11.exceptions as e

    name = type(exc).__name__
    if isinstance(exc, (e.TokenNotPresent, e.DeviceRemoved, e.SessionClosed, e.SessionHandleInvalid,
                        e.UserNotLoggedIn, e.DeviceError)):
        return KeyUnavailableException(f"the token is not available while {action} ({name}); reconnect it and retry")
    if isinstance(exc, e.DeviceMemory):
        return LimitExceededException(f"the token is out of memory while {action}")
    # CKR_KEY_FUNCTION_NOT_PERMITTED (python-pkcs11 has no class for it); an AttributeError means python-pkcs11
    # found the object with that usage flag off and gave it no encrypt/sign method.
    if "0x68" in str(exc) or isinstance(exc, AttributeError):
        return DisabledException(f"the token refused the key while {action} (its usage flag is off: the key was "
                                 "disabled, perhaps by another process)")
    return KMSInternalException(f"the token failed while {action} ({name})")


_AAD_CACHE: dict[tuple, bytes] = {}
_AAD_CACHE_MAX = 256


def _context_aad(context: dict[str, str] | None) -> bytes:
    """blob.canonical_context, memoised: JSON-encoding the same few contexts again and again is most of the
    wrapper's cost per call. Encryption contexts are not secret (KMS logs them in CloudTrail)."""
    if not context:
        return b""
    try:
        cache_key = tuple(context.items())
        aad = _AAD_CACHE.get(cache_key)
    except (AttributeError, TypeError):  # not a dict of hashables: let canonical_context explain
        return blob.canonical_context(context)
    if aad is None:
        aad = blob.canonical_context(context)
        if len(_AAD_CACHE) >= _AAD_CACHE_MAX:
            _AAD_CACHE.clear()
        _AAD_CACHE[cache_key] = aad
    return aad


def _data(value: Any, what: str, limit: int = 4096) -> bytes:
    if type(value) is bytes and 0 < len(value) <= limit:
        return value
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ValidationException(f"{what} must be bytes")
    if not 1 <= len(value) <= limit:
        raise ValidationException(f"{what} must be 1 to {limit} bytes, not {len(value)}")
    return bytes(value)


class CryptoOps(Backend):
    """Mixin for Pkcs11Backend (which provides _usable, _entry, session and _p11)."""

    # -- symmetric ----------------------------------------------------------------------------------------
    def _seal(self, entry: Any, plaintext: bytes | None, context: dict[str, str] | None,
              random_bits: int = 0) -> tuple[bytes, bytes]:
        """(blob, plaintext); with plaintext None, the plaintext is `random_bits` from the token's RNG, drawn
        under the same lock hold as the encryption (GenerateDataKey is one round trip to the token)."""
        version = entry.rec.version
        iv = os.urandom(12)
        header = _pack_header(_MAGIC, _VERSION, entry.id_bytes, version, iv)
        param = _GCMParams(iv, header + _context_aad(context))
        try:
            with LOCK:
                if plaintext is None:
                    plaintext = self.session.generate_random(random_bits)
                body = entry.secrets[version].encrypt(plaintext, mechanism=_AES_GCM, mechanism_param=param)
        except (pkcs11.PKCS11Error, AttributeError) as exc:
            raise translate(exc, "encrypting") from None
        return header + body, plaintext

    def _open(self, ciphertext: Any, context: dict[str, str] | None, key_id: str | None) -> tuple[Any, bytes]:
        parsed = blob.parse(ciphertext)
        entry = self._usable(parsed.key_id, ENC)
        if key_id is not None and self._entry(key_id) is not entry:
            raise IncorrectKeyException(f"the ciphertext was encrypted under {entry.arn}, not {key_id}")
        key = entry.secrets.get(parsed.key_version)
        if key is None:
            raise InvalidCiphertextException(f"key material version {parsed.key_version} of {entry.arn} is not on "
                                             "the token")
        p11 = self._p11
        param = p11.GCMParams(parsed.iv, parsed.header + _context_aad(context))
        try:
            with LOCK:
                plaintext = key.decrypt(parsed.body, mechanism=p11.Mechanism.AES_GCM, mechanism_param=param)
        except (p11.exceptions.GeneralError, p11.exceptions.EncryptedDataInvalid, p11.exceptions.DataInvalid,
                p11.exceptions.EncryptedDataLenRange):
            # SoftHSM reports a failed GCM tag as CKR_GENERAL_ERROR.
            raise InvalidCiphertextException("the ciphertext or its encryption context is wrong (authentication "
                                             "failed)") from None
        except (p11.PKCS11Error, AttributeError) as exc:
            raise translate(exc, "decrypting") from None
        return entry, plaintext

    def encrypt(self, *, KeyId: str, Plaintext: bytes, EncryptionContext: dict[str, str] | None = None,
                GrantTokens: list[str] | None = None, EncryptionAlgorithm: str | None = None,
                DryRun: bool = False) -> dict[str, Any]:
        entry = self._usable(KeyId, ENC)
        plaintext = _data(Plaintext, "Plaintext")
        if entry.spec.kind != "aes":
            return self._rsa_encrypt(entry, plaintext, EncryptionAlgorithm)
        if EncryptionAlgorithm not in (None, keyspecs.SYMMETRIC):
            raise InvalidKeyUsageException(f"{EncryptionAlgorithm} is not valid for a symmetric key")
        return {"CiphertextBlob": self._seal(entry, plaintext, EncryptionContext)[0], "KeyId": entry.arn,
                "EncryptionAlgorithm": keyspecs.SYMMETRIC}

    def decrypt(self, *, CiphertextBlob: bytes, EncryptionContext: dict[str, str] | None = None,
                KeyId: str | None = None, GrantTokens: list[str] | None = None,
                EncryptionAlgorithm: str | None = None, DryRun: bool = False, **_ignored: Any) -> dict[str, Any]:
        if KeyId is not None and EncryptionAlgorithm not in (None, keyspecs.SYMMETRIC):
            entry = self._usable(KeyId, ENC)
            return self._rsa_decrypt(entry, CiphertextBlob, EncryptionAlgorithm)
        entry, plaintext = self._open(CiphertextBlob, EncryptionContext, KeyId)
        return {"KeyId": entry.arn, "Plaintext": plaintext, "EncryptionAlgorithm": keyspecs.SYMMETRIC}

    def re_encrypt(self, *, CiphertextBlob: bytes, DestinationKeyId: str,
                   SourceEncryptionContext: dict[str, str] | None = None, SourceKeyId: str | None = None,
                   DestinationEncryptionContext: dict[str, str] | None = None,
                   SourceEncryptionAlgorithm: str | None = None, DestinationEncryptionAlgorithm: str | None = None,
                   GrantTokens: list[str] | None = None, DryRun: bool = False) -> dict[str, Any]:
        for algorithm in (SourceEncryptionAlgorithm, DestinationEncryptionAlgorithm):
            if algorithm not in (None, keyspecs.SYMMETRIC):
                raise UnsupportedOperationException("ReEncrypt with RSA keys is not supported by pkcs11 backends")
        source, plaintext = self._open(CiphertextBlob, SourceEncryptionContext, SourceKeyId)
        dest = self._usable(DestinationKeyId, ENC)
        if dest.spec.kind != "aes":
            raise UnsupportedOperationException("ReEncrypt to an RSA key is not supported by pkcs11 backends")
        return {"CiphertextBlob": self._seal(dest, plaintext, DestinationEncryptionContext)[0],
                "SourceKeyId": source.arn, "KeyId": dest.arn, "SourceEncryptionAlgorithm": keyspecs.SYMMETRIC,
                "DestinationEncryptionAlgorithm": keyspecs.SYMMETRIC}

    def _random(self, nbytes: int) -> bytes:
        try:
            with LOCK:
                return self.session.generate_random(nbytes * 8)
        except self._p11.PKCS11Error as exc:
            raise translate(exc, "generating random bytes") from None

    def _data_key(self, key_id: str, key_spec: str | None, nbytes: int | None,
                  context: dict[str, str] | None) -> tuple[Any, bytes, bytes]:
        entry = self._usable(key_id, ENC)
        if entry.spec.kind != "aes":
            raise InvalidKeyUsageException(f"{entry.arn} is not a symmetric key; data keys need one")
        if nbytes is None:
            nbytes = DATA_KEY_BYTES.get(key_spec)  # type: ignore[arg-type]
            if nbytes is None:
                raise ValidationException(f"KeySpec must be AES_256 or AES_128, not {key_spec!r}" if key_spec else
                                          "give KeySpec (AES_256, AES_128) or NumberOfBytes")
        elif key_spec is not None:
            raise ValidationException("give KeySpec or NumberOfBytes, not both")
        elif not 1 <= int(nbytes) <= 1024:
            raise ValidationException("NumberOfBytes must be between 1 and 1024")
        blob_, plaintext = self._seal(entry, None, context, int(nbytes) * 8)
        return entry, plaintext, blob_

    def generate_data_key(self, *, KeyId: str, EncryptionContext: dict[str, str] | None = None,
                          NumberOfBytes: int | None = None, KeySpec: str | None = None,
                          GrantTokens: list[str] | None = None, DryRun: bool = False,
                          **_ignored: Any) -> dict[str, Any]:
        entry, plaintext, ciphertext = self._data_key(KeyId, KeySpec, NumberOfBytes, EncryptionContext)
        return {"CiphertextBlob": ciphertext, "Plaintext": plaintext, "KeyId": entry.arn}

    def generate_data_key_without_plaintext(self, *, KeyId: str, EncryptionContext: dict[str, str] | None = None,
                                            KeySpec: str | None = None, NumberOfBytes: int | None = None,
                                            GrantTokens: list[str] | None = None,
                                            DryRun: bool = False) -> dict[str, Any]:
        entry, _plaintext, ciphertext = self._data_key(KeyId, KeySpec, NumberOfBytes, EncryptionContext)
        return {"CiphertextBlob": ciphertext, "KeyId": entry.arn}

    def generate_random(self, *, NumberOfBytes: int, CustomKeyStoreId: str | None = None,
                        **_ignored: Any) -> dict[str, Any]:
        if CustomKeyStoreId is not None:
            raise UnsupportedOperationException("custom key stores are not supported by pkcs11 backends")
        if not 1 <= int(NumberOfBytes) <= 1024:
            raise ValidationException("NumberOfBytes must be between 1 and 1024")
        return {"Plaintext": self._random(int(NumberOfBytes))}

    # -- RSA encryption (RSAES_OAEP_SHA_1: the only OAEP hash SoftHSM accepts) ----------------------------
    def _oaep(self, algorithm: str | None) -> tuple[Any, Any]:
        if algorithm != "RSAES_OAEP_SHA_1":
            raise InvalidKeyUsageException(f"EncryptionAlgorithm must be RSAES_OAEP_SHA_1 for RSA keys on a "
                                           f"PKCS#11 token, not {algorithm}")
        p11 = self._p11
        return p11.Mechanism.RSA_PKCS_OAEP, (p11.Mechanism.SHA_1, p11.MGF.SHA1, None)

    def _rsa_encrypt(self, entry: Any, plaintext: bytes, algorithm: str | None) -> dict[str, Any]:
        mech, param = self._oaep(algorithm)
        try:
            with LOCK:
                ct = entry.public.encrypt(plaintext, mechanism=mech, mechanism_param=param)
        except self._p11.exceptions.DataLenRange:
            raise ValidationException(f"Plaintext is too long for {entry.rec.key_spec} with OAEP") from None
        except (self._p11.PKCS11Error, AttributeError) as exc:
            raise translate(exc, "encrypting") from None
        return {"CiphertextBlob": ct, "KeyId": entry.arn, "EncryptionAlgorithm": algorithm}

    def _rsa_decrypt(self, entry: Any, ciphertext: bytes, algorithm: str | None) -> dict[str, Any]:
        if entry.spec.kind != "rsa":
            raise InvalidKeyUsageException(f"{algorithm} is not valid for {entry.rec.key_spec}")
        mech, param = self._oaep(algorithm)
        try:
            with LOCK:
                pt = entry.private.decrypt(_data(ciphertext, "CiphertextBlob", 1024), mechanism=mech,
                                           mechanism_param=param)
        except (self._p11.exceptions.EncryptedDataInvalid, self._p11.exceptions.EncryptedDataLenRange,
                self._p11.exceptions.GeneralError):
            raise InvalidCiphertextException("the ciphertext does not decrypt with this key") from None
        except (self._p11.PKCS11Error, AttributeError) as exc:
            raise translate(exc, "decrypting") from None
        return {"KeyId": entry.arn, "Plaintext": pt, "EncryptionAlgorithm": algorithm}

    # -- signatures ---------------------------------------------------------------------------------------
    def _sig_mechanism(self, entry: Any, algorithm: str, digest: bytes, hash_name: str) -> tuple[bytes, Any, Any]:
        """(data to hand the token, mechanism, parameter) for a client-side digest."""
        p11 = self._p11
        if entry.spec.kind == "ec":
            return digest, p11.Mechanism.ECDSA, None
        if algorithm.startswith("RSASSA_PKCS1_V1_5"):
            return keyspecs.DIGEST_INFO[hash_name] + digest, p11.Mechanism.RSA_PKCS, None
        bits = hash_name[4:]
        param = (getattr(p11.Mechanism, f"SHA{bits}"), getattr(p11.MGF, f"SHA{bits}"), len(digest))
        return digest, p11.Mechanism.RSA_PKCS_PSS, param

    def sign(self, *, KeyId: str, Message: bytes, SigningAlgorithm: str, MessageType: str | None = None,
             GrantTokens: list[str] | None = None, DryRun: bool = False) -> dict[str, Any]:
        entry = self._usable(KeyId, SIGN)
        message = _data(Message, "Message", 1 << 30)
        hash_name, digest = keyspecs.digest_for(SigningAlgorithm, entry.spec, message, MessageType)
        data, mech, param = self._sig_mechanism(entry, SigningAlgorithm, digest, hash_name)
        try:
            with LOCK:
                signature = entry.private.sign(data, mechanism=mech, mechanism_param=param)
        except (self._p11.PKCS11Error, AttributeError) as exc:
            raise translate(exc, "signing") from None
        if entry.spec.kind == "ec":
            signature = keyspecs.ecdsa_to_der(signature)
        return {"KeyId": entry.arn, "Signature": signature, "SigningAlgorithm": SigningAlgorithm}

    def verify(self, *, KeyId: str, Message: bytes, Signature: bytes, SigningAlgorithm: str,
               MessageType: str | None = None, GrantTokens: list[str] | None = None,
               DryRun: bool = False) -> dict[str, Any]:
        entry = self._usable(KeyId, SIGN)
        message = _data(Message, "Message", 1 << 30)
        signature = _data(Signature, "Signature", 8192)
        hash_name, digest = keyspecs.digest_for(SigningAlgorithm, entry.spec, message, MessageType)
        data, mech, param = self._sig_mechanism(entry, SigningAlgorithm, digest, hash_name)
        if entry.spec.kind == "ec":
            signature = keyspecs.ecdsa_from_der(signature, entry.spec)
        try:
            with LOCK:
                valid = signature is not None and entry.public.verify(data, signature, mechanism=mech,
                                                                      mechanism_param=param)
        except (self._p11.PKCS11Error, AttributeError) as exc:
            raise translate(exc, "verifying") from None
        if not valid:
            raise KMSInvalidSignatureException("the signature does not verify with this key and algorithm")
        return {"KeyId": entry.arn, "SignatureValid": True, "SigningAlgorithm": SigningAlgorithm}

    # -- HMAC ---------------------------------------------------------------------------------------------
    def _mac(self, key_id: str, message: Any, algorithm: str) -> tuple[Any, bytes, Any]:
        entry = self._usable(key_id, "GENERATE_VERIFY_MAC")
        bits = keyspecs.mac_algorithm(entry.spec, algorithm)
        return entry, _data(message, "Message"), getattr(self._p11.Mechanism, f"SHA{bits}_HMAC")

    def generate_mac(self, *, KeyId: str, Message: bytes, MacAlgorithm: str, GrantTokens: list[str] | None = None,
                     DryRun: bool = False) -> dict[str, Any]:
        entry, message, mech = self._mac(KeyId, Message, MacAlgorithm)
        try:
            with LOCK:
                mac = entry.secrets[1].sign(message, mechanism=mech)
        except (self._p11.PKCS11Error, AttributeError) as exc:
            raise translate(exc, "computing the MAC") from None
        return {"Mac": mac, "MacAlgorithm": MacAlgorithm, "KeyId": entry.arn}

    def verify_mac(self, *, KeyId: str, Message: bytes, Mac: bytes, MacAlgorithm: str,
                   GrantTokens: list[str] | None = None, DryRun: bool = False) -> dict[str, Any]:
        entry, message, mech = self._mac(KeyId, Message, MacAlgorithm)
        mac = _data(Mac, "Mac", 64)
        try:
            with LOCK:
                valid = entry.secrets[1].verify(message, mac, mechanism=mech)
        except (self._p11.PKCS11Error, AttributeError) as exc:
            raise translate(exc, "verifying the MAC") from None
        if not valid:
            raise KMSInvalidMacException("the MAC does not verify with this key and algorithm")
        return {"KeyId": entry.arn, "MacValid": True, "MacAlgorithm": MacAlgorithm}

    def get_public_key(self, *, KeyId: str, GrantTokens: list[str] | None = None) -> dict[str, Any]:
        entry = self._entry(KeyId)
        if entry.spec.kind in ("aes", "hmac"):
            raise UnsupportedOperationException(f"{entry.arn} is a symmetric key; it has no public key")
        if entry.rec.state != "Enabled":
            raise DisabledException(f"{entry.arn} is {entry.rec.state}")
        A = self._p11.Attribute
        try:
            with LOCK:
                if entry.spec.kind == "ec":
                    der = self._p11.util.ec.encode_ec_public_key(entry.public)
                else:
                    n, e = entry.public[A.MODULUS], entry.public[A.PUBLIC_EXPONENT]
        except self._p11.PKCS11Error as exc:
            raise translate(exc, "reading the public key") from None
        if entry.spec.kind == "rsa":
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

            der = RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big")).public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        md = self._metadata(entry)
        out = {"KeyId": entry.arn, "PublicKey": der, "CustomerMasterKeySpec": entry.rec.key_spec,
               "KeySpec": entry.rec.key_spec, "KeyUsage": entry.rec.key_usage}
        for field in ("SigningAlgorithms", "EncryptionAlgorithms"):
            if field in md:
                out[field] = md[field]
        return out
