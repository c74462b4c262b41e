"""Registration of the envelope commands: encrypt, decrypt, rewrap, verify, and inspect (top-level and
`envelope inspect`). Arguments only; the handlers live in handlers.py and load on first use."""

from __future__ import annotations

import argparse
import re

from kmstui.commands.registry import Arg
from kmstui.commands.values import TEXT

DEFAULT_MAX_EDKS = 10  # kmstui_envelope.header.DEFAULT_MAX_EDKS, repeated to keep this module light
DEFAULT_FRAME = 2 << 20  # kmstui_envelope.stream.DEFAULT_FRAME


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([kmg]i?b?|b)?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size (e.g. 4096, 64KiB, 1MiB)")
    mult = {"": 1, "b": 1, "k": 1024, "m": 1 << 20, "g": 1 << 30}[(m.group(2) or "")[:1]]
    return int(m.group(1)) * mult



# -- registration ----------------------------------------------------------------------------------------
KEY_ARGS = [
    Arg("--raw-key", "raw wrapping key file PATH[,name=NAME][,namespace=NS][,padding=oaep-sha256][,format=raw|hex|"
        "base64] (AES: 16/24/32 bytes, a binary file or hex/base64 text; RSA: PEM/DER; at most 64 KiB) as the AWS "
        "Encryption SDK raw keyrings use them", repeat=True,
        complete="file", metavar="SPEC"),
]
DECRYPT_KEY_ARGS = KEY_ARGS + [
    Arg("--key-id", "decrypt only with this key (strict; repeatable; PROFILE: prefix picks the backend)",
        repeat=True, complete="key", metavar="KEY"),
    Arg("--allow-key", "strict allow-list: try only data keys wrapped under this key ARN (repeatable)",
        repeat=True, metavar="ARN"),
    Arg("--discovery", "try any data key the active backend can unwrap (default for local and PKCS#11 "
        "backends; must be explicit for AWS)", flag=True),
    Arg("--expect-context", "refuse files whose encryption context lacks KEY=VALUE (repeatable, K1=V1,K2=V2, or a "
        "JSON object inline or as file://PATH), as --context does on every command", repeat=True, metavar="K=V",
        aliases=("--context", "--encryption-context"), kind=TEXT),
    Arg("--max-edks", f"refuse files listing more encrypted data keys than this (default {DEFAULT_MAX_EDKS})",
        type=int, metavar="N"),
    Arg("--allow-legacy", "also read legacy non-committing suites (message format version 1)", flag=True),
]


def register(registry) -> None:
    registry.describe_group("envelope", "Envelope file encryption (AWS Encryption SDK message format)")
    paths = Arg("paths", "files or directories ('-' for standard input)", nargs="+", complete="file",
                metavar="PATH")
    common_out = [
        Arg("--out", "output file, directory, or '-' for standard output", complete="file", metavar="PATH|DIR|-"),
        Arg("--recursive", "process directories recursively", flag=True, aliases=("-r",)),
        Arg("--force", "overwrite existing output files", flag=True),
    ]
    registry.command(
        "envelope encrypt", "Encrypt files under one or more wrapping keys (AWS Encryption SDK format)",
        [paths,
         Arg("--key-id", "wrapping key in a backend (repeatable; 'PROFILE:alias/app' picks another backend)",
             repeat=True, complete="key", metavar="KEY"),
         *KEY_ARGS,
         Arg("--context", "encryption context KEY=VALUE (repeatable, or a JSON object inline or as file://PATH)",
             aliases=("--encryption-context",), repeat=True, metavar="K=V", kind=TEXT),
         *common_out,
         Arg("--suite", "0x0478 (committing, default) or 0x0578 (committing + ECDSA P-384 signature)",
             choices=None, metavar="SUITE"),
         Arg("--frame-size", f"plaintext bytes per frame (default {DEFAULT_FRAME}; e.g. 64KiB, 4MiB; at most 64MiB, "
             "which bounds memory)",
             type=parse_size, metavar="SIZE"),
         Arg("--cache-max-age", "reuse a data key for up to this many seconds (turns caching on)", type=float,
             metavar="SECONDS"),
         Arg("--cache-max-messages", "reuse a data key for at most this many files (turns caching on)", type=int,
             metavar="N"),
         Arg("--cache-max-bytes", "reuse a data key for at most this many plaintext bytes (turns caching on)",
             type=parse_size, metavar="SIZE"),
         Arg("--include-encrypted", "also encrypt files that already are kmstui/ESDK messages (told by their "
             "header; skipped and counted by default)", flag=True)],
        needs_backend=True,
        examples=["envelope encrypt report.pdf --key-id alias/app --context dept=finance",
                  "envelope encrypt logs/ -r --out enc/ --key-id alias/app --key-id aws-prod:alias/app",
                  "envelope encrypt data.bin --raw-key escrow.pem,name=escrow,namespace=acme --key-id alias/app"],
        handler="kmstui_envelope.handlers:cmd_encrypt",
    )
    registry.command(
        "envelope decrypt", "Decrypt files; output appears only after the whole message authenticated",
        [paths, *DECRYPT_KEY_ARGS, *common_out,
         Arg("--buffer-signed", "allow signed messages to standard output (buffered privately until the "
             "signature verifies)", flag=True)],
        needs_backend=True,
        examples=["envelope decrypt report.pdf.enc", "envelope decrypt data.enc --out - --context dept=finance"],
        handler="kmstui_envelope.handlers:cmd_decrypt",
    )
    registry.command(
        "envelope rewrap", "Add or remove wrapping keys by rewriting only the header (body untouched)",
        [paths,
         Arg("--add-key-id", "give this backend key access (repeatable)", repeat=True, complete="key", metavar="KEY"),
         Arg("--add-raw-key", "give this raw key access (same SPEC as --raw-key; repeatable)", repeat=True,
             complete="file", metavar="SPEC"),
         Arg("--remove-key-id", "remove the data key of this key (ARN, alias, or raw key NAME / NAMESPACE/NAME)",
             repeat=True, metavar="KEY"),
         *DECRYPT_KEY_ARGS, *common_out],
        needs_backend=True, mutates=False,
        examples=["envelope rewrap secrets.enc --add-key-id aws-prod:alias/app",
                  "envelope rewrap secrets.enc --remove-key-id arn:aws:kms:us-east-1:111122223333:key/..."],
        handler="kmstui_envelope.handlers:cmd_rewrap",
    )
    verify_args = [Arg("path", "message file ('-' for standard input)", complete="file", metavar="PATH"),
                   *DECRYPT_KEY_ARGS]
    registry.command("envelope verify", "Unwrap the data key and check the header's commitment and tag",
                     verify_args, needs_backend=True, handler="kmstui_envelope.handlers:cmd_verify")
    inspect_args = [*verify_args,
                    Arg("--verify", "also verify (opens the key backend: runs 'envelope verify')", flag=True)]
    for name in ("inspect", "envelope inspect"):
        registry.command(name, "Show what an encrypted file is and who can decrypt it, without any key",
                         inspect_args, needs_backend=False,
                         examples=["inspect report.pdf.enc", "inspect report.pdf.enc --output json"],
                         handler="kmstui_envelope.handlers:cmd_inspect")
