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


def test_encrypting_a_folder_again_skips_what_is_already_encrypted(run_kmstui, tmp_path, keyfiles):
    import json

    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    key = ["--raw-key", keyfiles["aes"]]
    first = run_kmstui("envelope", "encrypt", str(folder), "-r", *key, "--output", "json")
    assert first.code == 0, first.err
    assert json.loads(first.out)["Summary"]["Files"] == 2 and "skipped" not in first.err
    # Run twice: the outputs are told by their header and skipped, and the count is said.
    second = run_kmstui("envelope", "encrypt", str(folder), "-r", *key, "--force", "--output", "json")
    assert second.code == 0, second.err
    data = json.loads(second.out)
    assert data["Summary"]["Files"] == 2 and data["Summary"]["Skipped"] == 2 and "skipped 2 files" in second.err
    assert not list(folder.rglob("*.enc.enc"))
    # By header, not by suffix: a message renamed without .enc is still skipped; --out elsewhere too.
    (folder / "a.txt.enc").rename(folder / "renamed.bin")
    out = tmp_path / "out"
    third = run_kmstui("envelope", "encrypt", str(folder), "-r", "--out", str(out), *key, "--output", "json")
    assert third.code == 0, third.err
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert made == ["a.txt.enc", "sub/b.txt.enc"] and "skipped 2 files" in third.err
    # Asked for, they are encrypted again.
    again = run_kmstui("envelope", "encrypt", str(folder / "renamed.bin"), *key, "--include-encrypted")
    assert again.code == 0 and (folder / "renamed.bin.enc").exists()
