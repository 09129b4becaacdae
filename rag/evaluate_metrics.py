"""Scoring one answer against one eval item, and summarising many: pure functions, no I/O.

Why our own and not LlamaIndex's evaluators: those (Faithfulness, Correctness, ...) ask
an LLM to judge, which is non-deterministic and needs a model we do not have offline.
Its RetrieverEvaluator scores node ids, but our relevance is a quote's character span in
a file, which no node id captures (a quote may straddle two chunks, or sit in a repeated
paragraph). Everything here is deterministic string and span arithmetic, so a score can
only move when the system's output moves.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

K_VALUES = (1, 3, 5, 10)

# --- normalising text for fact matching ------------------------------------------------------
from rag.textnorm import NUMBER_WORDS as _NUMBER_WORDS  # noqa: E402  (one table for writer and judge)
_SCALES = {"b": "billion", "bn": "billion", "m": "million", "mn": "million", "t": "trillion",
           "tn": "trillion", "k": "thousand", "gw": "gigawatt", "mw": "megawatt"}
_REPLACE = [
    (re.compile(r"\\"), ""),  # 000_… writes "\$5 billion"
    (re.compile(r"[‘’`´]"), "'"), (re.compile(r"[“”]"), '"'),
    (re.compile(r"[‐‑‒–—]"), "-"),
    (re.compile(r"[$€£¥]"), ""),
    (re.compile(r"(?<=\d),(?=\d{3}\b)"), ""),  # 430,000 -> 430000
    (re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b"), lambda m: _NUMBER_WORDS[m.group(1)]),
    (re.compile(r"(\d)\s*(" + "|".join(_SCALES) + r")\b"), lambda m: f"{m.group(1)} {_SCALES[m.group(2)]}"),
    (re.compile(r"(\d)\s*(?:percent|per cent|%)"), r"\1%"),
    (re.compile(r"(\d)\s*-\s*(\d)"), r"\1-\2"),
    (re.compile(r"\s+"), " "),
]


def normalize(text: str) -> str:
    """Case, currency symbols, backslashes, thousands separators, number words and unit
    abbreviations folded, so "$30B", "30 billion" and "\\$30 billion" compare equal."""
    out = text.lower()
    for pattern, repl in _REPLACE:
        out = pattern.sub(repl, out)
    return out.strip()


def _variant_pattern(variant: str) -> re.Pattern:
    # Whole-token match: "5 billion" must not match inside "15 billion", "1.5 billion" or
    # "3-5 billion"; a plural ending ("gigawatts") is allowed.
    return re.compile(r"(?<![0-9a-z.\-])" + re.escape(normalize(variant)) + r"(?:e?s)?(?![0-9a-z])")


def has_fact(text: str, variants: list[str]) -> bool:
    norm = normalize(text)
    return any(_variant_pattern(v).search(norm) for v in variants)


def facts_found(text: str, facts: list[list[str]]) -> list[bool]:
    return [has_fact(text, variants) for variants in facts]


# --- quote spans and retrieval ------------------------------------------------------------------
@dataclass(frozen=True)
class Span:
    file: str
    start: int
    end: int
    start_line: int = 0
    end_line: int = 0


def find_all(text: str, quote: str) -> list[tuple[int, int]]:
    """Every occurrence: 001_… repeats whole paragraphs, and either copy supports the answer."""
    out, pos = [], text.find(quote)
    while pos != -1:
        out.append((pos, pos + len(quote)))
        pos = text.find(quote, pos + 1)
    return out


def overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def passage_covers(passage: dict, quote_spans: list[Span]) -> bool:
    """A passage retrieves a quote when its file matches and its char span overlaps one
    occurrence; a collapsed twin (``also_in``, lines only) counts by line overlap."""
    for q in quote_spans:
        if passage["file"] == q.file and overlaps(passage["start_char"], passage["end_char"], q.start, q.end):
            return True
        for loc in passage.get("also_in") or []:
            if loc["file"] == q.file and loc["start_line"] <= q.end_line and q.start_line <= loc["end_line"]:
                return True
    return False


def retrieval_scores(passages: list[dict], quotes: list[list[Span]]) -> dict:
    """hit@k, recall@k over the item's quotes (each quote = all its occurrences), MRR and
    nDCG@10 with binary gains (a passage gains 1 when it retrieves a quote not yet retrieved)."""
    found_at: list[int | None] = []  # rank (1-based) at which each quote is first retrieved
    for spans in quotes:
        rank = next((r for r, p in enumerate(passages, 1) if passage_covers(p, spans)), None)
        found_at.append(rank)
    n = len(quotes)
    out: dict = {}
    for k in K_VALUES:
        got = sum(1 for r in found_at if r is not None and r <= k)
        out[f"hit@{k}"] = float(got > 0)
        out[f"recall@{k}"] = got / n if n else 0.0
    first = min((r for r in found_at if r is not None), default=None)
    out["mrr"] = 1.0 / first if first else 0.0
    gains = [0.0] * len(passages)
    for r in sorted({r for r in found_at if r is not None}):
        gains[r - 1] = 1.0
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]))
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(n, 10)))
    out["ndcg@10"] = dcg / ideal if ideal else 0.0
    out["first_rank"] = first
    return out


# --- answers and citations -----------------------------------------------------------------------
def citation_supported(citation: dict, quote_spans: list[Span], facts: list[list[str]]) -> bool:
    """ALCE-style support, made deterministic: the cited text overlaps a supporting quote, or
    it states one of the required facts itself."""
    for q in quote_spans:
        if citation["file"] == q.file and overlaps(citation["start_char"], citation["end_char"], q.start, q.end):
            return True
    return any(facts_found(citation["text"], facts))


@dataclass
class Scored:
    """One question under one configuration: what came back and how it scored."""

    id: str
    type: str
    question: str
    answerable: bool
    refused: bool | None = None  # None: this configuration writes no answers
    answer: str = ""
    evidence: float = 0.0
    notice: str = ""
    facts: list[list[str]] = field(default_factory=list)
    facts_found: list[bool] = field(default_factory=list)
    citations: list[dict] = field(default_factory=list)  # each with "supported", "verbatim"
    retrieval: dict = field(default_factory=dict)
    passages: list[dict] = field(default_factory=list)  # file, lines, score (no text: keeps results small)
    timings_ms: dict = field(default_factory=dict)
    error: str = ""

    @property
    def fact_recall(self) -> float:
        if not self.facts:
            return 0.0
        return sum(self.facts_found) / len(self.facts)

    @property
    def verdict(self) -> str:
        """correct / partial / wrong for answerable items; refused-ok / answered for the others."""
        if self.refused is None:
            return "n/a"
        if not self.answerable:
            return "refused (right)" if self.refused else "answered (should refuse)"
        if self.refused:
            return "refused (wrong)"
        r = self.fact_recall
        return "correct" if r == 1.0 else "partial" if r > 0 else "wrong"

    @property
    def cited_facts_covered(self) -> bool:
        joined = " ".join(c["text"] for c in self.citations)
        return bool(self.facts) and all(facts_found(joined, self.facts))

    @property
    def badness(self) -> float:
        """For ranking failures in the report: worst first."""
        if self.refused is None:
            return 1.0 - self.retrieval.get("recall@5", 0.0)
        if not self.answerable:
            return 0.0 if self.refused else 1.0
        if self.refused:
            return 1.0
        unsupported = sum(not c["supported"] for c in self.citations) / max(1, len(self.citations))
        return (1.0 - self.fact_recall) + 0.5 * unsupported


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank on the sorted values (no interpolation: with ~80 values it is honest)."""
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def _mean(values) -> float | None:
    """None when there is nothing to average: a metric that does not apply is not a zero."""
    values = list(values)
    return sum(values) / len(values) if values else None


def summarize(rows: list[Scored]) -> dict:
    """One configuration's scores over many questions (see README, Eval, for definitions)."""
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    with_ret = [r for r in answerable if r.retrieval]
    out: dict = {"questions": len(rows), "answerable": len(answerable), "unanswerable": len(unanswerable)}
    for key in [*(f"hit@{k}" for k in K_VALUES), *(f"recall@{k}" for k in K_VALUES), "mrr", "ndcg@10"]:
        out[key] = _mean(r.retrieval[key] for r in with_ret)
    writes = [r for r in rows if r.refused is not None]
    if writes:
        ans_w = [r for r in writes if r.answerable]
        unans_w = [r for r in writes if not r.answerable]
        answered = [r for r in ans_w if not r.refused]
        cits = [c for r in answered for c in r.citations]
        all_cits = [c for r in writes for c in r.citations]
        refused = [r for r in writes if r.refused]
        right_refusals = [r for r in unans_w if r.refused]
        out.update({
            "fact_recall": _mean(r.fact_recall for r in ans_w),
            "citations": len(all_cits),
            "exact": _mean(r.verdict == "correct" for r in ans_w),
            "partial_or_better": _mean(r.verdict in ("correct", "partial") for r in ans_w),
            "citation_precision": _mean(c["supported"] for c in cits),
            "citation_recall": _mean(r.cited_facts_covered for r in answered),
            "citations_verbatim": _mean(c["verbatim"] for c in all_cits),
            "citations_per_answer": _mean(len(r.citations) for r in answered),
            "refusal_precision": len(right_refusals) / len(refused) if refused else None,
            "refusal_recall": len(right_refusals) / len(unans_w) if unans_w else None,
            "false_refusal_rate": _mean(r.refused for r in ans_w),
            "refusal_accuracy": _mean(r.refused == (not r.answerable) for r in writes),
            "errors": sum(bool(r.error) for r in rows),
        })
    stages = sorted({s for r in rows for s in r.timings_ms})
    out["latency_ms"] = {s: {"p50": percentile([r.timings_ms[s] for r in rows if s in r.timings_ms], 50),
                             "p95": percentile([r.timings_ms[s] for r in rows if s in r.timings_ms], 95)}
                         for s in stages}
    return out


def by_type(rows: list[Scored]) -> dict[str, dict]:
    types = sorted({r.type for r in rows})
    return {t: summarize([r for r in rows if r.type == t]) for t in types}


# --- calibrating the refusal threshold -------------------------------------------------------------
def calibrate(points: list[tuple[float, bool, bool]], max_false_refusals: float = 0.05) -> dict:
    """Sweep the evidence threshold. ``points`` = (evidence, answerable, refused_by_rule): a
    rule-based refusal (Answer.notice) happens whatever the threshold, so it counts as a
    refusal at every candidate. Best = highest refusal accuracy with a false-refusal rate
    <= ``max_false_refusals``; among ties, the middle of the tied range (furthest from
    both edges). Thresholds are midpoints between observed scores, never a score itself."""
    if not points:
        return {"threshold": None, "reason": "no answers to calibrate on"}
    evid = sorted({round(e, 6) for e, _, _ in points})
    cuts = [evid[0] - 0.01] + [(a + b) / 2 for a, b in zip(evid, evid[1:])] + [evid[-1] + 0.01]
    n_ans = sum(1 for _, a, _ in points if a) or 1
    n_un = sum(1 for _, a, _ in points if not a) or 1
    sweep = []
    for t in cuts:
        refuse = [(rule or e < t, a) for e, a, rule in points]
        false_ref = sum(1 for r, a in refuse if r and a) / n_ans
        recall = sum(1 for r, a in refuse if r and not a) / n_un
        accuracy = sum(1 for r, a in refuse if r != a) / len(refuse)
        sweep.append({"threshold": round(t, 4), "accuracy": accuracy, "refusal_recall": recall,
                      "false_refusal_rate": false_ref})
    ok = [s for s in sweep if s["false_refusal_rate"] <= max_false_refusals + 1e-9]
    met = bool(ok)
    if not ok:  # rule-based refusals alone break the bound: the least false refusals we can get
        least = min(s["false_refusal_rate"] for s in sweep)
        ok = [s for s in sweep if s["false_refusal_rate"] == least]
    best_acc = max(s["accuracy"] for s in ok)
    tied = [i for i, s in enumerate(sweep) if s in ok and s["accuracy"] == best_acc]
    best = dict(sweep[tied[len(tied) // 2]])  # the middle of the tied range: furthest from both edges
    out = {**best, "sweep": sweep, "max_false_refusals": max_false_refusals, "constraint_met": met}
    if not met:
        out["reason"] = (f"rule-based refusals alone give {best['false_refusal_rate']:.0%} false refusals, "
                         f"above {max_false_refusals:.0%}: no threshold can fix that, the rules must")
    return out
