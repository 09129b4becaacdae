"""The default answer writer: the corpus's own text, chosen and cited; or a refusal.

Why extractive: it runs offline on two CPU cores with no model server, and every claim is
verbatim text of a file, so citations are exact by construction. The flow:
question analysis (rag.answer.question) -> candidate units from the retrieved passages
(rag.answer.units) -> features (rag.answer.features) -> the fitted scorer
(rag.answer.scorer) picks the best unit per question part and gives P(answerable); below
the fitted threshold the answer is a refusal that still shows the closest passages.

``prepare`` does everything that does not depend on the scorer's weights, ``decide`` the
rest: the eval fits and scores many scorers over one ``prepare`` per question.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from rag.answer import features, units
from rag.answer.question import Part, Question, analyse
from rag.answer.scorer import Scorer, load
from rag.results import REFUSAL, Answer, Citation, Passage, one_line
from rag.config import Settings

REPEAT_COSINE = 0.92  # two units this similar say the same thing: never both in one answer
PART_CANDIDATES = 5  # a later part looks this far down its own ranking for a unit not yet quoted


@dataclass
class Prepared:
    """A question's candidates and their features: all that the weights are applied to."""

    question: str
    q: Question
    pool: list[Passage]
    shown: list[Passage]
    units: list[units.Unit]
    parts: list[tuple[Part, np.ndarray]] = field(default_factory=list)  # (part, unit feature matrix)
    rarity: dict | None = None  # idf over the units: made once here, read by every scorer applied
    fused: np.ndarray | None = None  # the baseline order's score per unit (features.fused)
    read: np.ndarray | None = None  # the reader's logit per unit, NaN where it did not read
    reader_ms: float = 0.0


class ExtractiveWriter:
    def __init__(self, settings: Settings, embed: Callable[[str], list[float]] | None = None,
                 scorer: Scorer | None = None, reader=False):
        self.settings = settings
        self.embed = embed  # for multi-part questions: each part gets its own query vector
        self._scorer = scorer
        self._reader = reader  # False: not looked up yet; None: none (off, or not exported)

    @property
    def reader(self):
        if self._reader is False:
            self._reader = None
            if self.settings.reader:
                from rag.answer import reader

                self._reader = reader.load(self.settings.cache_dir, reader.adapter_dir(self.settings))
        return self._reader

    @property
    def scorer(self) -> Scorer:
        if self._scorer is None:
            self._scorer = load(self.settings.scorer_path or None)
        return self._scorer

    def threshold(self, scorer: Scorer) -> float:
        t = self.settings.answer_threshold
        return scorer.threshold if t < 0 else t

    # --- the public calls -------------------------------------------------------------------
    def write(self, question: str, q_vec, passages: list[Passage], sentences: list,
              show: int | None = None) -> Answer:
        """``passages`` may be a wider pool than is shown: the first ``show`` are shown, plus
        any other passage a citation comes from."""
        return self.decide(self.prepare(question, q_vec, passages, sentences, show))

    def stream(self, question: str, q_vec, passages: list[Passage], sentences: list, show: int | None = None):
        """Same interface as the LLM writer's: the extractive answer comes whole."""
        return self.write(question, q_vec, passages, sentences, show=show)
        yield  # pragma: no cover  (makes this a generator that yields nothing)

    def units(self, question: str, q_vec, passages: list[Passage], sentences: list) -> list[units.Unit]:
        return units.build(passages, sentences)[0]

    # --- scorer-independent work ------------------------------------------------------------
    def prepare(self, question: str, q_vec, passages: list[Passage], sentences: list,
                show: int | None = None) -> Prepared:
        q = analyse(question)
        cands, pool = units.build(passages, sentences)
        prep = Prepared(question, q, pool, list(passages[: show or len(passages)]), cands)
        if not cands:
            return prep
        q_vec = np.asarray(q_vec, dtype=np.float32)
        vectors = np.stack([u.vector for u in cands])
        rarity = prep.rarity = features.idf(cands)
        prep.fused = features.fused(q, cands, vectors @ q_vec, rarity)
        prep.read = self._read(question, cands, prep)
        extra = features.reader_columns(prep.read, prep.fused)
        part_vecs = self._part_vectors(q, q_vec)
        for part, pv in zip(q.parts, part_vecs):
            dense = vectors @ (q_vec if pv is None else pv)
            prep.parts.append((part, features.unit_matrix(q, part, cands, dense, rarity, extra)))
        return prep

    def _read(self, question: str, cands: list[units.Unit], prep: Prepared) -> np.ndarray | None:
        """The reader's logits for the fused rank's best POOL units (NaN for the rest)."""
        if self.reader is None:
            return None
        from rag.answer.reader import POOL, pair_text

        t0 = time.perf_counter()
        top = np.argsort(-prep.fused, kind="stable")[:POOL]
        out = np.full(len(cands), np.nan)
        out[top] = self.reader.score(question, [pair_text(cands[i].text, cands[i].meta.get("context", ""))
                                                for i in top])
        prep.reader_ms = (time.perf_counter() - t0) * 1e3
        return out

    def _part_vectors(self, q: Question, q_vec: np.ndarray) -> list:
        if sum(not p.optional for p in q.parts) < 2 or self.embed is None:
            return [None] * len(q.parts)
        out = []
        for p in q.parts:
            if p.optional:
                out.append(None)
                continue
            v = 0.5 * q_vec + 0.5 * np.asarray(self.embed(p.text), dtype=np.float32)
            out.append(v / (np.linalg.norm(v) or 1.0))
        return out

    # --- applying the scorer ------------------------------------------------------------------
    def decide(self, prep: Prepared, scorer: Scorer | None = None) -> Answer:
        scorer = scorer or self.scorer
        if not prep.units or not prep.parts:
            return Answer(prep.question, REFUSAL, True, passages=prep.shown, evidence=0.0,
                          notice="no passage was found")
        logits = [scorer.unit.logit(X) for _, X in prep.parts]
        z = features.question_vector(prep.q, prep.parts, logits, prep.units, prep.rarity)
        p_answer = float(scorer.question.proba(z)[0])
        threshold = self.threshold(scorer)
        if p_answer < threshold:
            return Answer(prep.question, REFUSAL, True, passages=prep.shown, evidence=p_answer,
                          notice=_why(prep, z, p_answer, threshold))
        chosen = self.select(prep, logits)
        return self.compose(prep, chosen, p_answer)

    def select(self, prep: Prepared, logits: list[np.ndarray]) -> list[units.Unit]:
        """One unit per part: its best one that does not repeat an earlier part's ("…, and how
        much did Google commit?" gets its own sentence even when the first part's also ranks
        high for it)."""
        chosen: list[units.Unit] = []
        for (part, _X), z in zip(prep.parts, logits):
            if len(chosen) >= self.settings.max_sentences or part.optional:
                continue
            for i in np.argsort(-z)[:PART_CANDIDATES]:
                unit = _completed(prep.units[i], prep.units, z)
                if not _repeats(unit, chosen):
                    chosen.append(unit)
                    break
        return chosen

    def compose(self, prep: Prepared, chosen: list[units.Unit], p_answer: float) -> Answer:
        """Citations in the question's order; each unit quoted verbatim with its lines."""
        shown = list(prep.shown)
        index = {(p.path, p.start_char, p.end_char): i for i, p in enumerate(shown)}
        citations, parts = [], []
        for u in chosen:
            src = prep.pool[u.passage] if u.passage < len(prep.pool) else None
            pidx = 0
            if src is not None:
                key = (src.path, src.start_char, src.end_char)
                if key not in index:
                    index[key] = len(shown)
                    shown.append(src)
                pidx = index[key]
            m = u.meta
            n = len(citations) + 1
            citations.append(Citation(id=n, file=m["file"], path=m["path"], start_line=m["start_line"],
                                      end_line=m["end_line"], start_char=m["start_char"], end_char=m["end_char"],
                                      text=u.text, passage=pidx))
            parts.append(f"{one_line(u.text)} [{n}]")
        return Answer(prep.question, " ".join(parts), False, citations=citations, passages=shown,
                      evidence=p_answer)


def _completed(best: units.Unit, cands: list[units.Unit], z: np.ndarray) -> units.Unit:
    """A lead-in ("… the following tools:") announces what follows and answers nothing
    alone: a fact of language, not a fitted weight. It is replaced by the best-scoring unit
    that starts with it and goes on (its list, or the lead-in with the next sentence)."""
    if not best.text.rstrip().endswith(":"):
        return best
    longer = [(float(z[i]), i) for i, u in enumerate(cands) if u is not best and _covers(u, best)
              and u.meta["start_char"] == best.meta["start_char"] and u.meta["end_char"] > best.meta["end_char"]]
    if not longer:
        return best
    lists = [(s, i) for s, i in longer if cands[i].kind == "list"]
    return cands[max(lists or longer)[1]]


def _repeats(u: units.Unit, chosen: list[units.Unit]) -> bool:
    return any(_covers(c, u) or _covers(u, c) or float(np.dot(u.vector, c.vector)) > REPEAT_COSINE for c in chosen)


def _covers(a: units.Unit, b: units.Unit) -> bool:
    return a.meta["path"] == b.meta["path"] and a.meta["start_char"] <= b.meta["start_char"] \
        and b.meta["end_char"] <= a.meta["end_char"]


_WHAT = {"money": "a sum of money", "amount": "an amount", "date": "a date", "name": "a name"}


def _why(prep: Prepared, z: np.ndarray, p: float, threshold: float) -> str:
    """The refusal's reason in words: the weakest signal among those the scorer read."""
    f = dict(zip(features.QUESTION_FEATURES, z.tolist()))
    base = f"P(answerable) {p:.2f} is below the threshold {threshold:.2f}"
    kinds = [part.kind for part, _ in prep.parts if part.kind in _WHAT and not part.optional]
    if f["kind_asked"] and not f["kind_in_pool"] and kinds:
        return f"{base}: the question asks for {_WHAT[kinds[0]]}, and no passage found gives one"
    missing = sorted({w for part, _ in prep.parts for w in part.salient}
                     - set().union(*(u.stems | u.header_stems for u in prep.units)))
    if missing:
        return f"{base}: the passages found never mention {prep.q.say(missing)}"
    return base
