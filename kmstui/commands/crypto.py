"""Cryptographic operations with backend keys: encrypt, decrypt, re-encrypt, data keys, random bytes,
signatures and MACs.

Input comes as text on the line or raw bytes (`--in PATH|-`); output is printed with binary fields
base64-encoded (as the AWS CLI does) or written raw with `--out`. Every argument is checked before the
backend is called, so a mistake never costs a backend call or leaves a file behind. Plaintext data keys
are secrets: shown only with --show-plaintext, written only where --out says, files 0600.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from kmstui.commands.args import (CONTEXT, FORCE, GRANT_TOKENS, IN, KEY_ID, OUT, PLAINTEXT, check_writable,
                                  optional, parse_context, read_file, read_input, without,
                                  write_output)
from kmstui.commands.registry import Arg, Result
from kmstui.commands.values import BASE64, BYTES
from kmstui.errors import (InvalidCiphertextException, InvalidKeyUsageException, KMSInvalidMacException,
                           KMSInvalidSignatureException, UsageError, ValidationException)

ENCRYPTION_ALGORITHMS = ("SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE")
SIGNING_ALGORITHMS = ("RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
                      "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
                      "ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512", "SM2DSA")
MAC_ALGORITHMS = ("HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512")
MAX_RAW_MESSAGE = 4096  # KMS's limit for Sign/Verify messages and GenerateMac input

BLOB_NOTE = "Without --out, binary fields are printed base64-encoded; with --out they are written as raw bytes."
CIPHERTEXT = Arg("--ciphertext-blob", "the ciphertext: base64 text, or fileb://PATH for raw bytes (or --in PATH)",
                 metavar="B64", kind=BASE64)
ENCRYPTION_ALGORITHM = Arg("--encryption-algorithm", "algorithm (default SYMMETRIC_DEFAULT; asymmetric keys "
                           "must name one)", choices=ENCRYPTION_ALGORITHMS)
MESSAGE = Arg("--message", "the message: TEXT (its UTF-8 bytes), fileb://PATH (raw bytes) or file://PATH; "
              "fileb:///dev/stdin or --in - read standard input (see 'help values'; never kept in history)",
              metavar="TEXT", kind=BYTES, secret=True)
MESSAGE_TYPE = Arg("--message-type", "RAW message (default) or a DIGEST you computed", choices=("RAW", "DIGEST"),
                   default="RAW")
SIGNING_ALGORITHM = Arg("--signing-algorithm", "signature algorithm (default: the key's only one)",
                        choices=SIGNING_ALGORITHMS)
HASH_LOCALLY = Arg("--hash-locally", "hash a RAW message here with the algorithm's hash and send the DIGEST "
                   "(for messages over KMS's 4096-byte limit)", flag=True)
CHECK = Arg("--check", "print the answer (valid true/false) instead of failing, and exit 1 when it is false",
            flag=True)
MAC_ALGORITHM = Arg("--mac-algorithm", "MAC algorithm (default: the one the HMAC key's spec allows)",
                    choices=MAC_ALGORITHMS)


def _request(args, **params: Any) -> dict[str, Any]:
    """KMS request parameters, adding the context and grant tokens the command was given."""
    context = parse_context(getattr(args, "context", None))
    if context:
        params["EncryptionContext"] = context
    if getattr(args, "grant_token", None):
        params["GrantTokens"] = list(args.grant_token)
    return {k: v for k, v in params.items() if v is not None}


def _clean(response: dict[str, Any]) -> dict[str, Any]:
    return without(response, "ResponseMetadata")


def _emit(session, args, response: dict[str, Any], field: str, *, secret: bool = False) -> Result:
    """Print the response (blobs base64) or, with --out, write `field` raw and print the rest."""
    if not args.out:
        return Result(data=response)
    note = write_output(session, args.out, response[field], args.force, secret=secret)
    return Result(data=None if args.out == "-" else without(response, field) or None, message=note)


def _ciphertext(session, args, b64_flag: str = "ciphertext_blob") -> bytes:
    value = getattr(args, b64_flag)
    path = getattr(args, "in")
    if (value is None) == (path is None):
        raise UsageError("give the ciphertext with --ciphertext-blob B64 or --in PATH (raw bytes; '-' for stdin)")
    return value if value is not None else read_file(session, path, "--in")


def _looks_base64(blob: bytes) -> bool:
    text = blob.strip()
    if len(text) < 16 or not re.fullmatch(rb"[A-Za-z0-9+/\r\n]+={0,2}", text):
        return False
    try:
        base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _explain_invalid(exc: InvalidCiphertextException, blob: bytes, from_file: bool,
                     missing_context: str | None = None, backend: Any = None) -> InvalidCiphertextException:
    """`exc` with a hint at the likely mistake: base64 text given as raw --in bytes, a file that is not a KMS
    ciphertext at all (named: a PDF, an envelope file), or no context given (`missing_context` names the flag
    that would have given it). The context hint is given only for a blob this backend could have made: it
    would only mislead about a PDF or an envelope file."""
    from kmstui import sniff

    if from_file and _looks_base64(blob):
        return type(exc)(f"{exc} (the --in data looks base64-encoded: decode it first, or pass it with "
                         "--ciphertext-blob)")
    head = blob[:64]
    own_format = sniff.is_local_blob(head) if getattr(backend, "kind", None) in ("local", "pkcs11") else \
        sniff.describe(head) is None
    if not own_format:
        what = sniff.describe(head)
        if what is not None:
            return type(exc)(f"{exc} (this is {what}, not a KMS ciphertext blob)")
        return type(exc)(f"{exc} (this is not a ciphertext blob this backend makes; 'inspect FILE' says what a "
                         "file is)")
    if missing_context:
        return type(exc)(f"{exc} (no {missing_context} was given: if the blob was made with an encryption context, "
                         f"give the same KEY=VALUE pairs with {missing_context})")
    return exc


USAGE_FOR = {"SigningAlgorithms": "SIGN_VERIFY", "MacAlgorithms": "GENERATE_VERIFY_MAC"}


def _default_algorithm(backend, key: str, field: str, flag: str) -> str:
    """The key's only signing/MAC algorithm; a usage error listing them when it has several. A key of
    another usage is refused as KMS refuses it (InvalidKeyUsageException)."""
    metadata = backend.describe_key(KeyId=key)["KeyMetadata"]
    algorithms = metadata.get(field) or []
    if len(algorithms) == 1:
        return algorithms[0]
    if not algorithms:
        raise InvalidKeyUsageException(
            f"key {metadata.get('KeyId')} is {metadata.get('KeySpec')} with KeyUsage {metadata.get('KeyUsage')}; "
            f"this needs a key with KeyUsage {USAGE_FOR[field]}")
    raise UsageError(f"this key has several algorithms; choose one with {flag}: {', '.join(algorithms)}")


def _checked(call, invalid: type[Exception], args, fields: tuple[str, str, str], backend, key: str) -> Result:
    """Run a Verify/VerifyMac `call`. As in KMS, a signature or MAC that does not verify is an error
    (`invalid`: KMSInvalidSignatureException / KMSInvalidMacException, exit 254, nothing on stdout). With
    --check the answer is printed instead, and a false one exits 1 so a script can branch on it; every
    other error (wrong key, key usage, algorithm) is still raised as KMS names it."""
    valid, algorithm_field, algorithm = fields
    if not args.check:
        return Result(data=_clean(call()))
    try:
        return Result(data=_clean(call()))
    except invalid as exc:
        response = {"KeyId": backend.describe_key(KeyId=key)["KeyMetadata"]["Arn"], valid: False,
                    algorithm_field: algorithm}
        return Result(data=response, exit_code=1, message=f"{exc.code}: {exc}")


def cmd_encrypt(session, args) -> Result:
    params = _request(args, EncryptionAlgorithm=args.encryption_algorithm)
    plaintext = read_input(session, args)
    check_writable(args.out, args.force)
    backend, key = session.key_ref(args.key_id)
    response = _clean(backend.encrypt(KeyId=key, Plaintext=plaintext, **params))
    return _emit(session, args, response, "CiphertextBlob")


def cmd_decrypt(session, args) -> Result:
    params = _request(args, EncryptionAlgorithm=args.encryption_algorithm)
    blob = _ciphertext(session, args)
    check_writable(args.out, args.force)
    if args.key_id:
        backend, key = session.key_ref(args.key_id)
        params["KeyId"] = key
    else:
        backend = session.backend()
    try:
        response = _clean(backend.decrypt(CiphertextBlob=blob, **params))
    except InvalidCiphertextException as exc:
        raise _explain_invalid(exc, blob, args.ciphertext_blob is None,
                               None if "EncryptionContext" in params else "--context", backend) from None
    return _emit(session, args, response, "Plaintext", secret=True)


def cmd_re_encrypt(session, args) -> Result:
    source_context = parse_context(args.source_context)
    destination_context = parse_context(args.destination_context)
    blob = _ciphertext(session, args)
    check_writable(args.out, args.force)
    src_profile, src_key = session.split_key_ref(args.source_key_id) if args.source_key_id else (None, None)
    dst_profile, dst_key = session.split_key_ref(args.destination_key_id)
    tokens = {"GrantTokens": list(args.grant_token)} if args.grant_token else {}
    missing_context = None if source_context else "--source-context"
    source = {k: v for k, v in (("SourceEncryptionContext", source_context or None), ("SourceKeyId", src_key),
                                ("SourceEncryptionAlgorithm", args.source_encryption_algorithm)) if v is not None}
    destination = {k: v for k, v in (("DestinationEncryptionContext", destination_context or None),
                                     ("DestinationEncryptionAlgorithm", args.destination_encryption_algorithm))
                   if v is not None}
    if (src_profile or session.profile_name) == (dst_profile or session.profile_name):
        backend = session.backend(dst_profile)
        try:
            response = backend.re_encrypt(CiphertextBlob=blob, DestinationKeyId=dst_key, **source, **destination,
                                          **tokens)
        except InvalidCiphertextException as exc:
            raise _explain_invalid(exc, blob, args.ciphertext_blob is None, missing_context, backend) from None
        return _emit(session, args, _clean(response), "CiphertextBlob")
    # Across backends: decrypt with the source, encrypt with the destination (plaintext stays in memory).
    decrypt = {"CiphertextBlob": blob, "EncryptionContext": source.get("SourceEncryptionContext"),
               "KeyId": src_key, "EncryptionAlgorithm": source.get("SourceEncryptionAlgorithm"), **tokens}
    source_backend = session.backend(src_profile)
    try:
        opened = source_backend.decrypt(**{k: v for k, v in decrypt.items() if v is not None})
    except InvalidCiphertextException as exc:
        raise _explain_invalid(exc, blob, args.ciphertext_blob is None, missing_context, source_backend) from None
    encrypt = {"EncryptionContext": destination.get("DestinationEncryptionContext"),
               "EncryptionAlgorithm": destination.get("DestinationEncryptionAlgorithm")}
    sealed = session.backend(dst_profile).encrypt(KeyId=dst_key, Plaintext=opened["Plaintext"],
                                                  **{k: v for k, v in encrypt.items() if v is not None})
    response = {"CiphertextBlob": sealed["CiphertextBlob"], "SourceKeyId": opened.get("KeyId"),
                "KeyId": sealed.get("KeyId"),
                "SourceEncryptionAlgorithm": opened.get("EncryptionAlgorithm", "SYMMETRIC_DEFAULT"),
                "DestinationEncryptionAlgorithm": sealed.get("EncryptionAlgorithm", "SYMMETRIC_DEFAULT")}
    return _emit(session, args, response, "CiphertextBlob")


def cmd_data_key(session, args, without_plaintext: bool | None = None) -> Result:
    without_plaintext = without_plaintext or getattr(args, "without_plaintext", False)
    if without_plaintext and getattr(args, "show_plaintext", False):
        raise UsageError("--show-plaintext and --without-plaintext contradict each other")
    # Sent as given, both if both were given: KMS refuses that (ValidationException), as it refuses a length
    # out of its range; kmstui only fills in AES_256 when neither was given.
    size = {"KeySpec": args.key_spec, "NumberOfBytes": args.number_of_bytes}
    if args.key_spec is None and args.number_of_bytes is None:
        size["KeySpec"] = "AES_256"
    params = _request(args, **size)
    ciphertext_out = getattr(args, "ciphertext_out", None)
    if args.out and ciphertext_out and args.out == ciphertext_out:
        raise UsageError("--out and --ciphertext-out must be different files")
    if args.out == "-" and ciphertext_out == "-":
        raise UsageError("only one of --out and --ciphertext-out can be standard output")
    check_writable(args.out, args.force)
    check_writable(ciphertext_out, args.force, "--ciphertext-out")
    backend, key = session.key_ref(args.key_id)
    if without_plaintext:
        response = _clean(backend.generate_data_key_without_plaintext(KeyId=key, **params))
    else:
        response = _clean(backend.generate_data_key(KeyId=key, **params))
    plaintext = response.get("Plaintext")
    notes = []
    if ciphertext_out:
        notes.append(write_output(session, ciphertext_out, response["CiphertextBlob"], args.force,
                                  flag="--ciphertext-out"))
    if args.out:
        if plaintext is None:
            notes.append(write_output(session, args.out, response["CiphertextBlob"], args.force))
        else:
            note = write_output(session, args.out, plaintext, args.force, secret=True)
            notes.append(note + (" (plaintext key)" if args.out == "-" else " (plaintext key, file mode 0600)"))
    if args.out:
        response.pop("Plaintext", None)
    # Otherwise Plaintext stays: GenerateDataKey is the request for a plaintext key and AWS prints it. Only a
    # table (a screen) masks it, unless --show-plaintext.
    data = None if "-" in (args.out, ciphertext_out) else response
    masked = () if getattr(args, "show_plaintext", False) else ("Plaintext",)
    return Result(data=data, message="; ".join(notes) or None, masked=masked)


def cmd_random(session, args) -> Result:
    check_writable(args.out, args.force)
    response = _clean(session.backend().generate_random(NumberOfBytes=args.number_of_bytes))
    return _emit(session, args, response, "Plaintext", secret=True)


def _message(message: bytes, args, algorithm: str) -> tuple[bytes, str]:
    """The message to send and its type. As in KMS a RAW message is sent as it is (over 4096 bytes KMS
    refuses it with ValidationException); only --hash-locally hashes it here with the algorithm's hash
    and sends the DIGEST, which gives the signature KMS would give the RAW message."""
    if not args.hash_locally:
        return message, args.message_type
    if args.message_type != "RAW":
        raise UsageError("--hash-locally hashes a RAW message; the message is already a DIGEST")
    match = re.search(r"SHA_(256|384|512)$", algorithm)
    if not match:
        raise UsageError(f"--hash-locally: {algorithm} has no hash kmstui can compute locally")
    import hashlib  # here, not at the top: every kmstui start imports this module

    return hashlib.new(f"sha{match.group(1)}", message).digest(), "DIGEST"


def _signing(session, args) -> tuple[Any, str, str, bytes, str]:
    """What sign and verify share: the backend and key, the algorithm (the key's only one by default), and
    the message as sent."""
    raw = read_input(session, args, text="message")
    backend, key = session.key_ref(args.key_id)
    algorithm = args.signing_algorithm or _default_algorithm(backend, key, "SigningAlgorithms", "--signing-algorithm")
    message, message_type = _message(raw, args, algorithm)
    return backend, key, algorithm, message, message_type


def _too_long(call, message: bytes, message_type: str):
    """Run a Sign/Verify call; KMS's refusal of a RAW message over 4096 bytes gets a hint at --hash-locally."""
    try:
        return call()
    except ValidationException as exc:
        if message_type == "RAW" and len(message) > MAX_RAW_MESSAGE:
            raise ValidationException(f"{exc} (a RAW message is at most {MAX_RAW_MESSAGE} bytes; add --hash-locally "
                                      "to hash it here and send the DIGEST, or give a digest with --message-type "
                                      "DIGEST)") from None
        raise


def cmd_sign(session, args) -> Result:
    params = _request(args)
    check_writable(args.out, args.force)
    backend, key, algorithm, message, message_type = _signing(session, args)
    response = _clean(_too_long(lambda: backend.sign(KeyId=key, Message=message, MessageType=message_type,
                                                     SigningAlgorithm=algorithm, **params), message, message_type))
    return _emit(session, args, response, "Signature")


def _given_bytes(session, args, name: str) -> bytes:
    value, path = getattr(args, name), getattr(args, f"{name}_file")
    flag = "--" + name
    if (value is None) == (path is None):
        raise UsageError(f"give the {name} with {flag} B64 or {flag}-file PATH (raw bytes)")
    return value if value is not None else read_file(session, path, f"{flag}-file")


def cmd_verify(session, args) -> Result:
    params = _request(args)
    signature = _given_bytes(session, args, "signature")
    backend, key, algorithm, message, message_type = _signing(session, args)
    call = lambda: _too_long(lambda: backend.verify(KeyId=key, Message=message, MessageType=message_type,  # noqa: E731
                                                    Signature=signature, SigningAlgorithm=algorithm, **params),
                             message, message_type)
    return _checked(call, KMSInvalidSignatureException, args, ("SignatureValid", "SigningAlgorithm", algorithm),
                    backend, key)


def cmd_mac_generate(session, args) -> Result:
    params = _request(args)
    message = read_input(session, args, text="message")
    check_writable(args.out, args.force)
    backend, key = session.key_ref(args.key_id)
    algorithm = args.mac_algorithm or _default_algorithm(backend, key, "MacAlgorithms", "--mac-algorithm")
    response = _clean(backend.generate_mac(KeyId=key, Message=message, MacAlgorithm=algorithm, **params))
    return _emit(session, args, response, "Mac")


def cmd_mac_verify(session, args) -> Result:
    params = _request(args)
    message = read_input(session, args, text="message")
    mac = _given_bytes(session, args, "mac")
    backend, key = session.key_ref(args.key_id)
    algorithm = args.mac_algorithm or _default_algorithm(backend, key, "MacAlgorithms", "--mac-algorithm")
    return _checked(lambda: backend.verify_mac(KeyId=key, Message=message, MacAlgorithm=algorithm, Mac=mac, **params),
                    KMSInvalidMacException, args, ("MacValid", "MacAlgorithm", algorithm), backend, key)


def cmd_derive_shared_secret(session, args) -> Result:
    params = _request(args)
    check_writable(args.out, args.force)
    backend, key = session.key_ref(args.key_id)
    response = _clean(backend.derive_shared_secret(KeyId=key, KeyAgreementAlgorithm=args.key_agreement_algorithm,
                                                   PublicKey=args.public_key, **params))
    return _emit(session, args, response, "SharedSecret", secret=True)


def register(registry) -> None:
    c = registry.command
    c("encrypt", "Encrypt up to 4 KiB with a key (prints CiphertextBlob base64; --out writes raw bytes)", [
        KEY_ID, PLAINTEXT, IN, CONTEXT, GRANT_TOKENS, ENCRYPTION_ALGORITHM, OUT, FORCE,
    ], description="Encrypt a small secret (at most 4096 bytes) under a key. " + BLOB_NOTE,
      examples=["encrypt --key-id alias/app --plaintext hello --context app=web",
                "encrypt --key-id alias/app --in secret.bin --out secret.bin.kms"])(cmd_encrypt)
    c("decrypt", "Decrypt a ciphertext blob (the blob names its key; prints Plaintext base64)", [
        CIPHERTEXT, IN, optional(KEY_ID), CONTEXT, GRANT_TOKENS, ENCRYPTION_ALGORITHM, OUT, FORCE,
    ], description="Decrypt a blob from 'encrypt'. Give the same --context pairs used to encrypt. The "
                   "plaintext is printed base64-encoded in Plaintext; --out writes it raw (file mode 0600). "
                   + BLOB_NOTE,
      examples=["decrypt --in secret.bin.kms --context app=web --out secret.bin"])(cmd_decrypt)
    c("re-encrypt", "Decrypt and encrypt again under another key, without showing the plaintext", [
        CIPHERTEXT, IN,
        Arg("--destination-key-id", "key to encrypt under: " + KEY_ID.help, required=True, complete="key",
            metavar="KEY"),
        Arg("--source-key-id", "key the blob was made with (needed for asymmetric keys)", complete="key",
            metavar="KEY"),
        Arg("--source-context", "source encryption context KEY=VALUE (repeatable)", repeat=True, metavar="K=V",
            aliases=("--source-encryption-context",)),
        Arg("--destination-context", "destination encryption context KEY=VALUE (repeatable)", repeat=True,
            metavar="K=V", aliases=("--destination-encryption-context",)),
        Arg("--source-encryption-algorithm", "algorithm of the source blob", choices=ENCRYPTION_ALGORITHMS),
        Arg("--destination-encryption-algorithm", "algorithm to encrypt with", choices=ENCRYPTION_ALGORITHMS),
        GRANT_TOKENS, OUT, FORCE,
    ], description="Re-encrypt a blob under another key (also across profiles). " + BLOB_NOTE)(cmd_re_encrypt)

    registry.describe_group("data-key", "data keys for envelope encryption")
    size_args = [
        KEY_ID, Arg("--key-spec", "data key length (default AES_256)", choices=("AES_256", "AES_128")),
        Arg("--number-of-bytes", "data key length in bytes (1-1024) instead of --key-spec", type=int,
            metavar="N"),
        CONTEXT, GRANT_TOKENS,
    ]
    c("data-key generate", "Make a data key (GenerateDataKey): Plaintext and CiphertextBlob, as AWS returns them", [
        *size_args,
        Arg("--without-plaintext", "do not return the plaintext key at all", flag=True),
        Arg("--show-plaintext", "show the plaintext data key in a table too (JSON, text and YAML always "
            "include it)", flag=True),
        Arg("--out", "write the plaintext data key (raw, mode 0600) to PATH ('-' stdout) instead of printing "
            "it; with --without-plaintext, the encrypted key", complete="file", metavar="PATH|-"),
        Arg("--ciphertext-out", "write the encrypted data key (raw) to PATH", complete="file", metavar="PATH|-"),
        FORCE,
    ], description="Generate a data key under a key. Calling GenerateDataKey is asking for the plaintext key, "
                   "so JSON, text and YAML output include Plaintext (base64) beside CiphertextBlob, as "
                   "'aws kms generate-data-key' prints them. A table (the default on a terminal) masks "
                   "Plaintext unless --show-plaintext. --out PATH writes the plaintext key to a file (mode "
                   "0600) and leaves it out of the output; 'data-key generate-without-plaintext' never "
                   "returns it.",
      examples=["data-key generate --key-id alias/app --out dk.bin --ciphertext-out dk.enc"])(cmd_data_key)
    c("data-key generate-without-plaintext", "Make a data key and return only its encrypted copy", [
        *size_args,
        Arg("--out", "write the encrypted data key (raw) to PATH ('-' stdout)", complete="file", metavar="PATH|-"),
        FORCE,
    ])(lambda session, args: cmd_data_key(session, args, without_plaintext=True))
    c("random", "Random bytes from the backend (printed base64; --out writes raw)", [
        Arg("--number-of-bytes", "how many bytes (1-1024)", type=int, required=True, metavar="N"), OUT, FORCE,
    ])(cmd_random)

    c("sign", "Sign a message with an asymmetric key (prints Signature base64; --out writes raw)", [
        KEY_ID, MESSAGE, IN, MESSAGE_TYPE, HASH_LOCALLY, SIGNING_ALGORITHM, GRANT_TOKENS, OUT, FORCE,
    ], description="Sign a message. As in KMS, a RAW message is at most 4096 bytes (ValidationException "
                   "otherwise); --hash-locally hashes a longer one here and sends the DIGEST, which gives the same "
                   "signature. " + BLOB_NOTE,
      examples=["sign --key-id alias/signer --in release.tar.gz --hash-locally --signing-algorithm ECDSA_SHA_256 "
                "--out sig"])(cmd_sign)
    c("verify", "Check a signature (KMSInvalidSignatureException when it is not valid; --check: exit 1)", [
        KEY_ID, MESSAGE, IN, MESSAGE_TYPE, HASH_LOCALLY, SIGNING_ALGORITHM,
        Arg("--signature", "the signature: base64 text, or fileb://PATH for raw bytes", metavar="B64", kind=BASE64),
        Arg("--signature-file", "file holding the raw signature", complete="file", metavar="PATH"),
        GRANT_TOKENS, CHECK,
    ], description="Verify a signature. As in KMS, a signature that does not verify is an error: "
                   "KMSInvalidSignatureException, exit 254, nothing on standard output. With --check the answer "
                   "(SignatureValid) is printed either way and a false one exits 1.")(cmd_verify)

    c("derive-shared-secret", "ECDH shared secret of a KEY_AGREEMENT key and a peer's public key", [
        KEY_ID,
        Arg("--public-key", "the peer's public key, DER SubjectPublicKeyInfo: base64 text or fileb://PATH (e.g. "
            "what 'key public-key --format DER --out' wrote)", required=True, metavar="B64", kind=BASE64),
        Arg("--key-agreement-algorithm", "the key agreement algorithm (KMS has one: ECDH)", choices=("ECDH",),
            default="ECDH"),
        GRANT_TOKENS, OUT, FORCE,
    ], description="Derive a shared secret (DeriveSharedSecret) from the private key of an ECC key with KeyUsage "
                   "KEY_AGREEMENT and the peer's public key on the same curve. The response's SharedSecret is the "
                   "raw secret you asked for: printed base64-encoded, or written raw (file mode 0600) with --out. "
                   + BLOB_NOTE,
      examples=["derive-shared-secret --key-id alias/alice --public-key fileb://bob.der --out shared.bin"]
      )(cmd_derive_shared_secret)

    registry.describe_group("mac", "HMAC codes with HMAC keys")
    c("mac generate", "Compute an HMAC of a message (prints Mac base64; --out writes raw)", [
        KEY_ID, MESSAGE, IN, MAC_ALGORITHM, GRANT_TOKENS, OUT, FORCE,
    ])(cmd_mac_generate)
    c("mac verify", "Check an HMAC (KMSInvalidMacException when it is not valid; --check: exit 1)", [
        KEY_ID, MESSAGE, IN, MAC_ALGORITHM,
        Arg("--mac", "the MAC: base64 text, or fileb://PATH for raw bytes", metavar="B64", kind=BASE64),
        Arg("--mac-file", "file holding the raw MAC", complete="file", metavar="PATH"),
        GRANT_TOKENS, CHECK,
    ], description="Verify an HMAC. As in KMS, a MAC that does not verify is an error: KMSInvalidMacException, "
                   "exit 254, nothing on standard output. With --check the answer (MacValid) is printed either "
                   "way and a false one exits 1.")(cmd_mac_verify)
