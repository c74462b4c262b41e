"""Change who can decrypt a message by rewriting only its header.

Unwrap the data key once, verify the header (commitment and tag) before trusting anything in it, drop and
add encrypted data keys, recompute the header tag. Frame AADs bind the message ID, not the header bytes,
so the body stays valid and is copied unread (copy_file_range: in-kernel, no crypto). Backend calls: one
unwrap plus one per added key, whatever the file size. Signed messages are refused: their signature
covers the header and the signing key was discarded when the message was written.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from kmstui.errors import UsageError
from kmstui_envelope.files import AtomicFile
from kmstui_envelope.header import EncryptedDataKey, authenticate, finish, read_header, serialize_body
from kmstui_envelope.keyrings import Keyring, wipe
from kmstui_envelope.materials import decrypt_data_key
from kmstui_envelope.stream import DecryptOptions, check_expected_context

Matcher = Callable[[EncryptedDataKey], bool]


def _copy_rest(src, dst, offset: int) -> None:
    size = os.fstat(src.fileno()).st_size
    left = size - offset
    pos = offset
    try:
        while left > 0:
            n = os.copy_file_range(src.fileno(), dst.fileno(), left, pos)
            if n == 0:
                break
            pos += n
            left -= n
        if left == 0:
            return
    except OSError:
        pass
    src.seek(pos)
    shutil.copyfileobj(src, dst, 1 << 20)


def rewrap_file(path: Path, dest: Path, unwrap_with: list[Keyring], add: list[Keyring], remove: list[Matcher],
                opts: DecryptOptions, *, force: bool) -> dict:
    with open(path, "rb", buffering=0) as f:
        header = read_header(lambda n: f.read(n) or b"", allow_legacy=opts.allow_legacy, max_edks=opts.max_edks)
        if header.suite.signed:
            raise UsageError(f"{path}: suite {header.suite.hex} is signed; its signature covers the header, so "
                             "the header cannot be changed. Decrypt and re-encrypt instead")
        check_expected_context(header, opts.expect_context)
        found = decrypt_data_key(header, unwrap_with)
        try:
            enc_key, commit = header.suite.derive(found.data_key, header.message_id)
            authenticate(header, enc_key, commit)
            kept = [e for e in header.edks if not any(m(e) for m in remove)]
            removed = len(header.edks) - len(kept)
            added = [k.wrap(found.data_key, header.context) for k in add if not any(k.matches(e) for e in kept)]
        finally:
            wipe(found.data_key)
        edks = kept + added
        if not edks:
            raise UsageError(f"{path}: that would remove every key able to decrypt the file; nothing changed")
        body = serialize_body(header.suite, header.message_id, header.context, edks, header.frame_length,
                              header.commit_key, header.content_type)
        new_header = finish(body, header.suite, enc_key, header.header_iv)
        with AtomicFile(dest, force=force or dest == path, private=False) as out:
            out.write(new_header)
            _copy_rest(f, out, len(header.raw))
            out.commit()
    return {"Input": str(path), "Output": str(dest), "Removed": removed, "Added": len(added),
            "EncryptedDataKeys": len(edks)}
