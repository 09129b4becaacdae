"""Text normalisation shared by the writer, retrieval and the judge: number words, line-end hyphens.

Number words: one table for the answer writer and for the eval's judge.

Why shared: if the writer reads "three" as 3 and the judge does not (or the other way),
a right answer is scored wrong, or a number the writer never checked slips through.
"""

import re

NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
                "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "fifteen": "15",
                "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100"}

_LINE_END_HYPHEN = re.compile(r"(?<=[a-z])-\n(?=[a-z])")


def dehyphenate(text: str) -> str:
    """"man-\\nagement" -> "management": a word a PDF broke at a line end, joined again for
    retrieval and analysis only; what is stored and quoted keeps the extracted characters."""
    return _LINE_END_HYPHEN.sub("", text) if "-\n" in text else text
