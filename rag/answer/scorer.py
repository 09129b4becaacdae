"""The fitted scorer: which unit answers, and how likely the question is answerable at all.

Two logistic regressions over rag.answer.features, fitted by ``rag eval --fit`` on the
dev corpora and stored in a JSON file the fit writes (``rag/data/scorer.json``): one
ranks units (is this unit the supporting text?), the other gives P(answerable) from the
best units' features; the refusal threshold on that probability is chosen on held-out
corpora. Applying them needs numpy only; scikit-learn is needed for fitting alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.answer.features import QUESTION_FEATURES, UNIT_FEATURES
from rag.errors import RagError

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "scorer.json"
MAX_FALSE_REFUSALS = 0.05  # the refusal threshold is the strictest that keeps this on held-out data


@dataclass
class Linear:
    """Clip to the range seen in fitting, standardise, then a linear logit: a fitted
    LogisticRegression, kept from extrapolating.

    Why the clip: a linear model takes a feature far beyond its training range at its word.
    A one-line note beside a news article made the note's sentence stand out from the pool
    as no dev question's best unit did (top_dense_z 7.5), and a refit with a negative weight
    on it refused "Who runs the cafeteria on Tuesdays?" over "Quokkas run the cafeteria on
    Tuesdays." (P 0.24). ``low``/``high`` are the training minimum and maximum, saved with
    the scorer; a file without them is not clipped.
    """

    names: tuple
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    def logit(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(X)
        if self.low is not None:
            X = np.clip(X, self.low, self.high)
        return ((X - self.mean) / self.scale) @ self.coef + self.intercept

    def proba(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(X)))

    def to_dict(self) -> dict:
        out = {"features": list(self.names), "mean": self.mean.round(6).tolist(),
               "scale": self.scale.round(6).tolist(), "coef": self.coef.round(6).tolist(),
               "intercept": round(float(self.intercept), 6)}
        if self.low is not None:
            out |= {"low": self.low.tolist(), "high": self.high.tolist()}
        return out

    @classmethod
    def from_dict(cls, d: dict, expected: tuple) -> "Linear":
        if tuple(d["features"]) != tuple(expected):
            raise RagError("the scorer file was fitted on other features than this version computes",
                           hint="refit it: rag eval --fit")
        bounds = (np.asarray(d["low"]), np.asarray(d["high"])) if "low" in d else (None, None)
        return cls(tuple(d["features"]), np.asarray(d["mean"]), np.asarray(d["scale"]),
                   np.asarray(d["coef"]), float(d["intercept"]), *bounds)


@dataclass
class Trees:
    """A boosted tree ensemble as plain arrays: its logit is the baseline plus one leaf value
    per tree. Why our own evaluator: applying scikit-learn's model at question time would
    import scikit-learn (most of a second) into every `rag ask`; these arrays need numpy."""

    names: tuple
    baseline: float
    trees: list  # each: dict of equal-length lists feature, threshold, left, right, leaf, value

    def logit(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        out = np.full(len(X), self.baseline)
        rows = np.arange(len(X))
        for t in self._arrays():
            node = np.zeros(len(X), dtype=np.int64)
            for _ in range(t["depth"]):
                leaf = t["leaf"][node]
                if leaf.all():
                    break
                go_left = X[rows, t["feature"][node]] <= t["threshold"][node]
                nxt = np.where(go_left, t["left"][node], t["right"][node])
                node = np.where(leaf, node, nxt)
            out += t["value"][node]
        return out

    def _arrays(self) -> list[dict]:
        if not hasattr(self, "_cache"):
            self._cache = [{k: np.asarray(v) for k, v in t.items()} | {"depth": int(t["depth"])} for t in self.trees]
        return self._cache

    def to_dict(self) -> dict:
        return {"type": "trees", "features": list(self.names), "baseline": round(self.baseline, 6), "trees": self.trees}

    @classmethod
    def from_dict(cls, d: dict, expected: tuple) -> "Trees":
        if tuple(d["features"]) != tuple(expected):
            raise RagError("the scorer file was fitted on other features than this version computes",
                           hint="refit it: rag eval --fit")
        return cls(tuple(d["features"]), float(d["baseline"]), d["trees"])


def fit_trees(X: np.ndarray, y: np.ndarray, names: tuple) -> Trees:
    """Gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier), exported to
    arrays. Reads the fitted predictors' node table: a private structure, so a scikit-learn
    that changes it fails here, at fit time, never when answering."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_leaf_nodes=15,
                                           min_samples_leaf=40, l2_regularization=1.0,
                                           class_weight="balanced", random_state=0)
    model.fit(X, y.astype(int))
    trees = []
    for (pred,) in model._predictors:
        n = pred.nodes
        trees.append({"feature": n["feature_idx"].astype(int).tolist(),
                      "threshold": [float(v) for v in n["num_threshold"]],  # exact: features tie at 1/3 etc.
                      "left": n["left"].astype(int).tolist(), "right": n["right"].astype(int).tolist(),
                      "leaf": n["is_leaf"].astype(bool).tolist(), "value": [round(float(v), 7) for v in n["value"]],
                      "depth": int(n["depth"].max()) + 1})
    out = Trees(names, float(np.ravel(model._baseline_prediction)[0]), trees)
    check = out.logit(X[:200])
    want = model.decision_function(X[:200])
    if not np.allclose(check, want, atol=1e-4):  # missing values or categorical splits: not ours
        raise RagError("exporting the boosted trees did not reproduce scikit-learn's scores",
                       hint="this scikit-learn version stores its trees differently; pin scikit-learn<2")
    return out


@dataclass
class Scorer:
    unit: "Linear | Trees"
    question: Linear
    threshold: float  # refuse when P(answerable) is below it
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"about": "Fitted by `rag eval --fit` (rag.answer.scorer); do not edit by hand.",
                "threshold": round(self.threshold, 6), "unit": self.unit.to_dict(),
                "question": self.question.to_dict(), "meta": self.meta}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")


_CACHE: dict[str, Scorer] = {}


def load(path: Path | str | None = None) -> Scorer:
    p = Path(path) if path else DEFAULT_PATH
    key = str(p)
    if key not in _CACHE:
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            unit_cls = Trees if d["unit"].get("type") == "trees" else Linear
            _CACHE[key] = Scorer(unit_cls.from_dict(d["unit"], UNIT_FEATURES),
                                 Linear.from_dict(d["question"], QUESTION_FEATURES),
                                 float(d["threshold"]), d.get("meta", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RagError(f"cannot read the answer scorer {p}: {exc}",
                           hint="refit it with `rag eval --fit`, or unset scorer_path") from None
    return _CACHE[key]


# --- fitting (scikit-learn) ---------------------------------------------------------------------
def fit_linear(X: np.ndarray, y: np.ndarray, names: tuple, c: float = 1.0) -> Linear:
    from sklearn.linear_model import LogisticRegression

    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    if len(set(y.tolist())) < 2:
        raise RagError("cannot fit the scorer: the training data has one class only",
                       hint="the dev set needs answerable and unanswerable questions")
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    model.fit((X - mean) / scale, y)
    return Linear(names, mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]),
                  X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64))


def fit_pairwise(groups: list[tuple[np.ndarray, np.ndarray]], names: tuple, c: float = 1.0,
                 max_negatives: int = 40) -> Linear:
    """A ranker: logistic regression on differences (supporting unit minus another unit of
    the same question), so the weights learn what makes one candidate beat another for the
    same question, not what makes an easy question's candidates score high."""
    from sklearn.linear_model import LogisticRegression

    X_all = np.concatenate([X for X, _ in groups])
    mean = X_all.mean(axis=0)
    scale = X_all.std(axis=0)
    scale[scale == 0] = 1.0
    diffs = []
    rng = np.random.default_rng(0)
    for X, y in groups:
        pos, neg = np.flatnonzero(y > 0), np.flatnonzero(y <= 0)
        if not len(pos) or not len(neg):
            continue
        if len(neg) > max_negatives:
            neg = rng.choice(neg, max_negatives, replace=False)
        Z = (X - mean) / scale
        diffs.append((Z[pos][:, None, :] - Z[neg][None, :, :]).reshape(-1, X.shape[1]))
    if not diffs:
        raise RagError("cannot fit the unit ranker: no question has both supporting and other units")
    D = np.concatenate(diffs)
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=2000)
    model.fit(np.concatenate([D, -D]), np.concatenate([np.ones(len(D)), np.zeros(len(D))]))
    return Linear(names, mean, scale, model.coef_[0].astype(np.float64), 0.0)


def choose_threshold(p: np.ndarray, answerable: np.ndarray, max_false: float = MAX_FALSE_REFUSALS) -> float:
    """The highest threshold whose false refusals (answerable questions below it) stay
    within ``max_false``: refuse as much as that budget allows. Midpoints between scores."""
    ans = np.sort(p[answerable])
    if not len(ans):
        return 0.5
    k = int(np.floor(max_false * len(ans)))  # this many answerable may fall below
    if k >= len(ans):
        return float(ans[-1])
    lo = ans[k - 1] if k > 0 else 0.0
    return float((lo + ans[k]) / 2) if k > 0 else float(ans[0] * 0.999)
