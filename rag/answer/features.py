"""Features of a candidate unit for one question part, and of a question's best evidence.

Every feature means the same on any corpus: similarities are taken relative to the other
candidates of the same question (rank gaps, z-scores), term coverage is weighted by rarity
among those candidates, and "does it hold what was asked" uses facts of language (what
"when" or "how many" asks for), never a word list of one domain. The weights that combine
them are fitted from data (rag.answer.scorer); none is typed in here.
"""

from __future__ import annotations

import math
import re

import numpy as np

from rag.answer.question import Part, Question, content_stems, has_kind, number_values, words
from rag.answer.units import ANAPHOR, Unit, is_heading

UNIT_FEATURES = (
    "dense", "dense_gap", "dense_z", "cover", "cover_around", "cover_header", "names_found",
    "kind_asked_ok", "kind_asked_missing", "is_list", "list_asked_list", "list_count_match",
    "is_pair", "is_paragraph", "anaphor", "rank", "log_words", "novelty", "headline", "is_heading",
    "cover_body", "rarest_found", "bigram_cover", "focus_found", "lead_in",
    "fused", "reader", "reader_z", "reader_gap", "read",
)
QUESTION_FEATURES = (
    "top_logit", "top_gap", "top_dense", "top_dense_z", "top_cover", "top_names_found",
    "pool_names_found", "pool_cover", "kind_asked", "kind_in_pool", "top_kind_ok", "n_parts",
    "kind_gap", "top_rarest", "top_bigram", "top_body",
    "top_reader", "reader_margin", "reader_agree", "top_fused",
)

_TERMINAL = re.compile(r"[.!?:;”\"]$")
_ASKS_LIST = re.compile(r"\b(?:list|name|enumerate)\b|\bwhat (?:are|were)\b|\b(?:which|what) \w+ (?:are|were|does|do|did)\b"
                        r"|\bwhich (?:\w+ ){0,2}\w+s\b|\bwhat (?:\w+ ){0,2}\w+s (?:are|were|does|do|did|must|should|can)\b",
                        re.I)
_COUNT = re.compile(r"\b(?:which|what|the|list|name)\s+(two|three|four|five|six|seven|eight|nine|ten|\d{1,2})\b", re.I)
_WORD_NUM = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


def asks_list(text: str) -> tuple[bool, int]:
    """Does the question want several things, and how many if it says ("which three")."""
    m = _COUNT.search(text)
    n = 0
    if m:
        g = m.group(1).lower()
        n = _WORD_NUM.get(g, int(g) if g.isdigit() else 0)
    return bool(n >= 2 or _ASKS_LIST.search(text)), n


def idf(units: list[Unit]) -> dict[str, float]:
    """Rarity among the candidates: the word every passage shares says little."""
    df: dict[str, int] = {}
    for u in units:
        for s in u.stems | u.header_stems:
            df[s] = df.get(s, 0) + 1
    n = len(units)
    return {s: 1.0 + math.log((n + 1) / (k + 0.5)) for s, k in df.items()}


def _weights(part: Part, rarity: dict[str, float]) -> dict[str, float]:
    return {s: rarity.get(s, 1.0 + math.log(len(rarity) + 1)) * (0.5 if any(c.isdigit() for c in s) else 1.0)
            for s in part.stems}


def _cover(weights: dict[str, float], have: set) -> float:
    total = sum(weights.values())
    return sum(w for s, w in weights.items() if s in have) / total if total else 0.0


def headline(text: str) -> bool:
    """Titles and link lines: no closing punctuation and mostly Capitalised."""
    ws = [w for w in words(text) if w[0].isalpha()]
    if not ws or _TERMINAL.search(text.strip()):
        return False
    return sum(w[0].isupper() for w in ws) / len(ws) >= 0.4 or "://" in text


def _bigrams(text: str) -> set:
    """Adjacent content stems ("rate limit", "idle timeout"): a phrase, not two words anywhere."""
    st = content_stems(text)
    return set(zip(st, st[1:]))


RRF_K = 60  # reciprocal-rank fusion's usual constant (Cormack et al. 2009), as in retrieval
READER_FLOOR = -10.0  # a unit the reader did not read (beyond its pool): below any it read


def fused(q: Question, units: list[Unit], dense: np.ndarray, rarity: dict[str, float]) -> np.ndarray:
    """The baseline order: reciprocal-rank fusion of the units' similarity to the question
    and their rarity-weighted coverage of its terms (own text and header), no fitted
    weight. Its top unit is the baseline every fitted scorer is reported beside."""
    weights = {s: rarity.get(s, 1.0) for s in q.stems}
    lexical = np.asarray([_cover(weights, u.stems | u.header_stems) for u in units])
    out = np.zeros(len(units))
    for score in (dense, lexical):
        rank = np.empty(len(units))
        rank[np.argsort(-score, kind="stable")] = np.arange(len(units))
        out += 1.0 / (RRF_K + rank)
    return out


def reader_columns(read: np.ndarray | None, fused_score: np.ndarray) -> np.ndarray:
    """fused, reader, reader_z, reader_gap, read: per unit. ``read`` holds the reader's
    logits, NaN where it did not read the unit; without a reader every reader column is 0,
    so a scorer fitted with one is never silently fed another reader's scale."""
    n = len(fused_score)
    fz = (fused_score - fused_score.mean()) / (fused_score.std() or 1.0) if n else fused_score
    if read is None or not np.isfinite(read).any():
        return np.column_stack([fz, np.zeros((n, 4))])
    ok = np.isfinite(read)
    mean, std, top = float(read[ok].mean()), float(read[ok].std()) or 1.0, float(read[ok].max())
    raw = np.where(ok, read, np.nan)
    z = np.where(ok, (raw - mean) / std, READER_FLOOR)
    gap = np.where(ok, raw - top, READER_FLOOR)
    return np.column_stack([fz, np.where(ok, raw, float(read[ok].min()) - 1.0), z, gap, ok.astype(float)])


def unit_matrix(q: Question, part: Part, units: list[Unit], dense: np.ndarray, rarity: dict[str, float],
                extra: np.ndarray | None = None) -> np.ndarray:
    """One row of UNIT_FEATURES per unit, for this part; ``extra``: reader_columns."""
    weights = _weights(part, rarity)
    mean, std = float(dense.mean()), float(dense.std()) or 1.0
    top = float(dense.max())
    q_numbers = number_values(q.text)
    wants_list, count = asks_list(part.text)
    named = {n for n in part.salient}
    rarest = max(weights, key=weights.get) if weights else ""
    q_bigrams = _bigrams(part.text)
    rows = []
    for u, d in zip(units, dense):
        kind_ok = has_kind(u.text, part.kind, q.stems, q_numbers)
        asked = part.kind not in ("other", "yesno")
        n_words = len(words(u.text))
        rows.append([
            float(d), float(d) - top, (float(d) - mean) / std,
            _cover(weights, u.stems), _cover(weights, u.stems | u.around | u.header_stems),
            _cover(weights, u.header_stems),
            (len(named & (u.stems | u.header_stems | u.around)) / len(named)) if named else 1.0,
            float(asked and kind_ok), float(asked and not kind_ok),
            float(u.kind == "list"), float(u.kind == "list" and wants_list),
            float(u.kind == "list" and count > 0 and u.items == count),
            float(u.kind == "pair"), float(u.kind == "paragraph"),
            float(u.kind == "sentence" and bool(ANAPHOR.match(u.text))),
            1.0 / (1 + u.passage), math.log1p(n_words),
            len(u.stems - q.stems) / max(len(u.stems), 1), float(headline(u.text)),
            float(is_heading(u)),
            # what the unit's own words cover of the question terms its header does not
            _cover({k: v for k, v in weights.items() if k not in u.header_stems}, u.stems),
            float(rarest in u.stems) if rarest else 0.0,
            (len(q_bigrams & _bigrams(u.text)) / len(q_bigrams)) if q_bigrams else 0.0,
            float(bool(part.focus) and part.focus in u.stems),
            float(u.text.rstrip().endswith(":")),  # announces what follows: not an answer alone
        ])
    base = np.asarray(rows, dtype=np.float64).reshape(len(units), len(UNIT_FEATURES) - 5)
    return np.column_stack([base, extra if extra is not None else np.zeros((len(units), 5))])


def _reader_summary(X: np.ndarray, z: np.ndarray, b: int, F: dict) -> list[float]:
    """top_reader, reader_margin, reader_agree, top_fused: how sure the reader is of its
    best unit, and whether the scorer's best is the reader's and the fused rank's too."""
    r = X[:, F["reader"]]
    read = X[:, F["read"]] > 0
    if not read.any():
        return [0.0, 0.0, 0.0, float(X[b, F["fused"]])]
    order = np.argsort(-np.where(read, r, -np.inf))
    margin = float(r[order[0]] - r[order[1]]) if read.sum() > 1 else 0.0
    return [float(r[order[0]]), margin, float(order[0] == b), float(X[b, F["fused"]])]


KIND_GAP_FLOOR = -10.0  # no unit holds the kind at all: as far below as the ranker's scale goes


def _kind_gap(z: np.ndarray, ok: np.ndarray) -> float:
    return float(max(z[ok].max() - z.max(), KIND_GAP_FLOOR)) if ok.any() else KIND_GAP_FLOOR


def question_vector(q: Question, parts: list[tuple[Part, np.ndarray]], logits: list[np.ndarray],
                    units: list[Unit], rarity: dict[str, float] | None = None) -> np.ndarray:
    """QUESTION_FEATURES from each required part's best unit; the weakest part decides."""
    F = {n: i for i, n in enumerate(UNIT_FEATURES)}
    pool = set().union(*(u.stems | u.header_stems for u in units)) if units else set()
    per_part = []
    for (part, X), z in zip(parts, logits):
        if part.optional or not len(z):
            continue
        order = np.argsort(-z)
        b = order[0]
        second = z[order[1]] if len(order) > 1 else z[b] - 5.0
        named = part.salient
        asked = part.kind not in ("other", "yesno")
        per_part.append([
            float(z[b]), float(z[b] - second), X[b, F["dense"]], X[b, F["dense_z"]], X[b, F["cover"]],
            X[b, F["names_found"]], (len(named & pool) / len(named)) if named else 1.0,
            _cover(_weights(part, rarity or idf(units)), pool),
            float(asked), float(asked and bool((X[:, F["kind_asked_ok"]] > 0).any())),
            float(not asked or X[b, F["kind_asked_ok"]] > 0), float(len(parts)),
            # how much worse the best unit holding the asked-for kind is than the best unit:
            # large when the corpus talks about the subject but never gives the value
            _kind_gap(z, X[:, F["kind_asked_ok"]] > 0) if asked else 0.0,
            X[b, F["rarest_found"]], X[b, F["bigram_cover"]], X[b, F["cover_body"]],
            *_reader_summary(X, z, b, F),
        ])
    if not per_part:
        return np.full(len(QUESTION_FEATURES), 0.0)
    arr = np.asarray(per_part)
    return arr[int(np.argmin(arr[:, 0]))]
