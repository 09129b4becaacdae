"""The eval report: report.md (tables, failures), results.json, and PNG plots.

Kept apart from scoring so a change to how things look never changes a number.
matplotlib runs on the Agg backend: no display, nothing opened.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from rag.results import one_line
from rag.evaluate_metrics import K_VALUES, Scored

RETRIEVAL_COLS = [*(f"hit@{k}" for k in K_VALUES), "recall@5", "recall@10", "mrr", "ndcg@10"]
ANSWER_COLS = ["fact_recall", "exact", "partial_or_better", "citation_precision", "citation_recall",
               "citations_verbatim", "citations_per_answer"]
REFUSAL_COLS = ["refusal_precision", "refusal_recall", "false_refusal_rate", "refusal_accuracy"]
N_FAILURES = 12


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.0f}"
    return str(v)


def _num(v) -> float:
    """None (a metric that does not apply) becomes NaN: matplotlib leaves a gap."""
    return float("nan") if v is None else float(v)


def _ms(v) -> str | None:
    return None if v is None else f"{v:.1f}"


def _table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def _row_dict(r: Scored) -> dict:
    d = asdict(r)
    d.update(fact_recall=r.fact_recall, verdict=r.verdict)
    return d


def _writers(results: dict) -> list[str]:
    return [n for n in results["order"] if results["configs"][n]["writes_answers"]]


# --- markdown -------------------------------------------------------------------------------------
def _markdown(results: dict, items, plots: list[str]) -> str:
    meta, configs, order = results.get("meta", {}), results["configs"], results["order"]
    md = ["# rag eval report\n",
          f"{meta.get('questions', '?')} questions from `{meta.get('file', '?')}` over `{meta.get('corpus', '?')}` "
          f"({', '.join(meta.get('types', []))}); {meta.get('when', '')}, {meta.get('seconds', '?')} s.\n",
          "Configurations: " + "; ".join(f"**{n}** ({', '.join(f'{k}={v}' for k, v in configs[n]['settings'].items())})"
                                        for n in order) + ".\n",
          "How to read it: retrieval scores say whether the supporting quotes were among the passages "
          "retrieved (a quote counts when a passage of its file overlaps it); answer scores say whether "
          "the required facts are in the answer (numbers, currency, case normalised); citation precision "
          "is the share of citations that overlap a supporting quote or state a required fact; citation "
          "recall the share of answers whose cited text holds every required fact; refusal scores are "
          "about the unanswerable items. `llamaindex-dense` is plain LlamaIndex retrieval over the same "
          "collection and writes no answers, so only its retrieval scores are given.\n"]
    md.append("## Retrieval (answerable questions)\n")
    md.append(_table(["config", *RETRIEVAL_COLS], [[n, *(configs[n]["summary"].get(c) for c in RETRIEVAL_COLS)]
                                                  for n in order]))
    writers = _writers(results)
    if writers:
        md.append("## Answers and citations\n")
        md.append(_table(["config", *ANSWER_COLS], [[n, *(configs[n]["summary"].get(c) for c in ANSWER_COLS)]
                                                   for n in writers]))
        md.append("## Refusals\n")
        md.append(_table(["config", *REFUSAL_COLS], [[n, *(configs[n]["summary"].get(c) for c in REFUSAL_COLS)]
                                                    for n in writers]))
    md.append("## Latency (ms per question)\n")
    stages = ["embed", "retrieve", "answer", "total"]
    lat = lambda n, s, q: _ms(configs[n]["summary"]["latency_ms"].get(s, {}).get(q))  # noqa: E731
    md.append(_table(["config", *(f"{s} p50" for s in stages), *(f"{s} p95" for s in stages)],
                     [[n, *(lat(n, s, "p50") for s in stages), *(lat(n, s, "p95") for s in stages)]
                      for n in order]))
    md.append("## By question type\n")
    cols = ["hit@5", "mrr", "fact_recall", "exact", "citation_precision", "refusal_recall", "false_refusal_rate"]
    rows = []
    for n in order:
        for t, s in configs[n]["by_type"].items():
            rows.append([n, t, s["questions"], *(s.get(c) for c in cols)])
    md.append(_table(["config", "type", "n", *cols], rows))
    if results.get("calibration"):
        md.append(_calibration_md(results["calibration"]))
    for p in plots:
        md.append(f"![{p}]({p})\n")
    if writers:
        md.append(_failures_md(configs[writers[0]]["rows"], items, writers[0]))
    return "\n".join(md)


def _calibration_md(c: dict) -> str:
    out = ["## Refusal threshold calibration\n"]
    if c.get("threshold") is None:
        out.append(f"Nothing to calibrate on: {c.get('reason')}.\n")
        return "\n".join(out)
    bound = (f"with at most {c['max_false_refusals']:.0%} false refusals" if c.get("constraint_met")
             else f"(**the {c['max_false_refusals']:.0%} false-refusal bound cannot be met**: {c['reason']}; "
                  f"this is the best with the fewest false refusals)")
    out.append(f"Sweeping `answer_threshold` over the evidence scores (rule-based refusals kept, since they "
               f"happen at any threshold: {c['rule_refusals']['unanswerable']} unanswerable and "
               f"{c['rule_refusals']['answerable']} answerable questions): the best threshold {bound} "
               f"is **{c['threshold']}** "
               f"(refusal accuracy {c['accuracy']:.3f}, refusal recall {c['refusal_recall']:.3f}, "
               f"false refusals {c['false_refusal_rate']:.3f}); the current setting is {c['current']}.\n")
    out.append(f"Put it in rag.toml:\n\n```toml\nanswer_threshold = {c['threshold']}\n```\n")
    return "\n".join(out)


def _failures_md(rows: list[Scored], items, config: str) -> str:
    """Three lists, because each points at a different fix: wrong answers (selection and
    citation), false refusals (the refusal rules or retrieval), and answers to questions
    the corpus does not answer (the refusal rules or the threshold)."""
    by_id = {i.id: i for i in items}
    groups = [
        ("Wrong or incomplete answers, or unsupported citations",
         [r for r in rows if r.answerable and r.refused is False and r.badness > 0]),
        ("False refusals", [r for r in rows if r.answerable and r.refused]),
        ("Answered, but the corpus does not answer it", [r for r in rows if not r.answerable and not r.refused]),
    ]
    out = [f"## Worst failures ({config})\n"]
    if not any(g for _, g in groups):
        out.append("None: every question answered with all facts and supported citations, every "
                   "unanswerable one refused.\n")
    for title, group in groups:
        if not group:
            continue
        out.append(f"### {title} ({len(group)})\n")
        for r in sorted(group, key=lambda r: (-r.badness, r.id))[:N_FAILURES]:
            out.append(_failure_md(r, by_id[r.id]))
    return "\n".join(out)


def _failure_md(r: Scored, item) -> str:
    out = [f"#### {r.id} ({r.verdict}): {r.question}\n"]
    if item.answerable:
        facts = "; ".join(f"{'✓' if ok else '✗'} {' / '.join(f)}" for f, ok in zip(item.facts, r.facts_found))
        out.append(f"- expected: {item.answer}  \n- facts: {facts}  ")
        out.append(f"- supporting quote first retrieved at rank: {r.retrieval.get('first_rank') or 'not in top 10'}  ")
    out.append(f"- answer (evidence {r.evidence:.3f}): {one_line(r.answer)}"
               + (f"  \n- notice: {r.notice}" if r.notice else "") + (f"  \n- error: {r.error}" if r.error else ""))
    for c in r.citations:
        mark = "supported" if c["supported"] else "NOT supported"
        out.append(f"  - [{c['id']}] {c['file']} lines {c['start_line']}–{c['end_line']} ({mark}): "
                   f"\"{one_line(c['text'])[:300]}\"")
    out.append("")
    return "\n".join(out)


# --- plots ------------------------------------------------------------------------------------------
def _plots(results: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    configs, order = results["configs"], results["order"]
    made = []

    # 1. key metrics per configuration
    keys = ["hit@1", "hit@5", "recall@10", "mrr", "ndcg@10", "fact_recall", "exact", "citation_precision",
            "citation_recall", "refusal_recall", "false_refusal_rate"]
    fig, ax = plt.subplots(figsize=(12, 4.5))
    width = 0.8 / max(1, len(order))
    x = np.arange(len(keys))
    for i, n in enumerate(order):
        vals = [_num(configs[n]["summary"].get(k)) for k in keys]
        bars = ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=n)
        ax.bar_label(bars, labels=[f"{v:.2f}" if v == v else "" for v in vals], fontsize=6, rotation=90, padding=2)
    ax.set_xticks(x, keys, rotation=30, ha="right")
    ax.set_ylim(0, 1.15)
    ax.set_title("Scores per configuration (false_refusal_rate: lower is better)")
    ax.legend(fontsize=8, ncol=len(order))
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=110)
    plt.close(fig)
    made.append("metrics.png")

    # 2. per question type: hit@5 for all, fact recall (refusal recall for unanswerable) for writers
    all_types = sorted({t for n in order for t in configs[n]["by_type"]})
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    for ax, (title, types, fn) in zip(axes, [
            ("hit@5 of the supporting quotes", [t for t in all_types if t != "unanswerable"],
             lambda s, t: _num(s.get("hit@5"))),
            ("fact recall (unanswerable: refusal recall)", all_types,
             lambda s, t: _num(s.get("refusal_recall" if t == "unanswerable" else "fact_recall")))]):
        x = np.arange(len(types))
        for i, n in enumerate(order):
            vals = [fn(configs[n]["by_type"].get(t, {}), t) for t in types]
            ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=n)
        ax.set_xticks(x, types, rotation=20)
        ax.set_title(title)
        ax.set_ylim(0, 1.05)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=len(order), fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(out / "by_type.png", dpi=110)
    plt.close(fig)
    made.append("by_type.png")

    # 3. latency: total per configuration, and stages of the writer configurations
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    totals = [[r.timings_ms.get("total", np.nan) for r in configs[n]["rows"] if r.timings_ms] for n in order]
    axes[0].boxplot(totals, showfliers=True)
    axes[0].set_xticks(range(1, len(order) + 1), order, rotation=20)
    axes[0].set_ylabel("ms")
    axes[0].set_title("End-to-end latency per question")
    stages = ["embed", "retrieve", "answer"]
    writers = _writers(results)
    x = np.arange(len(writers))
    bottom = np.zeros(len(writers))
    for s in stages:
        vals = np.array([configs[n]["summary"]["latency_ms"].get(s, {}).get("p50", 0.0) for n in writers])
        axes[1].bar(x, vals, 0.5, bottom=bottom, label=s)
        bottom += vals
    axes[1].set_xticks(x, writers, rotation=20)
    axes[1].set_title("Median time per stage (ms)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)
    plt.close(fig)
    made.append("latency.png")

    calib = results.get("calibration")
    if calib and calib.get("points"):
        pts = calib["points"]
        fig, ax = plt.subplots(figsize=(10, 3.6))
        rng = np.random.default_rng(0)  # jitter only; fixed so the plot is reproducible
        for answerable, y, color in ((True, 1, "tab:blue"), (False, 0, "tab:red")):
            for ruled, marker in ((False, "o"), (True, "x")):
                ev = [p["evidence"] for p in pts if p["answerable"] == answerable and p["rule_refused"] == ruled]
                ax.scatter(ev, y + rng.uniform(-0.15, 0.15, len(ev)), c=color, marker=marker, s=22,
                           label=f"{'answerable' if answerable else 'unanswerable'}"
                                 f"{', refused by rule' if ruled else ''}")
        ax.axvline(calib["current"], color="gray", ls="--", label=f"current {calib['current']}")
        if calib.get("threshold") is not None:
            ax.axvline(calib["threshold"], color="green", ls="-", label=f"calibrated {calib['threshold']}")
        ax.set_yticks([0, 1], ["unanswerable", "answerable"])
        ax.set_xlabel("evidence score (Answer.evidence)")
        ax.set_title("Evidence per question and the refusal threshold")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
        fig.tight_layout()
        fig.savefig(out / "calibration.png", dpi=110)
        plt.close(fig)
        made.append("calibration.png")
    return made


# --- entry points ---------------------------------------------------------------------------------
def to_json(results: dict) -> dict:
    out = {k: v for k, v in results.items() if k != "configs"}
    out["configs"] = {n: {**{k: v for k, v in c.items() if k != "rows"}, "rows": [_row_dict(r) for r in c["rows"]]}
                      for n, c in results["configs"].items()}
    return out


def write_report(results: dict, items, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(to_json(results), indent=1, ensure_ascii=False), encoding="utf-8")
    plots = _plots(results, out)
    path = out / "report.md"
    path.write_text(_markdown(results, items, plots), encoding="utf-8")
    return path


def print_summary(results: dict) -> None:
    cols = ["hit@5", "mrr", "fact_recall", "citation_precision", "citation_recall", "refusal_recall",
            "false_refusal_rate"]
    print(f"{'config':28s} " + " ".join(f"{c[:12]:>12s}" for c in cols) + f" {'p50 ms':>8s} {'p95 ms':>8s}")
    for n in results["order"]:
        s = results["configs"][n]["summary"]
        lat = s["latency_ms"].get("total", {})
        print(f"{n[:28]:28s} " + " ".join(f"{_fmt(s.get(c)):>12s}" for c in cols)
              + f" {_fmt(lat.get('p50')):>8s} {_fmt(lat.get('p95')):>8s}")
