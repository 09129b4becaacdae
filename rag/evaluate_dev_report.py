"""The dev eval's report: tables, the left-out plot, report.md, and what a refit changed.

Rendering only: the figures come from rag.evaluate_dev.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.evaluate_metrics import Scored


def jsonable(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.bool_):
        return bool(o)
    raise TypeError(type(o).__name__)


def row(r: Scored) -> dict:
    return {"id": r.id, "type": r.type, "answerable": r.answerable, "refused": r.refused,
            "fact_recall": r.fact_recall if r.answerable else None, "evidence": round(r.evidence, 4),
            "answer": r.answer[:400], "notice": r.notice,
            "hit@5": r.retrieval.get("hit@5") if r.retrieval else None}


def changes(old, new) -> list[str]:
    if old is None:
        return [f"new scorer: threshold {new.threshold:.3f}"]
    lines = [f"refusal threshold {old.threshold:.3f} -> {new.threshold:.3f}",
             f"unit ranker: {_describe(old.unit)} -> {_describe(new.unit)}"]
    if old.question.names == new.question.names:
        deltas = sorted(zip(new.question.names, old.question.coef, new.question.coef),
                        key=lambda t: -abs(t[2] - t[1]))[:4]
        lines.append("refusal weights moved most: " + ", ".join(f"{n} {x:+.2f}->{y:+.2f}" for n, x, y in deltas))
    else:
        lines.append("refusal model: new features " + ", ".join(new.question.names))
    return lines


def _describe(model) -> str:
    trees = getattr(model, "trees", None)
    return f"{len(trees)} boosted trees" if trees is not None else "linear"


_COLS = (("hit@5", "hit@5"), ("fact_recall", "fact recall"), ("fused_top1", "fused top-1 (baseline)"),
         ("reader_top1", "reader top-1"), ("citation_precision", "citation support"),
         ("false_refusal_rate", "answerable refused"), ("refusal_recall", "unanswerables refused"),
         ("off_topic_refused", "off-topic refused"), ("citations_verbatim", "verbatim"),
         ("writer_p50_ms", "writer p50 ms"))


def table(entries: dict, title: str) -> str:
    head = "| corpus | " + " | ".join(label for _, label in _COLS) + " |"
    lines = [f"### {title}", "", head, "|" + "---|" * (len(_COLS) + 1)]
    for name, e in entries.items():
        cells = []
        for key, _ in _COLS:
            v = e.get(key)
            cells.append("–" if v is None else f"{v:.1f}" if key.endswith("_ms") else f"{v:.2f}")
        lines.append(f"| {'**mean**' if name == 'mean' else name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(left_out: dict, path: Path) -> None:
    """One group of bars per left-out corpus: where answers and refusals stand at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("hit@5", "hit@5"), ("fact_recall", "fact recall"), ("citation_precision", "citation support"),
            ("false_refusal_rate", "answerable refused (lower is better)"),
            ("refusal_recall", "unanswerables refused"), ("off_topic_refused", "off-topic refused")]
    names = list(left_out)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(keys)
    x = np.arange(len(names))
    for i, (key, label) in enumerate(keys):
        vals = [float(left_out[n].get(key) or 0.0) for n in names]
        bars = ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=label)
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in vals], fontsize=6, rotation=90, padding=2)
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1.2)
    ax.set_title("Left-out corpora: each answered by a scorer fitted on the others")
    ax.legend(fontsize=7, ncol=3, loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report_markdown(results: dict) -> str:
    meta = results["meta"]
    out = ["# rag eval — dev set, leave-one-corpus-out", "",
           f"{sum(meta['questions'].values())} questions over {len(meta['corpora'])} corpora "
           f"({', '.join(f'{k}: {v}' for k, v in meta['questions'].items())}); {meta['when']}, {meta.get('seconds')} s.",
           "", "Each corpus is answered by a scorer fitted on the other corpora only, with a refusal threshold "
           "chosen on corpora held out from that fit (≤ 5% answerable questions refused there).", "",
           table(results["left_out"], "Left out (the headline)"), "", "![left-out scores](left_out.png)", "",
           table(results["fitted_on_all"], "Fitted on all corpora (in-sample, for comparison only)"), ""]
    if "fit" in results:
        out += ["## Refit", "", f"Written to `{results['fit']['path']}`.", ""]
        out += [f"- {line}" for line in results["fit"]["changes"]] + [""]
    out += ["## Failures on left-out corpora", ""]
    for name, rows in results["rows"].items():
        bad = [r for r in rows if (r["answerable"] and (r["refused"] or (r["fact_recall"] or 0) < 1))
               or (not r["answerable"] and not r["refused"])]
        out.append(f"### {name}: {len(bad)} of {len(rows)}")
        out.append("")
        for r in bad[:40]:
            what = ("refused (answerable)" if r["refused"] else f"fact recall {r['fact_recall']:.2f}") \
                if r["answerable"] else "answered (should refuse)"
            out.append(f"- `{r['id']}` {what} — P={r['evidence']:.2f}: {r['answer'][:160]!s}")
        out.append("")
    return "\n".join(out)
