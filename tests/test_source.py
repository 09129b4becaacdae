"""The source window a cited span is shown in (rag.corpus.window): lines, marks, clipping."""

import pytest

from rag.corpus import WINDOW_KEEP, window
from rag.errors import RagError

TEXT = "Title\n\nFirst paragraph.\n\nSecond one. The cited sentence here. After it.\n\nThird.\nFourth.\n"


def _span(needle: str) -> tuple[int, int]:
    start = TEXT.index(needle)
    return start, start + len(needle)


def _line_text(line: dict) -> str:
    return "".join(p["text"] for p in line["parts"])


def test_marks_exactly_the_highlight_and_numbers_lines():
    s, e = _span("The cited sentence here.")
    w = window(TEXT, s, e, context=1, highlights=[(s, e)])
    assert (w["start_line"], w["end_line"]) == (5, 5)
    marked = [p["text"] for line in w["lines"] for p in line["parts"] if p["mark"]]
    assert marked == ["The cited sentence here."]
    by_no = {line["line"]: line for line in w["lines"]}
    assert _line_text(by_no[5]) == TEXT.splitlines()[4]
    assert by_no[5]["in_span"] and not by_no[3]["in_span"]


def test_context_counts_lines_with_text_not_blank_separators():
    s, e = _span("Second one.")
    w = window(TEXT, s, e, context=1)
    assert (w["first_line"], w["last_line"]) == (3, 7)  # one paragraph each side, blank lines between
    assert window(TEXT, s, e, context=0)["lines"][0]["line"] == 5
    assert window(TEXT, 0, 5, context=5)["first_line"] == 1  # stops at the file's edges


def test_span_over_several_lines_and_several_highlights():
    s, _ = _span("First paragraph.")
    _, e = _span("Second one.")
    w = window(TEXT, s, e, context=0, highlights=[_span("First"), _span("one.")])
    assert [line["line"] for line in w["lines"] if line["in_span"]] == [3, 4, 5]
    assert [p["text"] for line in w["lines"] for p in line["parts"] if p["mark"]] == ["First", "one."]


def test_a_huge_line_is_clipped_around_the_span():
    text = "x" * 100_000 + " NEEDLE " + "y" * 100_000 + "\n" + "z" * 50_000
    s = text.index("NEEDLE")
    w = window(text, s, s + 6, context=1, highlights=[(s, s + 6)])
    sizes = [len(_line_text(line)) for line in w["lines"]]
    assert max(sizes) <= 2 * WINDOW_KEEP + len("NEEDLE") + 10
    assert _line_text(w["lines"][0]).startswith("…") and "NEEDLE" in _line_text(w["lines"][0])


@pytest.mark.parametrize("start, end", [(-1, 3), (5, 2), (0, len(TEXT) + 1)])
def test_a_span_outside_the_file_says_to_reindex(start, end):
    with pytest.raises(RagError, match="outside the file") as err:
        window(TEXT, start, end)
    assert "re-index" in err.value.hint
