"""The eval set: JSON Lines of hand-checked questions, and the checks that keep it honest.

A set is only worth its agreement with the corpus, so loading validates every item
(required keys, known type, quotes that are verbatim substrings of their files) and
says which line is wrong; a user bringing their own questions for their own corpus
gets the same checks.

One item (one line)::

    {"id": "numeric-01", "type": "numeric",
     "question": "How much did Microsoft invest in Anthropic?",
     "answer": "Up to $5 billion.",                         # short reference answer
     "facts": [["$5 billion", "5 billion", "$5B"]],         # each fact: accepted variants
     "sources": ["000_….txt"],
     "quotes": [{"file": "000_….txt", "text": "verbatim supporting text"}]}

``type`` is free text except ``unanswerable``: those items have no facts and no quotes,
and the right outcome is a refusal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import RagError

UNANSWERABLE = "unanswerable"
KNOWN_TYPES = ("single", "numeric", "multi", "paraphrase", "careful", "list", UNANSWERABLE)
DEFAULT_FILE = Path("eval/questions.jsonl")


@dataclass(frozen=True)
class Quote:
    file: str
    text: str


@dataclass
class Item:
    id: str
    type: str
    question: str
    answer: str = ""
    facts: list[list[str]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return self.type != UNANSWERABLE


def _item(obj: dict, where: str) -> Item:
    if not isinstance(obj, dict):
        raise RagError(f"{where}: not a JSON object")
    missing = [k for k in ("id", "type", "question") if not obj.get(k)]
    if missing:
        raise RagError(f"{where}: missing {', '.join(missing)}",
                       hint="each line needs id, type, question (and facts, quotes unless type is unanswerable)")
    facts = obj.get("facts") or []
    if not all(isinstance(f, list) and f and all(isinstance(v, str) and v.strip() for v in f) for f in facts):
        raise RagError(f"{where}: facts must be a list of non-empty lists of accepted variants")
    quotes = []
    for q in obj.get("quotes") or []:
        if not isinstance(q, dict) or not q.get("file") or not q.get("text"):
            raise RagError(f"{where}: each quote needs file and text")
        quotes.append(Quote(str(q["file"]), str(q["text"])))
    item = Item(id=str(obj["id"]), type=str(obj["type"]), question=str(obj["question"]),
                answer=str(obj.get("answer", "")), facts=[list(map(str, f)) for f in facts],
                sources=[str(s) for s in obj.get("sources") or sorted({q.file for q in quotes})],
                quotes=quotes)
    if item.answerable and not (item.facts and item.quotes):
        raise RagError(f"{where} ({item.id}): an answerable item needs facts and quotes",
                       hint=f"or mark it \"type\": \"{UNANSWERABLE}\"")
    if not item.answerable and (item.facts or item.quotes):
        raise RagError(f"{where} ({item.id}): an unanswerable item has no facts or quotes")
    return item


def load(path: Path) -> list[Item]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RagError(f"cannot read the eval set {path}: {exc}",
                       hint="pass --file with a JSON Lines file (see eval/questions.jsonl)") from None
    items, seen = [], set()
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RagError(f"{where}: not JSON ({exc.msg})") from None
        item = _item(obj, where)
        if item.id in seen:
            raise RagError(f"{where}: duplicate id {item.id}")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise RagError(f"the eval set {path} has no questions")
    return items


def check_quotes(items: list[Item], corpus: Path, max_bytes: int = 50_000_000) -> list[str]:
    """Problems with quotes (file missing, text not verbatim in it); empty when all is well."""
    from rag.corpus import read_text

    texts: dict[str, str | None] = {}
    problems = []
    for item in items:
        for q in item.quotes:
            if q.file not in texts:
                try:
                    texts[q.file] = read_text(corpus / q.file, max_bytes)
                except (OSError, ValueError):
                    texts[q.file] = None
            text = texts[q.file]
            if text is None:
                problems.append(f"{item.id}: quote file {q.file} is not in {corpus}")
            elif q.text not in text:
                problems.append(f"{item.id}: quote is not verbatim in {q.file}: {q.text[:80]!r}")
    return problems


def select(items: list[Item], types: str | None = None, ids: str | None = None) -> list[Item]:
    """The subset asked for with --type / --ids (comma-separated); an empty result is an error."""
    want_types = {t.strip() for t in (types or "").split(",") if t.strip()}
    want_ids = {i.strip() for i in (ids or "").split(",") if i.strip()}
    unknown = want_ids - {i.id for i in items}
    if unknown:
        raise RagError(f"no question with id {', '.join(sorted(unknown))}")
    out = [i for i in items if (not want_types or i.type in want_types) and (not want_ids or i.id in want_ids)]
    if not out:
        raise RagError(f"no question of type {', '.join(sorted(want_types))}",
                       hint=f"types in this set: {', '.join(sorted({i.type for i in items}))}")
    return out
