from pathlib import Path

import pytest

from rag.chunking import Chunker, sentences
from rag.corpus import SourceFile, sha256
from rag.models import load_embedder, max_tokens, token_counter, tokenizer

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"

WRAPPED = """Permission is hereby granted, free of charge, to any person obtaining
a copy of this software and associated documentation files, to deal
in the Software without restriction.

The above copyright notice shall be included in all copies or
substantial portions of the Software. THE SOFTWARE IS PROVIDED "AS
IS", WITHOUT WARRANTY OF ANY KIND.
"""


def _file(text, name="f.txt"):
    return SourceFile(Path("/" + name), name, text, sha256(text))


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("all-MiniLM-L6-v2")


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.name)
def test_chunks_are_exact_spans_the_model_reads_whole(path, embedder):
    text = path.read_text(encoding="utf-8")
    f = _file(text, path.name)
    count = token_counter(embedder)
    chunks = Chunker(200, 30, count).chunks(f)
    assert chunks
    for c in chunks:
        assert text[c.start_char:c.end_char] == c.text
        assert len(count(c.text)) + 2 <= max_tokens(embedder)
        lines = text.splitlines()
        assert lines[c.start_line - 1] and c.text.splitlines()[0] in lines[c.start_line - 1]
    covered = set()
    for c in chunks:
        covered.update(range(c.start_char, c.end_char))
    assert len(covered) / len(text.strip()) > 0.95  # nothing of substance dropped


def test_hard_wrapped_sentences_stay_whole_and_map_to_lines():
    f = _file(WRAPPED)
    got = sentences(f)
    first = got[0]
    assert first.text.startswith("Permission is hereby granted")
    assert first.text.endswith("without restriction.")
    assert (first.start_line, first.end_line) == (1, 3)
    assert WRAPPED[first.start_char:first.end_char] == first.text
    second = got[1]
    assert second.text.startswith("The above copyright") and second.start_line == 5


CODE_AND_TABLE = """The example reads from a socket in a loop and stops at the end of
the stream. The buffer is sized as follows.

```c
#define BUFSZ 4096
char buf[BUFSZ];
```

Level | Spaces
P1 | 40
P2 | 65

| Key | Default |
| port | 8080 |
"""


def test_table_rows_and_code_lines_are_units_of_their_own():
    """Punkt sees no full stop in a table or a code block and glued it into one sentence:
    "#define BUFSZ 4096" could not be quoted without the whole block."""
    got = sentences(_file(CODE_AND_TABLE))
    texts = [s.text for s in got]
    for line in ("#define BUFSZ 4096", "char buf[BUFSZ];", "P1 | 40", "P2 | 65", "| port | 8080 |"):
        assert line in texts, (line, texts)
    assert "The example reads from a socket in a loop and stops at the end of\nthe stream." in texts
    assert all(CODE_AND_TABLE[s.start_char:s.end_char] == s.text for s in got)


def test_long_line_files_break_at_every_newline():
    text = "A Heading Without A Stop\n" + "This paragraph is one long line of text. " * 5 + "\nNext para."
    got = [s.text for s in sentences(_file(text))]
    assert got[0] == "A Heading Without A Stop"


def test_ingest_tokenizer_gives_the_models_ids_on_every_dev_corpus(embedder):
    """Chunking counts with rag.models.tokenizer (no torch); were its ids to differ from the
    model's own tokenizer, chunks could overrun the 256 pieces the model reads."""
    fast, model = tokenizer("all-MiniLM-L6-v2"), token_counter(embedder)
    texts = ["x " * 600, "Ünïcödé façade — “quotes” 日本語", "soft\u00adhyphen zero\u200bwidth", ""]
    from rag.corpus import read_text

    for f in sorted(ROOT.glob("eval/corpora/*/*")) + sorted(SEEDS.iterdir()):
        whole = read_text(f, 50_000_000)  # as ingest reads it: PDF, HTML and Word extracted
        texts += [whole, *whole.split("\n\n")]
    assert len(texts) > 1000
    differ = [t[:60] for t in texts if list(fast(t)) != list(model(t))]
    assert not differ, differ[:3]
