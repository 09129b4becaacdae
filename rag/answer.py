"""The default answer writer: the corpus's own sentences, chosen and cited; or a refusal.

Why extractive: it runs offline on two CPU cores with no model server, and every claim is
a verbatim sentence of a file, so citations are exact by construction. No cross-encoder
ships offline, so sentences are scored with the embedding model (their vectors were
computed at ingest time, so answering costs no extra model calls) plus lexical evidence.

Refusal is decided on an evidence score in [0, 1] (dense similarity and coverage of the
question's terms by the best sentence), compared with ``settings.answer_threshold``,
which is calibrated on eval/ -- plus two checks similarity alone cannot make: a named
thing the question asks about must appear in the evidence, and a question that asks for
an amount or a date must find one there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from rag.cite import REFUSAL, Answer, Citation, Passage, one_line
from rag.config import Settings

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-\.]*[A-Za-z0-9]|[A-Za-z0-9]")
_NUMBER = re.compile(r"\d")
_MONTHS = r"january|february|march|april|may|june|july|august|september|october|november|december"
_DATE = re.compile(rf"\b(19|20)\d\d\b|\b({_MONTHS})\b|\bq[1-4]\b|\b(yesterday|today|last week|this week)\b", re.I)
_ASKS_AMOUNT = re.compile(r"\bhow (much|many|large|big)\b|\b(what|which) (percentage|share|amount|sum|number)\b", re.I)
_ASKS_MONEY = re.compile(r"\b(cost|costs|price|priced|pay|paid|valuation|valued|worth|fee|salary|revenue|invest|invested|investing|spend|spending)\b", re.I)
_MONEY = re.compile(r"[$€£¥]\s?\d|\d\s?(billion|million|trillion|bn|dollars|euros)\b|\b(billions|millions) of dollars", re.I)
_ASKS_DATE = re.compile(r"\bwhen\b|\bwhat (year|month|date|day)\b|\bwhich (year|month|quarter)\b", re.I)

STOPWORDS = frozenset("""
a an the and or but if then else of to in on at by for with from as into onto over under about
is are was were be been being am do does did doing have has had having will would shall should
can could may might must it its it's this that these those there here their them they he she
his her we our you your i me my what which who whom whose when where why how much many does
not no nor so than too very just also only any some such each both all more most other own same
according did does report reported reportedly say says said tell told article articles corpus
""".split())

# Words that start a question or are capitalised for grammar, not because they name something.
_NOT_NAMES = frozenset("what which who whom whose when where why how does did do is are was were "
                       "according in on the a an and or if".split())


def terms(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def content_terms(text: str) -> list[str]:
    return [t for t in terms(text) if t not in STOPWORDS and len(t) > 1]


def _stem(word: str) -> str:
    for suffix in ("'s", "ies", "es", "s", "ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def stems(text: str) -> set[str]:
    return {_stem(t) for t in content_terms(text)}


def salient_terms(question: str) -> set[str]:
    """Names, acronyms and numbers in the question: things the evidence must mention."""
    out = set()
    for i, raw in enumerate(_WORD.findall(question)):
        low = raw.lower()
        if low in _NOT_NAMES or low in STOPWORDS:
            continue
        if _NUMBER.search(raw) or (raw[0].isupper() and i > 0) or (raw.isupper() and len(raw) > 1):
            out.add(_stem(low.replace("’", "'")))
    return out


@dataclass
class Candidate:
    text: str
    meta: dict
    vector: np.ndarray
    passage: int
    dense: float = 0.0
    coverage: float = 0.0
    score: float = 0.0
    stems: set = field(default_factory=set)


class ExtractiveWriter:
    def __init__(self, settings: Settings):
        self.settings = settings

    def write(self, question: str, q_vec: np.ndarray, passages: list[Passage], sentences: list) -> Answer:
        cands = self._candidates(question, q_vec, passages, sentences)
        evidence, why = self._evidence(question, cands, passages)
        if evidence < self.settings.answer_threshold or why:
            return Answer(question, REFUSAL, True, passages=passages, evidence=evidence,
                          notice=why)
        chosen = self._select(question, cands)
        citations = [self._citation(i, c) for i, c in enumerate(chosen, 1)]
        text = " ".join(f"{one_line(c.text)} [{cit.id}]" for c, cit in zip(chosen, citations))
        return Answer(question, text, False, citations=citations, passages=passages, evidence=evidence)

    # --- scoring -------------------------------------------------------------------------
    def _candidates(self, question, q_vec, passages, sentences) -> list[Candidate]:
        q_stems = stems(question)
        weights = {s: 1.0 for s in q_stems} | {s: 2.0 for s in salient_terms(question) & q_stems}
        total = sum(weights.values()) or 1.0
        rank = {(p.path, p.start_char, p.end_char): i for i, p in enumerate(passages)}
        wants = _MONEY if _ASKS_MONEY.search(question) or _ASKS_AMOUNT.search(question) else \
            _DATE if _ASKS_DATE.search(question) else None
        seen, out = set(), []
        for _id, text, meta, vec in sentences:
            key = one_line(text).lower()
            if key in seen:
                continue  # the same sentence twice (001 repeats paragraphs): keep one
            seen.add(key)
            passage = min((i for (p, s, e), i in rank.items()
                           if p == meta["path"] and s <= meta["start_char"] and meta["end_char"] <= e), default=0)
            c = Candidate(text, meta, np.asarray(vec, dtype=np.float32), passage, stems=stems(text))
            c.dense = float(np.dot(q_vec, c.vector))
            c.coverage = sum(w for s, w in weights.items() if s in c.stems) / total
            c.score = 0.6 * c.dense + 0.4 * c.coverage + 0.03 / (1 + passage)
            if wants is not None and wants.search(text):
                c.score += 0.1  # it holds the kind of thing asked for (an amount, a date)
            out.append(c)
        return sorted(out, key=lambda c: -c.score)

    def _evidence(self, question: str, cands: list[Candidate], passages: list[Passage]) -> tuple[float, str]:
        if not cands:
            return 0.0, ""
        best = cands[0]
        evidence = 0.6 * best.dense + 0.4 * best.coverage
        top = cands[: self.settings.max_sentences * 2]
        pool = set().union(*(c.stems for c in cands))
        missing = sorted(salient_terms(question) - pool)
        if missing:
            return evidence, f"the passages found never mention: {', '.join(missing)}"
        if _ASKS_MONEY.search(question) and not any(_MONEY.search(c.text) and c.coverage > 0 for c in top):
            return evidence, "the question asks for a sum of money, and no passage found gives one"
        if _ASKS_AMOUNT.search(question) and not any(_NUMBER.search(c.text) for c in top):
            return evidence, "the question asks for an amount, and no passage found gives one"
        if _ASKS_DATE.search(question) and not any(_DATE.search(c.text) for c in top):
            return evidence, "the question asks for a date, and no passage found gives one"
        return evidence, ""

    def _select(self, question: str, cands: list[Candidate]) -> list[Candidate]:
        """Greedy: best sentence first, then ones that cover question terms not yet covered."""
        q_stems = stems(question)
        chosen = [cands[0]]
        covered = set(cands[0].stems) & q_stems
        floor = cands[0].score * 0.8
        for c in cands[1:]:
            if len(chosen) >= self.settings.max_sentences or c.score < floor:
                break
            if any(float(np.dot(c.vector, k.vector)) > 0.9 for k in chosen):
                continue  # near-repeat of a chosen sentence
            new = (c.stems & q_stems) - covered
            if new or c.score >= cands[0].score * 0.95:
                chosen.append(c)
                covered |= new
        return chosen

    @staticmethod
    def _citation(i: int, c: Candidate) -> Citation:
        m = c.meta
        return Citation(id=i, file=m["file"], path=m["path"], start_line=m["start_line"],
                        end_line=m["end_line"], start_char=m["start_char"], end_char=m["end_char"],
                        text=c.text, passage=c.passage)
