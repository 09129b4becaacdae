import pytest

from rag.results import REFUSAL
from rag.corpus import read_text
from rag.errors import RagError
from tests.questions import ANSWERABLE, OFF_TOPIC


def _file_text(path):
    return read_text(__import__("pathlib").Path(path), 50_000_000)  # a bound, not a size: read() allocates it


@pytest.mark.parametrize("question", ANSWERABLE)
def test_citations_are_verbatim_at_their_lines(seed_pipeline, question):
    answer = seed_pipeline.ask(question)
    assert not answer.refused, answer.notice
    assert answer.citations
    for c in answer.citations:
        text = _file_text(c.path)
        assert text[c.start_char:c.end_char] == c.text
        lines = text.splitlines()[c.start_line - 1:c.end_line]
        assert c.text.splitlines()[0] in lines[0]
        assert c.text.splitlines()[-1] in lines[-1]
        assert f"[{c.id}]" in answer.answer


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_is_refused_with_closest_passages(seed_pipeline, question):
    # on-topic near misses are judged as rates on left-out corpora (tests/test_evaluate.py)
    answer = seed_pipeline.ask(question)
    assert answer.refused and answer.answer == REFUSAL
    assert not answer.citations and answer.passages


def test_known_fact(seed_pipeline):
    assert "January 2026" in seed_pipeline.ask("When did Microsoft announce the Maia 200?").answer


@pytest.mark.parametrize("bad", ["", "   \n\t", "\x00\x01\x02"])
def test_empty_questions_are_errors(seed_pipeline, bad):
    with pytest.raises(RagError, match="empty"):
        seed_pipeline.ask(bad)


def test_huge_question_is_an_error(seed_pipeline):
    with pytest.raises(RagError, match="limit"):
        seed_pipeline.ask("why " * 5000)


def test_missing_index_says_how_to_build(tmp_path):
    from rag.pipeline import Pipeline
    from tests.conftest import make_settings

    with pytest.raises(RagError, match="no index") as err:
        Pipeline(make_settings(tmp_path, tmp_path / "nothing")).ask("What is Claude?")
    assert "rag ingest" in err.value.hint
