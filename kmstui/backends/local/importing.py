"""Bring-your-own-key as KMS does it: GetParametersForImport hands out an RSA wrapping public key and an
import token (valid 24 hours); ImportKeyMaterial unwraps the material with the matching private key. A key
accepts only the material it first received (compared through a keyed fingerprint), as KMS requires.

cryptography's RSA, serialization and key-wrap modules are imported by the operations here, not with the
module: the local backend is built from every mixin, and other commands' start-up need not load them."""

from __future__ import annotations

import hmac
import json
import os
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes

from kmstui.backends.local import keymaterial as km
from kmstui.backends.local.core import DAY, PENDING_DELETION, PENDING_IMPORT, ENABLED, LocalCore, epoch_of, operation, ts
from kmstui.errors import (ExpiredImportTokenException, IncorrectKeyMaterialException, InvalidCiphertextException,
                           InvalidImportTokenException, KMSInternalException, KMSInvalidStateException,
                           UnsupportedOperationException, ValidationException)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import padding

WRAPPING_ALGORITHMS = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256")
WRAPPING_KEY_SPECS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
TOKEN_TTL = DAY


def _oaep(algorithm: str) -> padding.OAEP:
    from cryptography.hazmat.primitives.asymmetric import padding

    h = hashes.SHA256() if algorithm.endswith("SHA_256") else hashes.SHA1()
    return padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)


def _import_aad(token_id: str, key_id: str, expires: float, meta: bytes) -> bytes:
    """AAD of a sealed wrapping key: its token, key, expiry and algorithm, so none can be edited in the file."""
    return f"kmstui-import\0{token_id}\0{key_id}\0{float(expires)!r}\0".encode() + meta


class ImportMixin(LocalCore):
    def _external(self, ref: str, action: str) -> dict[str, Any]:
        doc = self._key(ref, action, allow_alias=False)
        if doc["Origin"] != "EXTERNAL":
            raise UnsupportedOperationException(f"key '{self.key_arn(doc['KeyId'])}' was not created with Origin "
                                                "EXTERNAL; only such keys take imported material")
        if doc["KeyState"] == PENDING_DELETION:
            raise KMSInvalidStateException(f"key '{self.key_arn(doc['KeyId'])}' is pending deletion")
        return doc

    @operation("GetParametersForImport", read_only=True)
    def get_parameters_for_import(self, *, KeyId: str, WrappingAlgorithm: str, WrappingKeySpec: str) -> dict:
        if WrappingAlgorithm not in WRAPPING_ALGORITHMS:
            raise ValidationException(f"WrappingAlgorithm must be one of {', '.join(WRAPPING_ALGORITHMS)}")
        if WrappingKeySpec not in WRAPPING_KEY_SPECS:
            raise ValidationException(f"WrappingKeySpec must be one of {', '.join(WRAPPING_KEY_SPECS)}")
        doc = self._external(KeyId, "kms:GetParametersForImport")
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        private = rsa.generate_private_key(public_exponent=65537, key_size=WRAPPING_KEY_SPECS[WrappingKeySpec])
        der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        token_id = os.urandom(16).hex()
        expires = self.clock() + TOKEN_TTL
        nonce = os.urandom(12)
        meta = json.dumps({"WrappingAlgorithm": WrappingAlgorithm, "WrappingKeySpec": WrappingKeySpec}).encode()
        sealed = nonce + self._seal.encrypt(nonce, der, _import_aad(token_id, doc["KeyId"], expires, meta))
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM import_params WHERE expires < ?", (self.clock(),))
            conn.execute("INSERT INTO import_params(token_id, key_id, expires, doc, sealed) VALUES (?,?,?,?,?)",
                         (token_id, doc["KeyId"], expires, meta, sealed))
        token = bytes.fromhex(token_id) + self.store.mac("import-token", f"{token_id}/{doc['KeyId']}", b"")[:16]
        public = private.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"KeyId": self.key_arn(doc["KeyId"]), "ImportToken": token, "PublicKey": public,
                "ParametersValidTo": ts(expires)}

    def _unwrap(self, key_id: str, token: Any, wrapped: bytes) -> bytes:
        if not isinstance(token, (bytes, bytearray)) or len(token) != 32:
            raise InvalidImportTokenException("the import token is not valid")
        token_id = bytes(token[:16]).hex()
        expected = self.store.mac("import-token", f"{token_id}/{key_id}", b"")[:16]
        if not hmac.compare_digest(expected, bytes(token[16:])):
            raise InvalidImportTokenException("the import token is not valid for this key")
        row = self.store.conn.execute("SELECT expires, doc, sealed FROM import_params WHERE token_id=? AND key_id=?",
                                      (token_id, key_id)).fetchone()
        if row is None or row[0] < self.clock():
            raise ExpiredImportTokenException("the import token has expired; get new import parameters")
        sealed = bytes(row[2])
        try:
            der = self._seal.decrypt(sealed[:12], sealed[12:], _import_aad(token_id, key_id, row[0], bytes(row[1])))
        except (InvalidTag, ValueError):
            raise KMSInternalException(
                f"integrity check failed for the import parameters of key '{self.key_arn(key_id)}' in {self.path}: "
                "the HSM file was modified outside kmstui; get new import parameters") from None
        params = json.loads(row[1])
        from cryptography.hazmat.primitives import keywrap, serialization

        private = serialization.load_der_private_key(der, password=None)
        algorithm = params["WrappingAlgorithm"]
        try:
            if algorithm.startswith("RSAES_OAEP"):
                return private.decrypt(wrapped, _oaep(algorithm))
            size = private.key_size // 8
            aes_key = private.decrypt(wrapped[:size], _oaep(algorithm))
            return keywrap.aes_key_unwrap_with_padding(aes_key, wrapped[size:])
        except (ValueError, keywrap.InvalidUnwrap):
            raise InvalidCiphertextException(
                f"the encrypted key material could not be unwrapped with these import parameters ({algorithm})") from None

    @operation("ImportKeyMaterial")
    def import_key_material(self, *, KeyId: str, ImportToken: bytes, EncryptedKeyMaterial: bytes,
                            ExpirationModel: str | None = None, ValidTo: Any = None, **_ignored: Any) -> dict:
        model = ExpirationModel or ("KEY_MATERIAL_EXPIRES" if ValidTo is not None else "KEY_MATERIAL_DOES_NOT_EXPIRE")
        if model not in ("KEY_MATERIAL_EXPIRES", "KEY_MATERIAL_DOES_NOT_EXPIRE"):
            raise ValidationException("ExpirationModel must be KEY_MATERIAL_EXPIRES or KEY_MATERIAL_DOES_NOT_EXPIRE")
        if (model == "KEY_MATERIAL_EXPIRES") != (ValidTo is not None):
            raise ValidationException("ValidTo is required with KEY_MATERIAL_EXPIRES and not allowed otherwise")
        valid_to = epoch_of(ValidTo) if ValidTo is not None else None
        if valid_to is not None and valid_to <= self.clock():
            raise ValidationException("ValidTo must be in the future")
        if not isinstance(EncryptedKeyMaterial, (bytes, bytearray)) or not EncryptedKeyMaterial:
            raise ValidationException("EncryptedKeyMaterial must be bytes")
        with self.store.transaction():
            doc = self._external(KeyId, "kms:ImportKeyMaterial")
            doc = dict(doc, Rotation=dict(doc["Rotation"]))
            material = self._unwrap(doc["KeyId"], bytes(ImportToken), bytes(EncryptedKeyMaterial))
            spec = self._spec(doc)
            if len(material) != spec.size:
                raise IncorrectKeyMaterialException(
                    f"{spec.name} keys need {spec.size * 8}-bit key material; the imported material is {len(material) * 8} bits")
            fingerprint = self.store.mac("material-fingerprint", doc["KeyId"], material).hex()
            if doc.get("MaterialFingerprint") and not hmac.compare_digest(doc["MaterialFingerprint"], fingerprint):
                raise IncorrectKeyMaterialException(
                    f"key '{self.key_arn(doc['KeyId'])}' already had different key material; a key only accepts its "
                    "original material again")
            self._put_material(doc["KeyId"], 1, material)
            self._material.pop((doc["KeyId"], 1), None)
            doc.update(MaterialFingerprint=fingerprint, Version=1, ExpirationModel=model, ValidTo=valid_to)
            if doc["KeyState"] == PENDING_IMPORT:
                doc["KeyState"] = ENABLED
            self._save(doc)
        return {"KeyId": self.key_arn(doc["KeyId"]), "KeyMaterialId": km.material_id(doc)}

    @operation("DeleteImportedKeyMaterial")
    def delete_imported_key_material(self, *, KeyId: str, **_ignored: Any) -> dict:
        with self.store.transaction():
            doc = dict(self._external(KeyId, "kms:DeleteImportedKeyMaterial"))
            deleted = km.material_id(doc)
            self._drop_material(doc["KeyId"])
            doc.update(KeyState=PENDING_IMPORT, Version=0, ValidTo=None)
            self._save(doc)
        return {"KeyId": self.key_arn(doc["KeyId"]), **({"KeyMaterialId": deleted} if deleted else {})}
