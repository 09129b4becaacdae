"""`rag eval`: run the eval set through the same ``Pipeline.ask`` users get, and score it.

A thin shell: questions come from rag.evaluate_set, scores from rag.evaluate_metrics, the
report from rag.evaluate_report. Configurations are Settings variations over ONE index
(built or synced once), plus ``llamaindex-dense``: the plain LlamaIndex retriever a user
would otherwise build over the same Chroma collection, scored on retrieval only (it has
no answer writer of its own; feeding its passages to ours would measure our writer, not it).

Configuration syntax (``--configs``, comma-separated): ``NAME[:key=value...]`` where NAME
is hybrid, dense, bm25 or llamaindex-dense and each key=value overrides a setting, e.g.
``hybrid:top_k=10:max_sentences=2``.
"""

from __future__ import annotations

import bisect
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import RETRIEVAL_MODES, Settings, validate
from rag.errors import RagError
from rag.evaluate_metrics import (Scored, Span, by_type, calibrate, citation_supported, facts_found, find_all,
                                  retrieval_scores, summarize)
from rag.evaluate_set import DEFAULT_FILE, Item, check_quotes, load, select

log = logging.getLogger(__name__)

MODES = RETRIEVAL_MODES
BASELINE = "llamaindex-dense"
RETRIEVE_K = 10  # retrieval metrics go to k=10 whatever top_k the answer uses
CALIBRATION_FLOOR = 0.0  # P(answerable) is never below it: the sweep sees every answer


@dataclass
class Config:
    name: str
    mode: str
    overrides: dict = field(default_factory=dict)

    @property
    def baseline(self) -> bool:
        return self.mode == BASELINE


def parse_configs(spec: str | None) -> list[Config]:
    out = []
    for part in (spec or "hybrid").split(","):
        part = part.strip()
        if not part:
            continue
        mode, *pairs = part.split(":")
        if mode not in (*MODES, BASELINE):
            raise RagError(f"unknown configuration '{mode}'",
                           hint=f"use {', '.join((*MODES, BASELINE))}, optionally with :setting=value")
        overrides = {} if mode == BASELINE else {"retrieval_mode": mode}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise RagError(f"configuration '{part}': '{pair}' is not setting=value")
            overrides[key.strip()] = value.strip()
        out.append(Config(part, mode, overrides))
    if len({c.name for c in out}) != len(out):
        raise RagError("a configuration is listed twice")
    return out


class _Files:
    """Corpus texts read once, for quote spans and for checking citations are verbatim."""

    def __init__(self, corpus: Path, max_bytes: int):
        self.corpus = corpus
        self.max_bytes = max_bytes
        self._texts: dict[str, str] = {}
        self._starts: dict[str, list[int]] = {}

    def text(self, key: str) -> str:
        from rag.corpus import line_starts, read_text

        if key not in self._texts:
            path = Path(key) if Path(key).is_absolute() else self.corpus / key
            self._texts[key] = read_text(path, self.max_bytes)
            self._starts[key] = line_starts(self._texts[key])
        return self._texts[key]

    def spans(self, item: Item) -> list[list[Span]]:
        out = []
        for q in item.quotes:
            text = self.text(q.file)
            starts = self._starts[q.file]
            out.append([Span(q.file, s, e, bisect.bisect_right(starts, s), bisect.bisect_right(starts, e - 1))
                        for s, e in find_all(text, q.text)])
        return out


def _passage_row(p) -> dict:
    return {"file": p.file, "start_line": p.start_line, "end_line": p.end_line, "start_char": p.start_char,
            "end_char": p.end_char, "score": round(p.score, 6), "also_in": p.also_in}


def _slim(row: dict) -> dict:
    """What results.json keeps of a passage: where it is and its score (the text is in the file)."""
    return {k: row[k] for k in ("file", "start_line", "end_line", "score")}


class _Baseline:
    """What a user would build with LlamaIndex alone: the index over the same collection, no
    fusion, no duplicate collapse."""

    def __init__(self, pipe, k: int):
        from llama_index.core import VectorStoreIndex

        from rag.store import Store

        store = Store(pipe.settings)
        store.require()
        index = VectorStoreIndex.from_vector_store(store.vector_store(), embed_model=pipe.embedder)
        self._retriever = index.as_retriever(similarity_top_k=k)

    def retrieve(self, question: str):
        from rag.retrieve import to_passage

        return [to_passage(n) for n in self._retriever.retrieve(question)]


def _score(item: Item, spans: list[list[Span]], files: _Files, answer=None, passages=None,
           timings=None) -> Scored:
    row = Scored(item.id, item.type, item.question, item.answerable, facts=item.facts)
    flat = [s for group in spans for s in group]
    if passages is not None:
        row.passages = [_passage_row(p) for p in passages]
        if item.answerable:
            row.retrieval = retrieval_scores(row.passages, spans)
        row.passages = [_slim(p) for p in row.passages]
    if answer is not None:
        row.refused, row.answer, row.evidence, row.notice = answer.refused, answer.answer, answer.evidence, answer.notice
        row.timings_ms = dict(answer.timings_ms)
        if not answer.refused:
            row.facts_found = facts_found(answer.answer, item.facts)
        else:
            row.facts_found = [False] * len(item.facts)
        for c in answer.citations:
            d = c.to_dict()
            try:
                d["verbatim"] = files.text(c.path)[c.start_char:c.end_char] == c.text
            except (OSError, ValueError):
                d["verbatim"] = False
            d["supported"] = item.answerable and citation_supported(d, flat, item.facts)
            row.citations.append(d)
    elif timings:
        row.timings_ms = timings
    return row


def run(settings: Settings, items: list[Item], configs: list[Config], progress: bool = True,
        calibrate_on: str | None = None) -> dict:
    """Every item under every configuration; returns what the report and the gate read."""
    from tqdm import tqdm

    from rag.pipeline import Pipeline

    files = _Files(Path(settings.corpus), settings.max_file_bytes)
    spans = {i.id: files.spans(i) for i in items}
    missing = [i.id for i in items if any(not group for group in spans[i.id])]
    if missing:
        raise RagError(f"quotes of {', '.join(missing[:5])} are not in the corpus {settings.corpus}",
                       hint="check the eval set against its corpus (quotes must be verbatim)")
    out: dict = {"configs": {}, "order": [c.name for c in configs]}
    passes = [(c, None) for c in configs]
    if calibrate_on:
        passes.append((Config(f"{calibrate_on} (calibration pass)", calibrate_on,
                              {"retrieval_mode": calibrate_on}), CALIBRATION_FLOOR))
    bar = tqdm(total=len(items) * len(passes), desc="eval", unit="q", disable=not progress)
    with bar:
        for config, floor in passes:
            cfg_settings = settings.replace(**config.overrides)
            if floor is not None:
                cfg_settings = cfg_settings.replace(answer_threshold=floor)
            pipe = Pipeline(cfg_settings)
            baseline = _Baseline(pipe, max(RETRIEVE_K, cfg_settings.top_k)) if config.baseline else None
            _warm(pipe, baseline, items[0].question)
            rows = []
            for item in items:
                bar.set_postfix_str(config.name[:24])
                rows.append(_one(pipe, baseline, item, spans[item.id], files, cfg_settings))
                bar.update(1)
            if floor is not None:
                out["calibration"] = _calibration(rows, settings)
                continue
            out["configs"][config.name] = {
                "settings": {k: cfg_settings.describe()[k] for k in
                             ("retrieval_mode", "top_k", "candidates", "answer_threshold", "max_sentences",
                              "writer")} if not config.baseline else {"retriever": BASELINE, "top_k": RETRIEVE_K},
                "writes_answers": not config.baseline,
                "summary": summarize(rows), "by_type": by_type(rows), "rows": rows}
    return out


def _warm(pipe, baseline, question: str) -> None:
    """First call pays for opening the store and building BM25: not what latency should show."""
    if baseline is not None:
        baseline.retrieve(question)
    else:
        pipe.ask(question)


def _one(pipe, baseline, item: Item, spans, files: _Files, settings: Settings) -> Scored:
    k = max(RETRIEVE_K, settings.top_k)
    try:
        if baseline is not None:
            t0 = time.perf_counter()
            passages = baseline.retrieve(item.question)
            return _score(item, spans, files, passages=passages[:k],
                          timings={"total": (time.perf_counter() - t0) * 1e3})
        answer = pipe.ask(item.question)
        passages = pipe.retrieve(item.question, top_k=k)
        return _score(item, spans, files, answer=answer, passages=passages)
    except RagError as exc:
        row = Scored(item.id, item.type, item.question, item.answerable, facts=item.facts,
                     refused=None if baseline is not None else True, error=str(exc))
        row.facts_found = [False] * len(item.facts)
        return row


def _calibration(rows: list[Scored], settings: Settings) -> dict:
    points = [(r.evidence, r.answerable, bool(r.refused)) for r in rows if not r.error]
    result = calibrate(points)
    result["current"] = settings.answer_threshold
    result["rule_refusals"] = {"answerable": sum(1 for r in rows if r.answerable and r.refused),
                               "unanswerable": sum(1 for r in rows if not r.answerable and r.refused)}
    result["points"] = [{"id": r.id, "evidence": round(r.evidence, 4), "answerable": r.answerable,
                         "rule_refused": bool(r.refused), "notice": r.notice} for r in rows]
    return result


def main(settings: Settings, args) -> int:
    from rag.evaluate_report import print_summary, write_report
    from rag.pipeline import Pipeline

    path = getattr(args, "file", None) or DEFAULT_FILE
    items = select(load(Path(path)), getattr(args, "types", None), getattr(args, "ids", None))
    problems = check_quotes(items, Path(settings.corpus), settings.max_file_bytes)
    if problems:
        raise RagError(f"the eval set does not match the corpus {settings.corpus}: {problems[0]}"
                       + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                       hint="quotes must be verbatim substrings of their files; fix the set or pass --corpus")
    configs = parse_configs(getattr(args, "configs", None))
    for c in configs:  # a bad setting in the last configuration should not wait for the others to run
        validate(settings.replace(**c.overrides))
    quiet = getattr(args, "quiet", False)
    report = Pipeline(settings).ingest(progress=not quiet)  # once, for every configuration
    log.info("index: %s", report.summary())
    calib_mode = None
    if getattr(args, "calibrate", False):
        calib_mode = next((c.mode for c in configs if not c.baseline), settings.retrieval_mode)
    started = time.perf_counter()
    results = run(settings, items, configs, progress=not quiet, calibrate_on=calib_mode)
    results["meta"] = {"file": str(path), "corpus": str(settings.corpus), "questions": len(items),
                       "types": sorted({i.type for i in items}), "seconds": round(time.perf_counter() - started, 1),
                       "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    out = Path(getattr(args, "out", None) or "eval/out")
    written = write_report(results, items, out)
    print_summary(results)
    print(f"\nreport: {written}")
    calib = results.get("calibration")
    if calib is not None:
        if calib.get("threshold") is None:
            print(f"calibration: nothing to calibrate on ({calib.get('reason')})")
        else:
            print(f"calibration: best answer_threshold = {calib['threshold']} (refusal accuracy "
                  f"{calib['accuracy']:.2f}, refusal recall {calib['refusal_recall']:.2f}, false refusals "
                  f"{calib['false_refusal_rate']:.2f}; now {calib['current']})")
            if not calib.get("constraint_met", True):
                print(f"warning: {calib['reason']}")
            print(f"put this in rag.toml:\n    answer_threshold = {calib['threshold']}")
    return 0
