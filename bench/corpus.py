"""Benchmark corpora of about 1x, 10x, 100x the seeds, from real text that is on this machine.

Sources, in this order: the seeds themselves, then the documentation that ships inside the
installed Python packages (.venv site-packages: README, CHANGELOG, LICENSE, docs as
.md/.txt/.rst), then the documentation of the installed Debian packages (/usr/share/doc:
copyright notices, READMEs, NEWS, plain-text manuals). Why real text, not the seeds
repeated: repeated text would be de-duplicated by ingest and flatter BM25 and the vector
index; real documentation has a realistic vocabulary and file-size spread.

Every corpus of size k contains the one of every smaller size (seeds first, then the same
documentation files in the same order), so the sizes differ only in how much there is.
Files are copied once into bench/cache/corpus-<k>x/ (git-ignored) with a manifest of where
each came from; a later run reuses them.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
CACHE = ROOT / "bench" / "cache"

# Text files that are data, not prose (tokenizer vocabularies, test fixtures, lists).
_DATA_NAMES = {"vocab.txt", "merges.txt", "entry_points.txt", "top_level.txt", "requirements.txt",
               "dependency_links.txt", "namespace_packages.txt", "RECORD", "SOURCES.txt"}
MAX_FILE_CHARS = 200_000  # a few giant changelogs would otherwise be most of a corpus
MIN_FILE_CHARS = 400


def seed_chars() -> int:
    return sum(len(p.read_text(encoding="utf-8")) for p in sorted(SEEDS.iterdir()) if p.is_file())


def _site_packages() -> list[Path]:
    import site
    import sysconfig

    roots = {Path(sysconfig.get_paths()["purelib"]), *map(Path, site.getsitepackages())}
    return sorted(r for r in roots if r.is_dir())


def _candidates() -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for root in _site_packages():
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() in {".md", ".txt", ".rst"} and "/tests/" not in p.as_posix():
                out.append(("site-packages", p))
    doc = Path("/usr/share/doc")
    if doc.is_dir():
        for p in sorted(doc.rglob("*")):
            if p.suffix.lower() in {"", ".txt", ".md", ".rst"} or p.name.startswith(("README", "NEWS", "copyright")):
                out.append(("usr-share-doc", p))
    return out


def _prose(text: str) -> bool:
    """Mostly words and spaces, in lines of sentence length: not tables of numbers or vocab."""
    if not MIN_FILE_CHARS <= len(text) <= MAX_FILE_CHARS:
        return False
    letters = sum(c.isalpha() or c.isspace() for c in text)
    lines = [line for line in text.splitlines() if line.strip()]
    return letters / len(text) > 0.8 and sum(map(len, lines)) / max(len(lines), 1) > 25


def _documentation() -> list[tuple[str, Path, str]]:
    """Every usable documentation file once (identical copies -- the same license in 700
    packages -- count once), in a fixed shuffled order so each size mixes both sources."""
    seen: set[str] = set()
    docs = []
    for source, path in _candidates():
        if path.name in _DATA_NAMES or not path.is_file() or path.is_symlink():
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest in seen or "\x00" in text or not _prose(text):
            continue
        seen.add(digest)
        docs.append((source, path, text))
    random.Random(6).shuffle(docs)
    return docs


def build(multiple: int, cache: Path = CACHE) -> tuple[Path, dict]:
    """The corpus of about ``multiple`` x the seeds' characters, built once and cached."""
    target = cache / f"corpus-{multiple}x"
    manifest_path = target / "MANIFEST.json.bench"  # not .txt/.md: never ingested
    if manifest_path.is_file():
        return target, json.loads(manifest_path.read_text())
    tmp = cache / f".corpus-{multiple}x.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    want = seed_chars() * multiple
    files, chars = [], 0
    for p in sorted(SEEDS.iterdir()):
        text = p.read_text(encoding="utf-8")
        shutil.copy(p, tmp / p.name)
        files.append({"file": p.name, "source": "seeds", "from": f"seeds/{p.name}", "chars": len(text)})
        chars += len(text)
    for i, (source, path, text) in enumerate(_documentation() if chars < want else []):
        if chars >= want * 0.98:
            break
        keep = path.name if path.suffix in {".txt", ".md"} else path.name + ".txt"  # README.Debian, x.rst
        name = f"{source}/{i:05d}_{keep}"
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text, encoding="utf-8")
        files.append({"file": name, "source": source, "from": str(path), "chars": len(text)})
        chars += len(text)
    manifest = {"multiple": multiple, "chars": chars, "seed_chars": seed_chars(), "files": len(files),
                "by_source": {s: sum(f["chars"] for f in files if f["source"] == s)
                              for s in ("seeds", "site-packages", "usr-share-doc")},
                "list": files}
    if chars < want * 0.9:
        manifest["short"] = f"only {chars} characters of text found for {want}"
    (tmp / manifest_path.name).write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target, manifest


if __name__ == "__main__":
    import sys

    for k in map(int, (sys.argv[1] if len(sys.argv) > 1 else "1,10,100").split(",")):
        path, m = build(k)
        print(f"{k:>4}x  {m['chars']:>10,} chars  {m['files']:>5} files  {m['by_source']}  -> {path}")
