"""The fitted scorer: exported trees score like scikit-learn's, thresholds keep their budget,
and a scorer file from other features is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.answer.features import QUESTION_FEATURES, UNIT_FEATURES
from rag.answer.scorer import DEFAULT_PATH, choose_threshold, fit_linear, fit_trees, load
from rag.errors import RagError


def test_exported_trees_reproduce_scikit_learn():
    rng = np.random.default_rng(1)
    X = rng.random((3000, len(UNIT_FEATURES)))
    X[:, 3] = np.round(X[:, 3] * 3) / 3  # ties exactly at 1/3, 2/3: thresholds must not be rounded
    y = (X[:, 0] + X[:, 3] * (X[:, 9] > 0.5) > 0.9).astype(int)
    trees = fit_trees(X, y, UNIT_FEATURES)  # raises if its own check against sklearn fails
    assert len(trees.trees) > 5
    order = np.argsort(-trees.logit(X[:200]))
    assert y[:200][order[:20]].mean() > y[:200].mean()  # it ranks, not only round-trips


def test_threshold_keeps_false_refusals_within_budget():
    rng = np.random.default_rng(2)
    p = np.concatenate([rng.uniform(0.3, 1.0, 100), rng.uniform(0.0, 0.6, 40)])
    answerable = np.array([True] * 100 + [False] * 40)
    t = choose_threshold(p, answerable, max_false=0.05)
    assert (p[answerable] < t).mean() <= 0.05
    assert (p[~answerable] < t).mean() > 0.2  # and it does refuse something


def test_linear_model_is_monotone_in_a_good_feature():
    rng = np.random.default_rng(3)
    Z = rng.random((400, len(QUESTION_FEATURES)))
    y = (Z[:, 0] > 0.5).astype(float)
    m = fit_linear(Z, y, QUESTION_FEATURES)
    lo, hi = Z[:1].copy(), Z[:1].copy()
    lo[0, 0], hi[0, 0] = 0.1, 0.9
    assert m.proba(hi)[0] > m.proba(lo)[0]


def test_linear_model_does_not_extrapolate_past_its_training_range(tmp_path):
    """End to end, tests/test_ingest.py's one-line note ("Quokkas run the cafeteria on
    Tuesdays.") beside a news article was refused without the clip (rag.answer.scorer.Linear)."""
    rng = np.random.default_rng(4)
    Z = rng.random((400, len(QUESTION_FEATURES)))
    y = (Z[:, 0] - Z[:, 1] > 0).astype(float)  # feature 1 weighs against
    m = fit_linear(Z, y, QUESTION_FEATURES)
    edge, far = Z[:1].copy(), Z[:1].copy()
    edge[0, 1], far[0, 1] = Z[:, 1].max(), 50.0  # far beyond anything seen in fitting
    assert m.proba(far)[0] == pytest.approx(m.proba(edge)[0]) and m.proba(far)[0] > 0.01
    # the range is saved with the scorer and read back
    (tmp_path / "s.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    back = type(m).from_dict(json.loads((tmp_path / "s.json").read_text(encoding="utf-8")), QUESTION_FEATURES)
    assert back.proba(far)[0] == pytest.approx(m.proba(far)[0], abs=1e-4)  # to_dict rounds to 6 places


def test_shipped_scorer_loads_and_a_foreign_one_is_refused(tmp_path):
    scorer = load(DEFAULT_PATH)
    assert 0.0 < scorer.threshold < 1.0 and scorer.meta["corpora"]
    bad = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    bad["question"]["features"] = ["something", "else"]
    (tmp_path / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(RagError, match="refit"):
        load(tmp_path / "bad.json")
