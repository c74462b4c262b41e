"""The cryptographic operations of the local backend: Encrypt/Decrypt/ReEncrypt, data keys, random,
Sign/Verify, GenerateMac/VerifyMac and GetPublicKey, with KMS's usage and state checks."""

from __future__ import annotations

import os
from typing import Any

from kmstui.backends.local import blob as blobfmt
from kmstui.backends.local import keymaterial as km
from kmstui.backends.local.core import ENABLED, LocalCore, operation
from kmstui.errors import (IncorrectKeyException, InvalidCiphertextException, InvalidKeyUsageException,
                           KMSInternalException, KMSInvalidStateException, NotFoundException, UnsupportedOperationException,
                           ValidationException)

MAX_PLAINTEXT = 4096
MAX_CIPHERTEXT = 6144
_DATA_KEY_SPECS = {"AES_256": 32, "AES_128": 16}


def _bytes(name: str, value: Any, low: int, high: int) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ValidationException(f"{name} must be bytes")
    if not low <= len(value) <= high:
        raise ValidationException(f"{name} must be {low} to {high} bytes long (got {len(value)})")
    return bytes(value)


def _with_material(response: dict[str, Any], **ids: str | None) -> dict[str, Any]:
    """The response with the key-material id fields that apply (KMS lists them only for symmetric
    encryption keys), added in place: Decrypt calls this on its hot path."""
    for name, value in ids.items():
        if value is not None:
            response[name] = value
    return response


class CryptoMixin(LocalCore):
    def _usage(self, doc: dict[str, Any], usage: str, operation_name: str) -> None:
        if doc["KeyUsage"] != usage:
            raise InvalidKeyUsageException(
                f"{operation_name} needs a key with KeyUsage {usage}; key '{self.key_arn(doc['KeyId'])}' is "
                f"{doc['KeySpec']} with KeyUsage {doc['KeyUsage']}")

    def _material_of(self, doc: dict[str, Any], version: int | None = None) -> bytes:
        """The material of a version the key has; a version it never had is the ciphertext's fault, a version
        it has whose sealed row is gone is the file's (tampering)."""
        version = doc["Version"] if version is None else version
        if not doc["Version"]:
            raise KMSInvalidStateException(f"key '{self.key_arn(doc['KeyId'])}' has no key material (PendingImport)")
        if not 1 <= version <= doc["Version"]:
            raise InvalidCiphertextException(f"the ciphertext names version {version} of key "
                                             f"'{self.key_arn(doc['KeyId'])}', which does not exist")
        material = self._get_material(doc["KeyId"], version)
        if material is None:
            raise KMSInternalException(
                f"integrity check failed for key '{self.key_arn(doc['KeyId'])}': the sealed material of its "
                f"version {version} is missing from {self.path} (the HSM file was modified outside kmstui; "
                "restore it from a backup)")
        return material

    # -- encrypt side -----------------------------------------------------------------------------
    def _encrypt_with(self, doc: dict[str, Any], plaintext: bytes, context: Any, algorithm: str | None) -> tuple[bytes, str]:
        if doc["KeyState"] != ENABLED:
            self._check_usable(doc)
        if doc["KeyUsage"] != km.ENCRYPT_DECRYPT:
            self._usage(doc, km.ENCRYPT_DECRYPT, "Encrypt")
        algorithm = algorithm or "SYMMETRIC_DEFAULT"
        if doc["KeySpec"] != "SYMMETRIC_DEFAULT" or algorithm != "SYMMETRIC_DEFAULT":  # (the usual key: AES-GCM)
            spec = km.SPECS[doc["KeySpec"]]
            if spec.kind != "aes" or algorithm != "SYMMETRIC_DEFAULT":
                if algorithm not in spec.encryption_algorithms(doc["KeyUsage"]):
                    raise InvalidKeyUsageException(f"EncryptionAlgorithm {algorithm} is not valid for {spec.name} "
                                                   f"keys (use {', '.join(spec.encryption_algorithms(doc['KeyUsage']))})")
                if spec.kind == "rsa":
                    if context:
                        raise ValidationException("an encryption context cannot be used with asymmetric keys")
                    return km.rsa_encrypt(self._material_of(doc), algorithm, plaintext), algorithm
        version = doc["Version"]  # the current material, from memory once unsealed
        material = self._material.get((doc["KeyId"], version)) or self._material_of(doc, version)
        return km.seal_blob(material, doc["KeyId"], version, plaintext, blobfmt.canonical_context(context)), algorithm

    @operation("Encrypt", read_only=True)
    def encrypt(self, *, KeyId: str, Plaintext: bytes, EncryptionContext: dict | None = None,
                GrantTokens: list | None = None, EncryptionAlgorithm: str | None = None, DryRun: bool = False) -> dict:
        plaintext = _bytes("Plaintext", Plaintext, 1, MAX_PLAINTEXT)
        doc = self._key(KeyId, "kms:Encrypt")
        blob, algorithm = self._encrypt_with(doc, plaintext, EncryptionContext, EncryptionAlgorithm)
        return {"CiphertextBlob": blob, "KeyId": self.key_arn(doc["KeyId"]), "EncryptionAlgorithm": algorithm}

    def _data_key(self, KeyId: str, NumberOfBytes: int | None, KeySpec: str | None, context: Any, action: str):
        if (NumberOfBytes is None) == (KeySpec is None):
            raise ValidationException("give exactly one of KeySpec (AES_256, AES_128) or NumberOfBytes (1-1024)")
        if KeySpec is not None:
            if KeySpec not in _DATA_KEY_SPECS:
                raise ValidationException(f"KeySpec must be AES_256 or AES_128, not {KeySpec!r}")
            size = _DATA_KEY_SPECS[KeySpec]
        else:
            if not isinstance(NumberOfBytes, int) or not 1 <= NumberOfBytes <= 1024:
                raise ValidationException("NumberOfBytes must be between 1 and 1024")
            size = NumberOfBytes
        doc = self._key(KeyId, action)
        if doc["KeySpec"] != "SYMMETRIC_DEFAULT":
            raise InvalidKeyUsageException(f"data keys need a symmetric encryption key; "
                                           f"'{self.key_arn(doc['KeyId'])}' is {doc['KeySpec']}")
        plaintext = os.urandom(size)
        blob, _alg = self._encrypt_with(doc, plaintext, context, None)
        return doc, plaintext, blob

    @operation("GenerateDataKey", read_only=True)
    def generate_data_key(self, *, KeyId: str, EncryptionContext: dict | None = None, NumberOfBytes: int | None = None,
                          KeySpec: str | None = None, GrantTokens: list | None = None, DryRun: bool = False) -> dict:
        doc, plaintext, blob = self._data_key(KeyId, NumberOfBytes, KeySpec, EncryptionContext, "kms:GenerateDataKey")
        return {"CiphertextBlob": blob, "Plaintext": plaintext, "KeyId": self.key_arn(doc["KeyId"]),
                "KeyMaterialId": km.material_id(doc)}

    @operation("GenerateDataKeyWithoutPlaintext", read_only=True)
    def generate_data_key_without_plaintext(self, *, KeyId: str, EncryptionContext: dict | None = None,
                                            NumberOfBytes: int | None = None, KeySpec: str | None = None,
                                            GrantTokens: list | None = None, DryRun: bool = False) -> dict:
        doc, _plaintext, blob = self._data_key(KeyId, NumberOfBytes, KeySpec, EncryptionContext,
                                               "kms:GenerateDataKeyWithoutPlaintext")
        return {"CiphertextBlob": blob, "KeyId": self.key_arn(doc["KeyId"]), "KeyMaterialId": km.material_id(doc)}

    # -- decrypt side -----------------------------------------------------------------------------
    def _decrypt_with(self, blob: Any, context: Any, key_ref: str | None, algorithm: str | None,
                      action: str) -> tuple[dict[str, Any], bytes, str, int | None]:
        """(key doc, plaintext, algorithm, material version: None for RSA)."""
        data = _bytes("CiphertextBlob", blob, 1, MAX_CIPHERTEXT)
        named = self._key(key_ref, action) if key_ref is not None else None
        if named is not None and self._spec(named).kind == "rsa":
            self._check_usable(named)
            self._usage(named, km.ENCRYPT_DECRYPT, "Decrypt")
            algorithm = algorithm or "SYMMETRIC_DEFAULT"
            if algorithm not in self._spec(named).encryption_algorithms(km.ENCRYPT_DECRYPT):
                raise InvalidKeyUsageException(f"EncryptionAlgorithm {algorithm} is not valid for {named['KeySpec']} keys")
            if context:
                raise ValidationException("an encryption context cannot be used with asymmetric keys")
            return named, km.rsa_decrypt(self._material_of(named), algorithm, data), algorithm, None
        if algorithm not in (None, "SYMMETRIC_DEFAULT"):
            raise InvalidKeyUsageException(f"EncryptionAlgorithm {algorithm} needs the asymmetric key's KeyId")
        parsed = blobfmt.parse(data)
        if named is not None:
            if named["KeyId"] != parsed.key_id:
                raise IncorrectKeyException(
                    f"the ciphertext was made under key '{self.key_arn(parsed.key_id)}', not the key given "
                    f"('{self.key_arn(named['KeyId'])}')")
            doc = named
        else:
            try:
                doc = self._key(parsed.key_id, action)
            except NotFoundException:
                raise NotFoundException(f"the ciphertext was made under key '{self.key_arn(parsed.key_id)}', which "
                                        "does not exist in this HSM (deleted, or made by another store)") from None
        if doc["KeyState"] != ENABLED:
            self._check_usable(doc)
        if doc["KeyUsage"] != km.ENCRYPT_DECRYPT:
            self._usage(doc, km.ENCRYPT_DECRYPT, "Decrypt")
        plaintext = km.open_blob(self._material_of(doc, parsed.key_version), parsed, blobfmt.canonical_context(context))
        return doc, plaintext, "SYMMETRIC_DEFAULT", parsed.key_version

    @operation("Decrypt", read_only=True)
    def decrypt(self, *, CiphertextBlob: bytes, EncryptionContext: dict | None = None, GrantTokens: list | None = None,
                KeyId: str | None = None, EncryptionAlgorithm: str | None = None, DryRun: bool = False) -> dict:
        doc, plaintext, algorithm, version = self._decrypt_with(CiphertextBlob, EncryptionContext, KeyId,
                                                                EncryptionAlgorithm, "kms:Decrypt")
        return _with_material({"KeyId": self.key_arn(doc["KeyId"]), "Plaintext": plaintext,
                               "EncryptionAlgorithm": algorithm}, KeyMaterialId=km.material_id(doc, version))

    @operation("ReEncrypt", read_only=True)
    def re_encrypt(self, *, CiphertextBlob: bytes, DestinationKeyId: str, SourceEncryptionContext: dict | None = None,
                   SourceKeyId: str | None = None, DestinationEncryptionContext: dict | None = None,
                   SourceEncryptionAlgorithm: str | None = None, DestinationEncryptionAlgorithm: str | None = None,
                   GrantTokens: list | None = None, DryRun: bool = False) -> dict:
        src, plaintext, src_alg, src_version = self._decrypt_with(CiphertextBlob, SourceEncryptionContext, SourceKeyId,
                                                     SourceEncryptionAlgorithm, "kms:ReEncryptFrom")
        dest = self._key(DestinationKeyId, "kms:ReEncryptTo")
        blob, dest_alg = self._encrypt_with(dest, plaintext, DestinationEncryptionContext, DestinationEncryptionAlgorithm)
        return _with_material({"CiphertextBlob": blob, "SourceKeyId": self.key_arn(src["KeyId"]),
                               "KeyId": self.key_arn(dest["KeyId"]), "SourceEncryptionAlgorithm": src_alg,
                               "DestinationEncryptionAlgorithm": dest_alg},
                              SourceKeyMaterialId=km.material_id(src, src_version),
                              DestinationKeyMaterialId=km.material_id(dest))

    @operation("GenerateRandom", read_only=True)
    def generate_random(self, *, NumberOfBytes: int, CustomKeyStoreId: str | None = None) -> dict:
        if CustomKeyStoreId is not None:
            raise UnsupportedOperationException("custom key stores are not supported by local backends")
        if not isinstance(NumberOfBytes, int) or not 1 <= NumberOfBytes <= 1024:
            raise ValidationException("NumberOfBytes must be between 1 and 1024")
        self._authorize("kms:GenerateRandom")
        return {"Plaintext": os.urandom(NumberOfBytes)}

    # -- asymmetric and HMAC ----------------------------------------------------------------------
    def _usable_for(self, ref: str, action: str, usage: str, name: str) -> dict[str, Any]:
        doc = self._key(ref, action)
        self._check_usable(doc)
        self._usage(doc, usage, name)
        return doc

    @operation("Sign", read_only=True)
    def sign(self, *, KeyId: str, Message: bytes, SigningAlgorithm: str, MessageType: str = "RAW",
             GrantTokens: list | None = None, DryRun: bool = False) -> dict:
        message = _bytes("Message", Message, 1, MAX_PLAINTEXT)
        doc = self._usable_for(KeyId, "kms:Sign", km.SIGN_VERIFY, "Sign")
        signature = km.sign(self._spec(doc), self._material_of(doc), SigningAlgorithm, message, MessageType)
        return {"KeyId": self.key_arn(doc["KeyId"]), "Signature": signature, "SigningAlgorithm": SigningAlgorithm}

    @operation("Verify", read_only=True)
    def verify(self, *, KeyId: str, Message: bytes, Signature: bytes, SigningAlgorithm: str, MessageType: str = "RAW",
               GrantTokens: list | None = None, DryRun: bool = False) -> dict:
        message = _bytes("Message", Message, 1, MAX_PLAINTEXT)
        signature = _bytes("Signature", Signature, 1, 6144)
        doc = self._usable_for(KeyId, "kms:Verify", km.SIGN_VERIFY, "Verify")
        km.verify(self._spec(doc), self._material_of(doc), SigningAlgorithm, message, MessageType, signature)
        return {"KeyId": self.key_arn(doc["KeyId"]), "SignatureValid": True, "SigningAlgorithm": SigningAlgorithm}

    @operation("GenerateMac", read_only=True)
    def generate_mac(self, *, KeyId: str, Message: bytes, MacAlgorithm: str, GrantTokens: list | None = None,
                     DryRun: bool = False) -> dict:
        message = _bytes("Message", Message, 1, MAX_PLAINTEXT)
        doc = self._usable_for(KeyId, "kms:GenerateMac", km.GENERATE_VERIFY_MAC, "GenerateMac")
        mac = km.generate_mac(self._spec(doc), self._material_of(doc), MacAlgorithm, message)
        return {"Mac": mac, "MacAlgorithm": MacAlgorithm, "KeyId": self.key_arn(doc["KeyId"])}

    @operation("VerifyMac", read_only=True)
    def verify_mac(self, *, KeyId: str, Message: bytes, MacAlgorithm: str, Mac: bytes, GrantTokens: list | None = None,
                   DryRun: bool = False) -> dict:
        message = _bytes("Message", Message, 1, MAX_PLAINTEXT)
        mac = _bytes("Mac", Mac, 1, 64)
        doc = self._usable_for(KeyId, "kms:VerifyMac", km.GENERATE_VERIFY_MAC, "VerifyMac")
        km.verify_mac(self._spec(doc), self._material_of(doc), MacAlgorithm, message, mac)
        return {"KeyId": self.key_arn(doc["KeyId"]), "MacValid": True, "MacAlgorithm": MacAlgorithm}

    @operation("GetPublicKey", read_only=True)
    def get_public_key(self, *, KeyId: str, GrantTokens: list | None = None) -> dict:
        doc = self._key(KeyId, "kms:GetPublicKey")
        spec = self._spec(doc)
        if spec.kind not in ("rsa", "ecc"):
            raise UnsupportedOperationException(f"GetPublicKey needs an asymmetric key; '{self.key_arn(doc['KeyId'])}' "
                                                f"is {doc['KeySpec']}")
        self._check_usable(doc)
        out = {"KeyId": self.key_arn(doc["KeyId"]), "PublicKey": km.public_key_der(spec, self._material_of(doc)),
               "CustomerMasterKeySpec": spec.name, "KeySpec": spec.name, "KeyUsage": doc["KeyUsage"]}
        for field, values in (("EncryptionAlgorithms", spec.encryption_algorithms(doc["KeyUsage"])),
                              ("SigningAlgorithms", spec.signing_algorithms(doc["KeyUsage"])),
                              ("KeyAgreementAlgorithms", spec.key_agreement_algorithms(doc["KeyUsage"]))):
            if values:  # "This field is present only when the KMS key has a KeyUsage value of ..."
                out[field] = values
        return out

    @operation("DeriveSharedSecret", read_only=True)
    def derive_shared_secret(self, *, KeyId: str, KeyAgreementAlgorithm: str, PublicKey: bytes,
                             GrantTokens: list | None = None, DryRun: bool = False,
                             Recipient: dict | None = None) -> dict:
        """ECDH with a KEY_AGREEMENT key's private key and a peer's public key; returns the raw secret."""
        if Recipient is not None:
            raise UnsupportedOperationException("Recipient (a Nitro attestation document) is not supported by local "
                                                "backends")
        if KeyAgreementAlgorithm != "ECDH":
            raise ValidationException(f"KeyAgreementAlgorithm must be ECDH, not {KeyAgreementAlgorithm!r}")
        public_key = _bytes("PublicKey", PublicKey, 1, 8192)
        doc = self._usable_for(KeyId, "kms:DeriveSharedSecret", km.KEY_AGREEMENT, "DeriveSharedSecret")
        secret = km.derive_shared_secret(self._spec(doc), self._material_of(doc), public_key)
        return {"KeyId": self.key_arn(doc["KeyId"]), "SharedSecret": secret, "KeyAgreementAlgorithm": "ECDH",
                "KeyOrigin": doc["Origin"]}
