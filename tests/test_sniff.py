"""kmstui.sniff names what a file is from its first bytes (for inspect and decrypt errors)."""

from kmstui import sniff


def test_common_types_envelopes_and_local_blobs_are_named():
    assert sniff.describe(b"%PDF-1.4\n...") == "a PDF document"
    assert sniff.describe(b"\x89PNG\r\n\x1a\n....") == "a PNG image"
    assert sniff.describe(b"PK\x03\x04....").startswith("a ZIP archive")
    assert sniff.is_esdk_message(b"\x02\x04\x78" + bytes(30)) and not sniff.is_esdk_message(b"\x02\x99\x99")
    assert sniff.is_esdk_message(b"\x01\x80\x01\x78" + bytes(30))
    assert "envelope" in sniff.describe(b"\x02\x05\x78" + bytes(10))
    assert sniff.is_local_blob(b"KMT\x01" + bytes(40))
    assert sniff.describe(b"just some text") is None and sniff.describe(b"") is None
