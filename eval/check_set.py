"""Check one hand-written question set against its corpus, as the dev set's tests do.

    python eval/check_set.py eval/corpora/NAME eval/questions/NAME.jsonl

Why a script of its own: people writing questions need the answer in seconds, without
indexing anything. It reads each file as rag reads it (PDF, HTML and Word through
rag.readers, so a quote is checked against the extracted text a citation will quote),
then checks what a question set must hold to be worth training or scoring on:
every quote verbatim in its file, every fact stated inside one of its quotes, sources that
exist, >= 15% unanswerables, and a mix of question kinds. Exit 1 with one line per problem.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# independent checks: never build, fit or tune on these (DEVELOPERS.md)
RESERVED = ("common-licenses", "RelNotes", "pydoc_data", "base-passwd", "python3-dev", "python3.11-dev",
            "zlib1g-dev", "libffi", "libtasn1", "shared-mime-info")
MIN_UNANSWERABLE = 0.15


def problems(corpus: Path, questions: Path) -> tuple[list[str], Counter]:
    from rag.corpus import read_text
    from rag.evaluate_metrics import has_fact
    from rag.evaluate_set import UNANSWERABLE, check_quotes, load

    items = load(questions)  # raises on a malformed line, with its number
    out = list(check_quotes(items, corpus))
    texts = {}
    for p in sorted(corpus.iterdir()):
        if p.is_file():
            try:
                texts[p.name] = read_text(p, 50_000_000)
            except ValueError as exc:
                out.append(f"{p.name}: rag cannot read it ({exc})")
    for name in texts:
        if any(r.lower() in name.lower() for r in RESERVED):
            out.append(f"{name}: looks like a reserved collection ({', '.join(RESERVED)})")
    for item in items:
        for s in item.sources:
            if s not in texts:
                out.append(f"{item.id}: source {s} is not a file of {corpus}")
        if not item.answerable:
            continue
        quoted = "\n".join(q.text for q in item.quotes)
        for variants in item.facts:
            if not has_fact(quoted, variants):
                out.append(f"{item.id}: fact {variants} is in none of its quotes")
    kinds = Counter(i.type for i in items)
    if kinds[UNANSWERABLE] < MIN_UNANSWERABLE * len(items):
        out.append(f"only {kinds[UNANSWERABLE]} of {len(items)} are unanswerable (need >= 15%)")
    return out, kinds


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    found, kinds = problems(Path(argv[0]), Path(argv[1]))
    for line in found:
        print(line)
    print(f"{sum(kinds.values())} questions: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    print("OK" if not found else f"{len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
