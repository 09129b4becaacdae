"""Faults: an ingest killed part-way, Ctrl-C, a corrupt or foreign index, an unwritable one.

What must hold: after any interruption, running `rag ingest` again leaves exactly the index
a clean build makes (same entries, no duplicates, no stale or missing ones, same answers);
a broken index is a one-line message saying what to do, never a traceback, and nothing the
user did not ask to delete is deleted. Real `rag` subprocesses, real Chroma, real model.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import SEEDS, make_settings
from tests.procs import ROOT, Watched, rag_env, run_rag

pytestmark = pytest.mark.slow

# Small embedding batches make the progress bar tick often: kill points come from what
# the process prints, not from guesses about how fast this machine is today.
BATCH = "8"
TICK = r"embedding:\s+\d+%\|[^\r\n]*?\|\s*([1-9]\d*)/(\d+)"
INDEXED = r"INFO rag\.ingest: (re-)?indexed (\S+)"
QUESTIONS = ["When did Microsoft announce the Maia 200?", "How much did Microsoft invest in Anthropic?",
             "What did China do about Meta's acquisition of Manus?", "What is the price of a Maia 200 chip?"]


def split_seeds(dest: Path, names=("000_5d630dd79f32896f.txt", "003_3fde7addf9f091b4.txt"),
                lines_per_part: int = 9) -> list[Path]:
    """Seed articles cut into parts of a few paragraphs: many files (12), so several batches.
    Two articles, not three: each of the test's five ingests embeds them, and a third article
    added a quarter of a minute to the suite without a new kind of file or failure."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        lines = (SEEDS / name).read_text(encoding="utf-8").splitlines(keepends=True)
        for i in range(0, len(lines), lines_per_part):
            part = dest / f"{name[:3]}_part{i // lines_per_part:02d}.txt"
            part.write_text("".join(lines[i:i + lines_per_part]), encoding="utf-8")
            out.append(part)
    return out


def index_contents(settings) -> dict[str, dict]:
    """Every entry of both collections, by id, without the time it was written."""
    from rag.store import Store, _forget_client

    _forget_client(Path(settings.index))  # read what other processes wrote, not a cached client
    store = Store(settings)
    out = {}
    for name, col in (("chunks", store.chunks), ("sentences", store.sentences)):
        got = col.get(include=["documents", "metadatas"])
        assert len(got["ids"]) == len(set(got["ids"]))
        out[name] = {i: (d, {k: v for k, v in m.items() if k != "indexed_at"})
                     for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}
    return out


def check_whole(contents: dict, corpus: Path) -> None:
    """One entry per span, every file complete under its current hash, text verbatim."""
    from rag.corpus import sha256

    files = {str(p.resolve()): p.read_text(encoding="utf-8") for p in corpus.iterdir()}
    for name in ("chunks", "sentences"):
        spans = Counter((m["path"], m["start_char"], m["end_char"]) for _d, m in contents[name].values())
        assert max(spans.values()) == 1, f"duplicate {name}: {[s for s, n in spans.items() if n > 1][:3]}"
        for doc, m in contents[name].values():
            assert m["path"] in files, f"stale entry of a file no longer in the corpus: {m['path']}"
            assert m["file_hash"] == sha256(files[m["path"]]), f"stale entry of a changed file: {m['file']}"
            assert files[m["path"]][m["start_char"]:m["end_char"]] == doc
    per_file = Counter(m["path"] for _d, m in contents["chunks"].values())
    assert set(per_file) == set(files), f"missing files: {set(files) - set(per_file)}"
    for doc, m in contents["chunks"].values():
        assert per_file[m["path"]] == m["n_chunks"]


def answers(settings) -> list[dict]:
    from rag.pipeline import Pipeline

    pipe = Pipeline(settings)
    out = []
    for q in QUESTIONS:
        a = pipe.ask(q).to_dict()
        a.pop("timings_ms")
        out.append(a)
    return out


def test_ingest_killed_at_several_points_then_rerun_equals_a_clean_build(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    parts = split_seeds(corpus)
    env = rag_env(corpus, index, RAG_EMBED_BATCH_SIZE=BATCH)
    ingest = ("ingest", "-v")

    # Steps 1 and 2 interrupt at a known point: the run holds after a written batch while the
    # hold file exists (Settings.ingest_hold_file), so the signal cannot arrive after it ended.
    hold = tmp_path / "hold"
    # small batches: the first one written is never the last, whatever the machine's speed
    env = {**env, "RAG_INGEST_BATCH_TEXTS": "48"}
    held = {**env, "RAG_INGEST_HOLD_FILE": str(hold)}

    # 1. kill -9 just after the first batch was written
    hold.touch()
    with Watched(*ingest, env=held) as p:
        done = p.wait_for(INDEXED).group(2)
        assert p.proc.poll() is None, "the ingest ended before it could be killed"
        assert p.kill() == -signal.SIGKILL

    # the corpus changes while the index is half built: a finished file is edited (its old
    # chunks are now stale), another is deleted, a new one appears
    edited = corpus / done
    edited.write_text(edited.read_text(encoding="utf-8") + "\nThe reliability audit found 17 loose cables.\n",
                      encoding="utf-8")
    gone = next(p for p in parts if p.name != done)
    gone.unlink()
    (corpus / "new_notes.md").write_text("# Notes\n\nQuokkas run the cafeteria on Tuesdays.\n", encoding="utf-8")

    # 2. Ctrl-C mid-run: a clean stop with a message and exit code 130, not a traceback
    with Watched(*ingest, env=held) as p:
        p.wait_for(INDEXED)
        assert p.proc.poll() is None, "the ingest ended before Ctrl-C"
        assert p.signal(signal.SIGINT) == 130
        assert "interrupted" in p.stderr and "Traceback" not in p.stderr, p.stderr[-2000:]
    hold.unlink()

    # 3. kill -9 at a random moment of the embedding or writing (not an event we wait for)
    with Watched(*ingest, env=env) as p:
        total = int(p.wait_for(TICK).group(2))
        target = random.randint(1, max(1, total * 4 // 5))  # not so late that the run ends first
        print(f"random kill point: {target}/{total} texts embedded")
        p.wait_until(lambda err: max(int(n) for n, _ in re.findall(TICK, err)) >= target)
        assert p.kill() == -signal.SIGKILL

    # 4. the run that finishes: in this process (what it resumes from is on disk; a fourth
    #    cold start would test nothing the three above did not)
    from rag.pipeline import Pipeline
    from rag.store import _forget_client

    resumed = make_settings(corpus, index, embed_batch_size=int(BATCH), ingest_batch_texts=48)
    clean = make_settings(corpus, tmp_path / "clean", embed_batch_size=int(BATCH))
    _forget_client(index)  # no client of this process may predate the killed runs' writes
    final = Pipeline(resumed).ingest(progress=False)
    # the random kill may land after the last batch was written (while BM25 is saved): then
    # nothing is left to do here, and the comparison with a clean build is the whole check
    # (steps 1 and 2 left work undone by construction; the next test resumes for certain)
    files = sum(1 for f in corpus.iterdir() if f.is_file())
    assert final.added + final.updated + final.unchanged == files and not final.failed, final.summary()

    Pipeline(clean).ingest(progress=False)
    got, want = index_contents(resumed), index_contents(clean)
    check_whole(want, corpus)
    check_whole(got, corpus)
    for name in ("chunks", "sentences"):
        assert set(got[name]) == set(want[name]), (
            f"{name}: {len(set(got[name]) - set(want[name]))} extra, {len(set(want[name]) - set(got[name]))} missing")
        assert got[name] == want[name]
    assert answers(resumed) == answers(clean)


HOLDING = r"INFO rag\.ingest: batch written; holding"


def test_ingest_killed_between_pieces_of_one_file_resumes_to_a_clean_build(tmp_path):
    """A file larger than a batch is written in pieces (rag.ingest._pieces); a kill between
    two of them leaves it partial -- sentences only, then some of its chunks -- and the next
    run, with another batch size even, finishes it as a clean build would have."""
    from rag.chunking import sentences
    from rag.corpus import scan
    from rag.pipeline import Pipeline
    from rag.readers import Limits
    from rag.store import Store
    from tests.test_ingest import big_file_text

    corpus, index, hold = tmp_path / "corpus", tmp_path / "index", tmp_path / "hold"
    corpus.mkdir()
    (corpus / "a_big.txt").write_text(big_file_text(), encoding="utf-8")  # first in the walk
    shutil.copy(SEEDS / "003_3fde7addf9f091b4.txt", corpus / "b_seed.txt")
    big = next(f for f in scan([corpus], Limits(extensions=(".txt",))).files if f.name == "a_big.txt")
    n_sentences = len(sentences(big))
    settings = make_settings(corpus, index)

    def killed_at_first_batch(batch: int) -> dict:
        hold.touch()
        env = rag_env(corpus, index, RAG_INGEST_BATCH_TEXTS=str(batch), RAG_INGEST_HOLD_FILE=str(hold))
        with Watched("ingest", "-v", env=env) as p:
            p.wait_for(HOLDING)
            assert p.kill() == -signal.SIGKILL
        hold.unlink()
        return Store(settings).file_states()[str((corpus / "a_big.txt").resolve())].__dict__

    # 1. the first batch holds 16 of its sentences and none of its chunks
    state = killed_at_first_batch(16)
    assert state["count"] == -1 and not state["consistent"]
    # 2. redone from its first piece (which deletes what step 1 left): all its sentences and
    #    two of its chunks, then killed
    state = killed_at_first_batch(n_sentences + 2)
    assert state["count"] == 2 < state["n_chunks"]
    # 3. the run that finishes (in this process: it resumes from what is on disk)
    from rag.store import _forget_client

    _forget_client(index)  # no client of this process may predate the killed runs' writes
    final = Pipeline(settings.replace(ingest_batch_texts=16)).ingest(progress=False).summary()
    # the big file was begun (so it is redone: "updated"), the seed never reached
    assert "1 added, 1 updated, 0 removed, 0 unchanged" in final, final

    clean = make_settings(corpus, tmp_path / "clean", ingest_batch_texts=100_000)
    Pipeline(clean).ingest(progress=False)
    got, want = index_contents(settings), index_contents(clean)
    check_whole(want, corpus)
    check_whole(got, corpus)
    assert got == want


# --- a broken or foreign index ---------------------------------------------------------------
def snapshot(folder: Path) -> dict[str, str]:
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file()}


def assert_clear_error(out, *needles: str) -> None:
    """Exit code 2, an `error:` line and a `hint:` line, the needles, and no traceback."""
    said = out.stdout + out.stderr
    assert out.returncode == 2, said[-3000:]
    assert "Traceback" not in said, said[-3000:]
    lines = out.stderr.splitlines()
    assert any(line.startswith("error: ") for line in lines) and any(line.startswith("hint: ") for line in lines), said
    for needle in needles:
        assert needle in said, said


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    """One seed file indexed in-process; each test breaks its own copy."""
    from rag.pipeline import Pipeline

    root = tmp_path_factory.mktemp("small")
    (root / "corpus").mkdir()
    shutil.copy(SEEDS / "003_3fde7addf9f091b4.txt", root / "corpus")
    Pipeline(make_settings(root / "corpus", root / "index")).ingest(progress=False)
    return root


def broken_copy(small_index: Path, tmp_path: Path) -> tuple[Path, dict]:
    index = tmp_path / "index"
    shutil.copytree(small_index / "index", index)
    return index, rag_env(small_index / "corpus", index)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_database_is_a_message_and_rebuild_repairs_it(small_index, tmp_path, damage):
    index, env = broken_copy(small_index, tmp_path)
    db = index / "chroma.sqlite3"
    if damage == "garbage":
        db.write_bytes(random.Random(7).randbytes(db.stat().st_size))
    else:
        with db.open("r+b") as fh:
            fh.truncate(db.stat().st_size // 3)
    if damage == "truncated":
        before = snapshot(index)
        assert_clear_error(run_rag("ask", "What is Claude?", env=env), "cannot be read", "rag ingest --rebuild")
        assert snapshot(index) == before, "`rag ask` changed a broken index it was not asked to touch"
        return
    # the hint must work: --rebuild replaces what Chroma cannot open, but never deletes what
    # is not Chroma's (an --index pointed at the wrong folder)
    (index / "my-notes.txt").write_text("keep me", encoding="utf-8")
    before = snapshot(index)
    assert_clear_error(run_rag("ingest", "--rebuild", env=env), "cannot be read", "my-notes.txt", "did not delete")
    assert snapshot(index) == before
    (index / "my-notes.txt").unlink()
    rebuilt = run_rag("ingest", "--rebuild", env=env)
    assert rebuilt.returncode == 0 and "1 added" in rebuilt.stdout, rebuilt.stderr[-3000:]


@pytest.mark.parametrize("change", ["model", "chunking"])
def test_an_index_built_differently_is_refused_not_mixed(small_index, tmp_path, change):
    from rag.models import model_path
    from rag.pipeline import Pipeline

    index = tmp_path / "index"
    other = {"model": {"model": str(model_path("all-MiniLM-L6-v2"))}, "chunking": {"chunk_size": 120}}[change]
    built = make_settings(small_index / "corpus", index, **other)
    Pipeline(built).ingest(progress=False)
    env = rag_env(small_index / "corpus", index)
    before = set(snapshot(index)), index_contents(built)
    word = {"model": "model is", "chunking": "chunk_size is 120 there, 200 here"}[change]
    # what a user runs first: ask with the new settings, or ingest (which must not mix the two)
    args = {"model": ("ask", "What is Claude?"), "chunking": ("ingest",)}[change]
    assert_clear_error(run_rag(*args, env=env), "built differently", word, "rag ingest --rebuild")
    # opening a valid database may rewrite its pages (a checkpoint): compare what it holds
    assert (set(snapshot(index)), index_contents(built)) == before


def test_an_unwritable_index_folder_is_a_message(small_index, tmp_path):
    index, env = broken_copy(small_index, tmp_path)
    cmd = ("ingest",)
    if os.geteuid() != 0:
        for f in [index, *index.rglob("*")]:
            f.chmod(f.stat().st_mode & ~0o222)
        prefix = ()
    else:
        # root writes through chmod; a read-only bind mount in a private mount namespace
        # (gone when the command exits) is what "no write permission" means for root
        probe = subprocess.run(["unshare", "--mount", "--", "true"], capture_output=True)
        if probe.returncode != 0:
            pytest.skip("running as root without unshare/CAP_SYS_ADMIN: cannot make a folder unwritable")
        prefix = ("unshare", "--mount", "--", "sh", "-c",
                  'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', str(index))
    before = snapshot(index)
    try:
        out = subprocess.run([*prefix, sys.executable, "-m", "rag.cli", *cmd], capture_output=True, text=True,
                             env=env, cwd=ROOT, timeout=300)
    finally:
        for f in [index, *index.rglob("*")]:
            f.chmod(f.stat().st_mode | 0o200)
    assert_clear_error(out, "not writable", "permissions")
    assert snapshot(index) == before


# --- thousands of tiny files, and a damaged vector index ------------------------------------
TINY = 3000
FACT = "The backup generator in hall C failed its test on 4 March 2026 and was replaced by Voltra."


@pytest.fixture(scope="module")
def many_files(tmp_path_factory):
    """3000 tiny notes in 30 folders plus one with a fact, indexed by `rag ingest`.

    The notes say the same thing under one name per folder (the contextual header keeps a
    name's four-digit numbers, so standup-1234 would make every note a new text to embed):
    what is tested is the per-file cost -- scanning, splitting, writing, tracking 3000 files."""
    root = tmp_path_factory.mktemp("many")
    corpus = root / "corpus"
    for i in range(TINY):
        note = corpus / f"team{i % 30:02d}" / f"standup-{i // 30:03d}.md"
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text("# Stand-up\n\nNothing to report this week.\n", encoding="utf-8")
    (corpus / "team07" / "standup-incident.md").write_text(f"# Stand-up\n\n{FACT}\n", encoding="utf-8")
    started = time.monotonic()
    out = run_rag("ingest", "-q", env=rag_env(corpus, root / "index"), timeout=600)
    seconds = time.monotonic() - started
    assert out.returncode == 0, out.stderr[-3000:]
    print(f"\n{TINY + 1} tiny files indexed in {seconds:.1f}s: {out.stdout.strip()}")
    return corpus, root / "index", seconds, out.stdout


def test_thousands_of_tiny_files(many_files):
    from rag.pipeline import Pipeline

    corpus, index, seconds, summary = many_files
    assert f"{TINY + 1} files indexed ({TINY + 1} markdown), {TINY + 1} chunks: {TINY + 1} added" in summary
    assert seconds < 300, f"indexing {TINY} tiny files took {seconds:.0f}s"
    answer = Pipeline(make_settings(corpus, index)).ask("Who replaced the backup generator in hall C?")
    assert not answer.refused and answer.citations
    assert answer.citations[0].file == "team07/standup-incident.md" and answer.citations[0].text == FACT


def test_random_bytes_in_the_vector_index_is_a_message(many_files, tmp_path):
    _corpus, built, _s, _o = many_files
    index = tmp_path / "index"
    shutil.copytree(built, index)
    segments = [f for f in index.glob("*/*.bin") if f.stat().st_size > 0]
    assert segments, "Chroma wrote no vector index files for 6000 entries"
    rnd = random.Random(11)
    for f in segments:
        f.write_bytes(rnd.randbytes(f.stat().st_size))
    before = snapshot(index)
    out = run_rag("ask", "Who replaced the backup generator in hall C?", env=rag_env(many_files[0], index))
    assert_clear_error(out, "cannot be read", "rag ingest --rebuild")
    after = snapshot(index)
    # the database is valid and may be checkpointed on opening; the rest must be untouched
    assert after.keys() == before.keys()
    assert {k: v for k, v in after.items() if k != "chroma.sqlite3"} == \
        {k: v for k, v in before.items() if k != "chroma.sqlite3"}
