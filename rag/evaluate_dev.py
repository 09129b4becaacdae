"""The dev set across corpora: fit the answer scorer, and judge it on corpora left out.

A score on the questions a scorer was fitted on says little (the first writer scored 0.80
on its own set and 0.17-0.52 on independent ones), so the headline is leave-one-corpus-out:
for each corpus, a scorer fitted on all the others answers its questions. The refusal
threshold inside each of those scorers is itself chosen on corpora held out from its own
fit (inner leave-one-out), so no figure reported for a corpus has seen that corpus.

Each question goes through ``Pipeline.gather`` (the same retrieval users get) and
``ExtractiveWriter.prepare`` once; fitting and scoring a scorer then costs milliseconds,
so the 5 x 4 fits of the nested leave-one-out are cheap.
"""

from __future__ import annotations

import logging
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.errors import RagError
from rag.evaluate_metrics import Scored, facts_found, overlaps, summarize
from rag.evaluate_set import UNANSWERABLE, Item, check_quotes, load

log = logging.getLogger(__name__)

DEV_MANIFEST = Path("eval/dev.toml")
HEADLINE = ("hit@5", "fact_recall", "citation_precision", "false_refusal_rate", "refusal_recall",
            "citations_verbatim")


@dataclass
class DevCorpus:
    name: str
    corpus: Path
    items: list[Item]


@dataclass
class Case:
    """One question, gathered and prepared once; what every scorer is applied to."""

    corpus: str
    item: Item
    prep: object  # rag.answer.writer.Prepared
    quote_spans: list  # (file, start, end) of the hand-checked quotes
    ms: dict = field(default_factory=dict)  # embed / retrieve / prepare
    origin: str = ""  # the corpus the question was written for; another one for off-topic cases

    @property
    def own(self) -> bool:
        return self.origin in ("", self.corpus)

    def labels(self) -> np.ndarray:
        """Per unit: 1 for the best supporting units of the question (most required facts
        stated, a hand-checked quote overlapped as the tie-break), else 0. Kept once made:
        the 25 unit fits of a nested leave-one-out read them, and matching facts is the slow part."""
        if getattr(self, "_labels", None) is None:
            self._labels = self._grade()
        return self._labels

    def _grade(self) -> np.ndarray:
        grade = []
        for u in self.prep.units:
            m = u.meta
            hit = any(f == m["file"] and overlaps(m["start_char"], m["end_char"], s, e) for f, s, e in self.quote_spans)
            found = np.mean(facts_found(u.text, self.item.facts)) if self.item.facts else 0.0
            grade.append(float(found) + 0.25 * hit)
        g = np.asarray(grade)
        return (g >= g.max() - 1e-9) & (g > 0) if len(g) else g


def load_dev(path: Path = DEV_MANIFEST, only: list[str] | None = None) -> list[DevCorpus]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RagError(f"cannot read the dev manifest {path}: {exc}",
                       hint="it lists [[corpus]] entries with name, corpus and questions") from None
    root = path.parent.parent if path.parent.name == "eval" else Path(".")
    out = []
    for entry in data.get("corpus", []):
        if only and entry["name"] not in only:
            continue
        corpus = root / entry["corpus"]
        items = load(root / entry["questions"])
        problems = check_quotes(items, corpus)
        if problems:
            raise RagError(f"dev corpus {entry['name']}: {problems[0]}", hint="quotes must be verbatim")
        out.append(DevCorpus(entry["name"], corpus, items))
    if len(out) < 2:
        raise RagError("leave-one-corpus-out needs at least two dev corpora", hint=f"see {path}")
    return out


def collect(settings: Settings, dev: list[DevCorpus], index_root: Path, progress: bool = True,
            built: dict | None = None, off_topic: bool = True) -> dict[str, list[Case]]:
    """Index every dev corpus (incrementally, under index_root/<name>) and prepare every question.
    ``built``: pipelines, by corpus name, whose index already holds that corpus under these
    settings (a test session's seed index): brought up to date and used, not embedded again."""
    from tqdm import tqdm

    from rag.answer.writer import ExtractiveWriter
    from rag.pipeline import Pipeline

    out: dict[str, list[Case]] = {}
    embedder = None
    for dc in dev:
        pipe = (built or {}).get(dc.name)
        if pipe is None:
            pipe = Pipeline(settings.replace(corpus=dc.corpus, index=index_root / dc.name, collection=f"dev_{dc.name}",
                                             chroma_host=""), embedder=embedder)  # one model load for all corpora
        elif Path(pipe.settings.corpus).resolve() != Path(dc.corpus).resolve():
            raise RagError(f"the index given for dev corpus {dc.name} holds {pipe.settings.corpus}, not {dc.corpus}")
        report = pipe.ingest(progress=False)
        embedder = pipe.embedder
        log.info("dev corpus %s: %s", dc.name, report.summary())
        s = pipe.settings
        writer = ExtractiveWriter(s, pipe.embed)
        asked = [(item, dc.name) for item in dc.items] + (_off_topic(dc, dev) if off_topic else [])
        cases = []
        for item, origin in tqdm(asked, desc=f"prepare {dc.name}", unit="q", disable=not progress):
            g = pipe.gather(item.question)
            t1 = time.perf_counter()
            prep = writer.prepare(g.question, g.q_vec, g.pool, g.sentences, show=g.k)
            t2 = time.perf_counter()
            spans = _quote_spans(item, dc.corpus)
            cases.append(Case(dc.name, item, prep, spans,
                              {"embed": (g.t1 - g.t0) * 1e3, "retrieve": (g.t2 - g.t1) * 1e3,
                               "sentences": (t1 - g.t2) * 1e3, "prepare": (t2 - t1) * 1e3}, origin))
        out[dc.name] = cases
    return out


OFF_TOPIC_PER_CORPUS = 8


def _off_topic(dc: DevCorpus, dev: list[DevCorpus]) -> list[tuple[Item, str]]:
    """Other corpora's questions asked of this one: unanswerable here by construction.
    The hand-written unanswerables are all on-topic near misses; without these the refusal
    model never sees a question from another field, and answered one on the seeds with
    P = 0.43. The first answerable questions of each other corpus (deterministic)."""
    out = []
    for other in dev:
        if other.name == dc.name:
            continue
        picked = [i for i in other.items if i.answerable][:OFF_TOPIC_PER_CORPUS]
        out += [(Item(id=f"off-topic:{i.id}", type=UNANSWERABLE, question=i.question), other.name) for i in picked]
    return out


def _quote_spans(item: Item, corpus: Path) -> list[tuple[str, int, int]]:
    from rag.corpus import read_text
    from rag.evaluate_metrics import find_all

    out = []
    for q in item.quotes:
        text = read_text(corpus / q.file, 50_000_000)
        out += [(q.file, s, e) for s, e in find_all(text, q.text)]
    return out


# --- fitting -------------------------------------------------------------------------------------
C_GRID = (0.01, 0.03, 0.1, 1.0)  # the refusal model's regularisation, chosen by held-out AUC


def fit(cases: list[Case], fits: "Fits | None" = None):
    """A scorer from these cases. The refusal model's regularisation and its threshold are
    chosen on inner leave-one-corpus-out predictions: each corpus of ``cases`` scored by
    models fitted on the others, so the threshold is set where it will be used, on text
    the models have not seen. ``fits``: what earlier calls computed (see Fits)."""
    from rag.answer.features import QUESTION_FEATURES
    from rag.answer.scorer import Scorer, choose_threshold, fit_linear

    fits = fits or Fits()
    unit = fits.unit(cases)
    corpora = sorted({c.corpus for c in cases if c.own})
    folds = []
    for held in corpora if len(corpora) >= 2 else []:
        train = without(cases, held)
        sub_unit = fits.unit(train)
        folds.append((fits.rows(train, sub_unit), fits.rows([c for c in cases if c.corpus == held and c.own], sub_unit)))
    c_best, p_held, a_held = C_GRID[-1], None, None
    if folds:
        best_auc = -1.0
        for c in C_GRID:
            p = np.concatenate([fit_linear(Zt, yt, QUESTION_FEATURES, c=c).proba(Zh) for (Zt, yt), (Zh, _) in folds])
            a = np.concatenate([yh for _, (_, yh) in folds]).astype(bool)
            auc = _auc(p, a)
            if auc > best_auc:
                best_auc, c_best, p_held, a_held = auc, c, p, a
    Z, y = fits.rows(cases, unit)
    question = fit_linear(Z, y, QUESTION_FEATURES, c=c_best)
    if p_held is None:
        p_held, a_held = question.proba(Z), y.astype(bool)
    threshold = choose_threshold(p_held, a_held)
    return Scorer(unit, question, threshold, {"corpora": corpora, "questions": len(cases), "refusal_C": c_best,
                                              "fitted_at": time.strftime("%Y-%m-%d %H:%M:%S")})


def without(cases: list[Case], held: str) -> list[Case]:
    """Cases that have not seen corpus ``held``: neither its documents nor its questions."""
    return [c for c in cases if c.corpus != held and c.origin != held]


class Fits:
    """Unit rankers and question rows kept across the fits of one evaluation. The nested
    leave-one-out repeats work: an outer fold without A has an inner fold without B, and the
    one without B an inner fold without A -- the same training cases, in the same order. So a
    ranker is fitted once per training set (15 fits, not 25, for five corpora), and a case's
    question features are computed once per ranker. Results are those of fitting afresh."""

    def __init__(self):
        self._units: dict[tuple, object] = {}
        self._rows: dict[tuple[int, int], np.ndarray] = {}

    def unit(self, cases: list[Case]):
        key = tuple(map(id, cases))  # the cases live as long as this object
        if key not in self._units:
            self._units[key] = _fit_trees(cases)
        return self._units[key]

    def rows(self, cases: list[Case], unit) -> tuple[np.ndarray, np.ndarray]:
        """QUESTION_FEATURES per case under this ranker, and whether it is answerable."""
        new = [c for c in cases if (id(unit), id(c)) not in self._rows]
        for c, z in zip(new, _question_rows(new, unit)):
            self._rows[id(unit), id(c)] = z
        return (np.asarray([self._rows[id(unit), id(c)] for c in cases]),
                np.asarray([float(c.item.answerable) for c in cases]))


def _fit_trees(cases: list[Case]):
    from rag.answer.features import UNIT_FEATURES
    from rag.answer.scorer import fit_trees

    groups = _unit_groups(cases)
    # boosted trees beat a pairwise linear ranker on left-out corpora (mean top-unit fact
    # recall 0.55 vs 0.50 over four dev corpora when measured): features interact (a list
    # matters when a list is asked for, a date when a date is)
    return fit_trees(np.concatenate([X for X, _ in groups]), np.concatenate([y for _, y in groups]), UNIT_FEATURES)


def _auc(p: np.ndarray, positive: np.ndarray) -> float:
    """Probability that an answerable question scores above an unanswerable one (ties half)."""
    pos, neg = p[positive], p[~positive]
    if not len(pos) or not len(neg):
        return 0.5
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
                 / (len(pos) * len(neg)))


def _unit_groups(cases: list[Case]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features, labels) per answerable question part: what the ranker learns to order."""
    out = []
    for c in cases:
        if not c.item.answerable or not c.prep.parts:
            continue
        labels = c.labels()
        out += [(M, labels) for part, M in c.prep.parts if not part.optional]
    return out


def _question_rows(cases: list[Case], unit) -> list[np.ndarray]:
    from rag.answer.features import QUESTION_FEATURES, question_vector

    # every part of every case through the ranker in one call: per call, a tree ensemble
    # costs the same for 3 rows as for 3,000 (it was most of a fit, called per part)
    mats = [M for c in cases for _, M in c.prep.parts]
    flat = unit.logit(np.concatenate(mats)) if mats else np.zeros(0)
    bounds = np.cumsum([0] + [len(M) for M in mats])
    part_logits = iter(flat[a:b] for a, b in zip(bounds[:-1], bounds[1:]))
    out = []
    for c in cases:
        if c.prep.parts:
            logits = [next(part_logits) for _ in c.prep.parts]
            out.append(question_vector(c.prep.q, c.prep.parts, logits, c.prep.units, c.prep.rarity))
        else:
            out.append(np.zeros(len(QUESTION_FEATURES)))
    return out


# --- scoring -------------------------------------------------------------------------------------
def score(cases: list[Case], scorer, settings: Settings) -> list[Scored]:
    from rag.answer.writer import ExtractiveWriter
    from rag.corpus import read_text
    from rag.evaluate_metrics import citation_supported, retrieval_scores
    from rag.evaluate_metrics import Span as QSpan

    writer = ExtractiveWriter(settings, scorer=scorer)
    texts: dict[str, str] = {}
    rows = []
    for c in cases:
        t0 = time.perf_counter()
        answer = writer.decide(c.prep, scorer)
        decide_ms = (time.perf_counter() - t0) * 1e3
        item = c.item
        row = Scored(item.id, item.type, item.question, item.answerable, facts=item.facts)
        passages = [{"file": p.file, "start_char": p.start_char, "end_char": p.end_char, "start_line": p.start_line,
                     "end_line": p.end_line, "score": p.score} for p in c.prep.pool]
        spans = [[QSpan(f, s, e, 0, 0)] for f, s, e in c.quote_spans]
        if item.answerable:
            row.retrieval = retrieval_scores(passages, spans)
        row.refused, row.answer, row.evidence, row.notice = answer.refused, answer.answer, answer.evidence, answer.notice
        row.facts_found = facts_found(answer.answer, item.facts) if not answer.refused else [False] * len(item.facts)
        for cit in answer.citations:
            d = cit.to_dict()
            if cit.path not in texts:
                texts[cit.path] = read_text(Path(cit.path), settings.max_file_bytes)
            d["verbatim"] = texts[cit.path][cit.start_char:cit.end_char] == cit.text
            d["supported"] = item.answerable and citation_supported(d, [s for g in spans for s in g], item.facts)
            row.citations.append(d)
        row.timings_ms = {**c.ms, "writer": c.ms["prepare"] + decide_ms,
                          "total": sum(c.ms.values()) + decide_ms}
        rows.append(row)
    return rows


def leave_one_out(by_corpus: dict[str, list[Case]], settings: Settings, fits: Fits | None = None) -> dict:
    """Per corpus, the scores of a scorer fitted without it; their mean is the headline."""
    out: dict = {"left_out": {}, "rows": {}}
    everything = [c for cs in by_corpus.values() for c in cs]
    fits = fits or Fits()
    for name, cases in by_corpus.items():
        scorer = fit(without(everything, name), fits)
        rows = score([c for c in cases if c.own], scorer, settings)
        off = score([c for c in cases if not c.own], scorer, settings)
        out["left_out"][name] = {**_headline(summarize(rows)), "off_topic_refused": _mean([r.refused for r in off]),
                                 **baselines([c for c in cases if c.own]),
                                 "threshold": round(scorer.threshold, 4), "questions": len(rows)}
        out["rows"][name] = rows
    out["left_out"]["mean"] = _mean_of(out["left_out"].values())
    return out


def baselines(cases: list[Case]) -> dict:
    """Top-1 fact recall, in the same run, of the two simple choices every fitted scorer must
    beat: the fused rank's best unit (no model, no refusal) and the reader's best (if a reader
    read the pool). Over answerable questions; a refusal is not an option for either."""
    fused, read = [], []
    for c in cases:
        if not c.item.answerable:
            continue
        units = c.prep.units
        if not units:
            fused.append(0.0)
            read.append(0.0)
            continue
        fused.append(float(np.mean(facts_found(units[int(np.argmax(c.prep.fused))].text, c.item.facts))))
        if c.prep.read is not None and np.isfinite(c.prep.read).any():
            r = np.where(np.isfinite(c.prep.read), c.prep.read, -np.inf)
            read.append(float(np.mean(facts_found(units[int(np.argmax(r))].text, c.item.facts))))
    return {"fused_top1": _mean(fused), "reader_top1": _mean(read) if len(read) == len(fused) else None}


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def _headline(summary: dict) -> dict:
    keep = {k: summary.get(k) for k in HEADLINE}
    keep["writer_p50_ms"] = summary.get("latency_ms", {}).get("writer", {}).get("p50")
    keep["exact"] = summary.get("exact")
    return keep


def _mean_of(entries) -> dict:
    entries = list(entries)
    keys = [k for k in entries[0] if k not in ("threshold", "questions")]
    out = {}
    for k in keys:
        vals = [e[k] for e in entries if e.get(k) is not None]
        out[k] = sum(vals) / len(vals) if vals else None
    return out


def fitted_scores(by_corpus: dict[str, list[Case]], scorer, settings: Settings) -> dict:
    """Scores of one scorer on every corpus, including those it was fitted on: labelled so."""
    return {name: {**_headline(summarize(score([c for c in cases if c.own], scorer, settings))),
                   "off_topic_refused": _mean([r.refused for r in score([c for c in cases if not c.own], scorer,
                                                                           settings)])}
            for name, cases in by_corpus.items()}


# --- the command ---------------------------------------------------------------------------------
def main(settings: Settings, args) -> int:
    """`rag eval` over the dev manifest: leave-one-corpus-out scores first; `--fit` also
    refits the shipped scorer on every corpus and says what changed."""
    import json

    from rag.answer.scorer import DEFAULT_PATH, load
    from rag.evaluate_dev_report import changes, jsonable, plot, report_markdown, row, table

    manifest = Path(getattr(args, "dev", None) or DEV_MANIFEST)
    only = [c.strip() for c in (getattr(args, "corpora", None) or "").split(",") if c.strip()] or None
    dev = load_dev(manifest, only)
    out_dir = Path(getattr(args, "out", None) or "eval/out")
    quiet = getattr(args, "quiet", False)
    started = time.perf_counter()
    by_corpus = collect(settings, dev, Path(getattr(args, "dev_index", None) or out_dir / "index"), progress=not quiet)
    fits = Fits()  # shared by the leave-one-out and the final fit (whose inner folds it has made)
    loco = leave_one_out(by_corpus, settings, fits)
    results = {"left_out": loco["left_out"],
               "meta": {"manifest": str(manifest), "corpora": [d.name for d in dev],
                        "questions": {d.name: len(d.items) for d in dev},
                        "when": time.strftime("%Y-%m-%d %H:%M:%S")}}
    target = Path(getattr(args, "scorer_out", None) or settings.scorer_path or DEFAULT_PATH)
    if getattr(args, "fit", False):
        old = None
        try:
            old = load(target) if target.exists() else None
        except RagError:
            pass
        scorer = fit([c for cs in by_corpus.values() for c in cs], fits)
        scorer.save(target)
        results["fit"] = {"path": str(target), "changes": changes(old, scorer)}
    else:
        scorer = load(settings.scorer_path or None)
    results["fitted_on_all"] = fitted_scores(by_corpus, scorer, settings)
    results["rows"] = {n: [row(r) for r in rows] for n, rows in loco["rows"].items()}
    results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=jsonable) + "\n", encoding="utf-8")
    plot(results["left_out"], out_dir / "left_out.png")
    report = out_dir / "report.md"
    report.write_text(report_markdown(results), encoding="utf-8")
    print(table(results["left_out"], "left out (headline: each corpus scored by a scorer fitted without it)"))
    print()
    print(table(results["fitted_on_all"], "fitted on all corpora (in-sample: NOT the headline)"))
    if "fit" in results:
        print(f"\nscorer written to {target}:")
        for line in results["fit"]["changes"]:
            print(f"  {line}")
    print(f"\nreport: {report}")
    return 0
