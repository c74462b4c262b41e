"""The real entry point in a subprocess: exit codes, one-line errors, output on stdout/stderr."""

from __future__ import annotations


def test_cli_round_trip_and_clean_errors(run_kmstui, tmp_path, keyfiles):
    src = tmp_path / "doc.txt"
    src.write_text("top secret\n")
    r = run_kmstui("envelope", "encrypt", str(src), "--raw-key", keyfiles["aes"], "--output", "json")
    assert r.code == 0, r.err
    assert "encrypted 1 file" in r.err and "0 backend calls" in r.err
    r = run_kmstui("inspect", str(tmp_path / "doc.txt.enc"), "--output", "text")
    assert r.code == 0 and "0x0478" in r.out and "NOT authenticated" in r.out
    r = run_kmstui("envelope", "decrypt", str(tmp_path / "doc.txt.enc"), "--raw-key", keyfiles["aes"], "--out", "-")
    assert r.code == 0 and r.out == "top secret\n"
    (tmp_path / "cut.enc").write_bytes((tmp_path / "doc.txt.enc").read_bytes()[:-5])
    r = run_kmstui("envelope", "decrypt", str(tmp_path / "cut.enc"), "--raw-key", keyfiles["aes"],
                   "--out", str(tmp_path / "out"))
    assert r.code == 254 and "truncated" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "out").exists()
    r = run_kmstui("envelope", "decrypt", str(tmp_path / "doc.txt.enc"), "--raw-key", keyfiles["aes"])
    assert r.code == 252 and "--force" in r.err


def test_inspect_works_without_any_key_store(run_kmstui, tmp_path, kmstui_home):
    (tmp_path / "x").write_bytes(b"\x89PNG\r\n\x1a\n")
    r = run_kmstui("inspect", str(tmp_path / "x"))
    assert r.code == 1 and "not a kmstui/ESDK message" in r.out + r.err
    assert not (kmstui_home / "data").exists() or not any((kmstui_home / "data").iterdir())


def test_inspect_calls_a_pdf_a_pdf(run_kmstui, tmp_path):
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    r = run_kmstui("inspect", str(pdf))
    assert r.code == 1 and "not a kmstui/ESDK message: a PDF document" in r.out + r.err
