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

Above 100x (``REAL_MAX``) there is not enough real text on this machine (1,000x is ~78 MB,
10,000x ~780 MB), so those sizes are the 100x corpus plus files *recombined* from its real
paragraphs (``recombined/NNN/NNNNNN.txt``): file ``i`` draws its length from the real files'
lengths and its paragraphs from the pool of all real paragraphs, with a generator seeded by
``i`` alone -- so file ``i`` is the same in every size and 10,000x contains 1,000x. Each
sentence of a drawn paragraph gets a reference unique to the file and paragraph, "(ref
i.j)", before its final stop: otherwise the copies of one paragraph in many files would be
identical texts, which ingest embeds once and BM25 scores alike -- flattering both. What it
does not keep: the topical coherence of a real file (its paragraphs come from anywhere).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
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
REAL_MAX = 100  # larger sizes are recombined from this one's real paragraphs
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"([.!?])(?=\s|$)")


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
    if multiple > REAL_MAX:
        return _recombined(multiple, cache)
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


def _pool(base: Path, manifest: dict) -> tuple[list[str], list[int]]:
    """The real paragraphs of the base corpus (40 characters or more) and its files' lengths."""
    paragraphs, lengths = [], []
    for f in manifest["list"]:
        text = (base / f["file"]).read_text(encoding="utf-8")
        lengths.append(len(text))
        paragraphs += [p.strip() for p in _PARAGRAPH.split(text) if len(p.strip()) >= 40]
    return paragraphs, lengths


def recombined_file(i: int, paragraphs: list[str], lengths: list[int]) -> str:
    """File ``i`` of the recombined part (see the module doc); depends on ``i`` and the pool only."""
    rng = random.Random(f"recombined-{i}")
    want, out, size = rng.choice(lengths), [], 0
    while size < want:
        ref = f" (ref {i}.{len(out)})"
        para = _SENTENCE_END.sub(lambda m: ref + m.group(1), rng.choice(paragraphs))
        para = para if ref in para else para + ref
        out.append(para)
        size += len(para) + 2
    return "\n\n".join(out) + "\n"


def _recombined(multiple: int, cache: Path) -> tuple[Path, dict]:
    base, base_manifest = build(REAL_MAX, cache)
    target, tmp = cache / f"corpus-{multiple}x", cache / f".corpus-{multiple}x.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(base, tmp)
    (tmp / "MANIFEST.json.bench").unlink()
    paragraphs, lengths = _pool(base, base_manifest)
    want = seed_chars() * multiple
    chars, files = base_manifest["chars"], list(base_manifest["list"])
    i = 0
    while chars < want * 0.98:
        text = recombined_file(i, paragraphs, lengths)
        name = f"recombined/{i // 1000:03d}/{i:06d}.txt"
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text, encoding="utf-8")
        files.append({"file": name, "source": "recombined", "from": f"{len(paragraphs)} real paragraphs",
                      "chars": len(text)})
        chars += len(text)
        i += 1
    manifest = {"multiple": multiple, "chars": chars, "seed_chars": seed_chars(), "files": len(files),
                "by_source": {s: sum(f["chars"] for f in files if f["source"] == s)
                              for s in ("seeds", "site-packages", "usr-share-doc", "recombined")},
                "recombined_from": f"corpus-{REAL_MAX}x", "list": files}
    (tmp / "MANIFEST.json.bench").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target, manifest


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Build (once) and cache the benchmark corpora in bench/cache/ "
                                             "(see this module's docstring).")
    ap.add_argument("sizes", nargs="?", default="1,10,100",
                    help="multiples of the seeds, comma-separated (default 1,10,100; above 100: recombined)")
    for k in map(int, ap.parse_args().sizes.split(",")):
        path, m = build(k)
        print(f"{k:>5}x  {m['chars']:>11,} chars  {m['files']:>6} files  {m['by_source']}  -> {path}")
