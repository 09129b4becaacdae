from pathlib import Path

from rag.corpus import SourceFile, line_starts, scan, sha256
from rag.readers import Limits


def test_bad_files_are_reported_and_good_ones_kept(tmp_path):
    (tmp_path / "good.txt").write_text("Alpha beta.\nGamma delta.\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "empty.md").write_text("  \n\n", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\x00\x00\x01")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj")
    (tmp_path / "notes.csv").write_text("a,b", encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "deep.md").write_text("# Title\n\nText here.", encoding="utf-8")
    result = scan([tmp_path], Limits(extensions=(".txt", ".md", ".pdf")))
    assert sorted(f.name for f in result.files) == ["good.txt", "sub/deep.md"]
    reasons = {s.name: s.reason for s in result.skipped}
    assert "UTF-8" in reasons["latin1.txt"]
    assert "empty" in reasons["empty.md"]
    assert "binary" in reasons["binary.txt"]
    assert "corrupt" in reasons["broken.pdf"]
    categories = {s.name: s.category for s in result.skipped}
    assert categories["binary.txt"] == "binary" and categories["notes.csv"] == "unsupported"
    assert categories["latin1.txt"] == categories["broken.pdf"] == "unreadable"


def test_symlink_outside_corpus_not_followed(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret text", encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("public text", encoding="utf-8")
    (corpus / "link.txt").symlink_to(outside)
    result = scan([corpus], Limits(extensions=(".txt",)))
    assert [f.name for f in result.files] == ["a.txt"]
    assert "link.txt" in {s.name for s in result.skipped}


def test_line_mapping():
    text = "one\ntwo\n\nfour"
    f = SourceFile(Path("/x"), "x", text, sha256(text))
    assert line_starts(text) == [0, 4, 8, 9]
    assert f.line_of(0) == 1 and f.line_of(4) == 2 and f.line_of(9) == 4
    assert f.lines_of(4, 13) == (2, 4)
    assert f.lines_of(0, 4) == (1, 1)  # the newline ending line 1 stays on line 1
