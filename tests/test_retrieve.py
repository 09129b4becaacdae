from collections import Counter

import pytest

from rag.chunking import normalize
from rag.config import RETRIEVAL_MODES, Settings
from rag.retrieve import NearDuplicateCollapser, shingles, overlap_of_smaller
from tests.questions import ANSWERABLE


@pytest.mark.parametrize("mode", RETRIEVAL_MODES)
def test_modes_return_passages_with_locations(seed_pipeline, mode):
    passages = seed_pipeline.retrieve("Maia 200 inference chip", top_k=5, mode=mode)
    assert len(passages) == 5
    for p in passages:
        assert p.file.endswith(".txt") and 1 <= p.start_line <= p.end_line
        text = open(p.path, encoding="utf-8").read()
        assert text[p.start_char:p.end_char] == p.text


@pytest.mark.parametrize("question", ANSWERABLE[:12])
def test_duplicates_never_crowd_results(seed_pipeline, question):
    passages = seed_pipeline.retrieve(question, top_k=8)
    texts = Counter(normalize(p.text) for p in passages)
    assert max(texts.values()) == 1
    for i, a in enumerate(passages):
        for b in passages[i + 1:]:
            assert overlap_of_smaller(shingles(a.text), shingles(b.text)) < seed_pipeline.settings.dedup_overlap


def test_repeated_paragraph_is_remembered_elsewhere(seed_pipeline):
    # 001 repeats this paragraph; one copy is shown, the other location is kept
    passages = seed_pipeline.retrieve("procurement angle Azure commitments Microsoft 365 agreements", top_k=5)
    hits = [p for p in passages if "procurement angle" in p.text]
    assert len(hits) == 1
    assert any(loc["file"].startswith("001_") for loc in hits[0].also_in)


def test_bm25_is_built_once_not_per_question(seed_pipeline):
    seed_pipeline.retrieve("Nvidia", mode="bm25")
    _, retriever = seed_pipeline._open()
    first = retriever._lexical._bm25
    seed_pipeline.retrieve("Google", mode="bm25")
    assert retriever._lexical._bm25 is first


def test_concurrent_questions_each_get_their_own_top_k(seed_pipeline):
    """The BM25 retriever is shared; each call's k must stay its own (it once was set on the
    shared object, so a question could come back with another question's number of passages)."""
    from concurrent.futures import ThreadPoolExecutor

    seed_pipeline.retrieve("Maia 200", top_k=2, mode="bm25")  # built once, before the race
    _, retriever = seed_pipeline._open()

    def bm25_hits(k: int) -> tuple[int, int]:
        return k, len(retriever.component("bm25", k).retrieve("Microsoft Anthropic Azure investment"))

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(bm25_hits, [1, 9] * 100))
    assert all(n == k for k, n in got), [g for g in got if g[0] != g[1]][:5]


def _nodes(*texts):
    from llama_index.core.schema import NodeWithScore, TextNode

    return [NodeWithScore(node=TextNode(id_=f"n{i}", text=t, metadata={"file": f"{i}.txt", "start_line": 1,
                                                                         "end_line": 1}), score=1.0 - i / 10)
            for i, t in enumerate(texts)]


def test_default_collapser_uses_the_settings_overlap():
    """The collapser once had its own default overlap (0.6) against the settings' 0.4."""
    assert NearDuplicateCollapser().overlap == Settings().dedup_overlap
    assert NearDuplicateCollapser().top_k == Settings().top_k
    a = " ".join(f"w{i}" for i in range(12))                        # 10 shingles
    b = " ".join([f"w{i}" for i in range(7)] + [f"x{i}" for i in range(6)])  # 5 of them shared
    assert overlap_of_smaller(shingles(a), shingles(b)) == 0.5
    assert Settings().dedup_overlap <= 0.5  # so the settings' collapser counts them as one passage
    kept = NearDuplicateCollapser().postprocess_nodes(_nodes(a, b))
    assert [n.node.node_id for n in kept] == ["n0"] and kept[0].node.metadata["also_in"][0]["file"] == "1.txt"
    strict = NearDuplicateCollapser.from_settings(Settings(dedup_overlap=0.6))
    assert len(strict.postprocess_nodes(_nodes(a, b))) == 2


def test_hybrid_fuses_by_reciprocal_rank_summed_over_both_sides(seed_pipeline):
    """A chunk both sides found scores 1/(60+r_dense) + 1/(60+r_bm25). LlamaIndex's fusion keyed
    hits by a hash of text and str(metadata), which differed between the two sides' copies of
    one chunk, so the sum never happened and shared hits scored as one side's alone."""
    from llama_index.core.schema import QueryBundle

    _, retriever = seed_pipeline._open()
    k = 20
    shared = 0
    for q in ANSWERABLE:
        bundle = QueryBundle(q, embedding=seed_pipeline.embed(q))
        expected: dict[str, float] = {}
        for side in ("dense", "bm25"):
            hits = sorted(retriever.component(side, k).retrieve(bundle), key=lambda n: n.score, reverse=True)
            for rank, hit in enumerate(hits):
                shared += hit.node.node_id in expected
                expected[hit.node.node_id] = expected.get(hit.node.node_id, 0.0) + 1 / (60 + rank)
        fused = retriever.component("hybrid", k).retrieve(bundle)
        ids = [n.node.node_id for n in fused]
        assert len(ids) == len(set(ids)) == min(k, len(expected))
        assert [n.score for n in fused] == sorted(n.score for n in fused)[::-1]
        for n in fused:
            assert n.score == pytest.approx(expected[n.node.node_id])
        assert sorted(expected.values(), reverse=True)[:k] == pytest.approx([n.score for n in fused])
    assert shared > len(ANSWERABLE)  # the sum was exercised, not only single-side hits
