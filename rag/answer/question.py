"""What a question asks for: its terms, the names it is about, its parts, and the kind of
answer it wants (an amount, a date, a name, a yes or no).

Why a module of its own: the extractive writer scores sentences with it, the refusal
rules check the evidence against it, and the LLM writer's citation checker reuses its
term and number handling, so all three read a question and a sentence the same way.
Plain regular expressions: no tagger ships offline that is worth its start-up time here.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from rag.textnorm import NUMBER_WORDS, dehyphenate

# A word: letters/digits joined by apostrophes, hyphens, or a dot *between digits* (GPT-5.2,
# 3.7) -- not by other dots, so "www.forbes.com" yields "forbes".
_WORD = re.compile(r"[A-Za-z0-9]+(?:(?:['’\-]|(?<=\d)\.(?=\d))[A-Za-z0-9]+)*")
_DIGIT = re.compile(r"\d")
# A number as written, with its currency and scale: "\$5 billion", "$30B", "40-60%", "430,000".
NUMBER = re.compile(
    r"(?<![A-Za-z\-\d.])[$€£¥]?\s?\d[\d,.]*(?:\s?[-–]\s?\$?\d[\d,.]*)?\s?(?:%|percent\b|(?:billion|million|trillion|thousand|bn|[BMK]|gigawatts?|GW|nm|GB|x)\b)?")
_MONTHS = ("january february march april may june july august september october november december "
           "jan feb mar apr jun jul aug sep sept oct nov dec").split()
_DATE = re.compile(r"\b(?:19|20)\d\d\b|\b(?:" + "|".join(_MONTHS[:12]) + r")\b|\bQ[1-4]\b|\b\d{4}-\d\d-\d\d\b"
                   r"|\b(?:last (?:week|month|year|november|december)|days earlier)\b", re.I)
_MONEY = re.compile(r"[$€£¥]\s?\d|\d\s?(?:dollars|euros)\b|\d[\d.]*\s?(?:billion|million) (?:dollars|euros)\b"
                    r"|\b\d[\d.]*\s?bn\b|\d[\d.]*\s?millones\b")
_SECTION_NUMBER = re.compile(r"^\s*\d{1,2}\s*[—–\-]\s")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_PERCENT = re.compile(r"\d\s?(?:%|percent\b)|\b\d+x\b", re.I)

STOPWORDS = frozenset("""
a an the and or but if then else of to in on at by for with from as into onto over under about
is are was were be been being am do does did doing have has had having will would shall should
can could may might must it its it's this that these those there here their them they he she
his her we our you your i me my what which who whom whose when where why how much many
not no nor so than too very just also only any some such each both all more most other own same
according reportedly say says said tell told corpus
""".split())

# Capitalised for grammar, not because they name something.
_NOT_NAMES = frozenset("what which who whom whose when where why how does did do is are was were has have had "
                       "according in on the a an and or if of for by with from at as under".split())

_WH = r"(?:what|which|who|whom|whose|when|where|why|how)"
# "..., and how much did Google commit?" / "... and which process is it built on?"
_PART_SPLIT = re.compile(rf"(?:,\s*|\s+)(?:and|while|but)\s+(?={_WH}\b)|\?\s+(?=\S)|;\s*", re.I)
_YES_NO = re.compile(r"^(?:is|are|was|were|has|have|had|does|do|did|can|could|will|would|should)\b", re.I)


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def terms(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in words(text)]


@functools.lru_cache(maxsize=1)
def _porter():
    # PyStemmer's "porter" is the original Porter algorithm (the same stems as nltk's
    # ORIGINAL_ALGORITHM on every word of the seeds and eval set) and imports in ~1 ms, where
    # nltk cost ~1.1 s of every cold `rag ask`. It is installed with llama-index-retrievers-bm25.
    import Stemmer

    return Stemmer.Stemmer("porter")


@functools.lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    """Porter stems (committed/commit -> commit, announced/announce -> announc), cached: a
    corpus repeats its vocabulary, so after the first questions this costs a dict look-up."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if any(ch.isdigit() for ch in w):
        return w
    return _porter().stemWord(w)


# A command-line option or flag as written ("-S", "--color", "-H/--format"): case matters
# (ls -S is not ls -s) and the word regex would drop the dash and the one-letter name.
_OPTION = re.compile(r"(?<![\w-])--?[A-Za-z0-9][A-Za-z0-9_-]*")


def content_stems(text: str) -> list[str]:
    text = dehyphenate(text)
    out = [stem(t) for t in terms(text) if t not in STOPWORDS and (len(t) > 1 or t.isdigit())]
    return out + _OPTION.findall(text)


def stems(text: str) -> set[str]:
    return set(content_stems(text))


def numbers(text: str) -> list[str]:
    """Numbers as written, normalised only in form ("\\$5 billion" -> "5 billion")."""
    out = []
    for m in NUMBER.finditer(text):
        raw = m.group(0).strip()
        if not _DIGIT.search(raw):
            continue
        out.append(norm_number(raw))
    return out


def norm_number(raw: str) -> str:
    s = raw.replace("\\", "").replace("$", "").replace("€", "").replace("£", "").replace("–", "-").lower()
    s = re.sub(r"(?<=\d),(?=\d{3})", "", s)
    s = re.sub(r"\s+", "", s)
    s = s.replace("bn", "billion").replace("percent", "%")
    s = re.sub(r"(?<=\d)b$", "billion", s)
    s = re.sub(r"(?<=\d)m$", "million", s)
    return s.rstrip(".,")


_NUMBER_WORDS = NUMBER_WORDS
_COUNTED = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\s+(?:[a-z\-]+s|gigawatt|percent|billion|million)\b", re.I)


def number_values(text: str) -> set[str]:
    """The bare digits of every number ("$5 billion" -> "5", "five gigawatts" -> "5"), for a
    lenient support check and for "does this sentence hold an amount"."""
    out = {re.sub(r"[^\d.]", "", n).strip(".") for n in numbers(text)} - {""}
    out |= {_NUMBER_WORDS[m.group(1).lower()] for m in _COUNTED.finditer(text)}
    return out


def names(text: str, skip_first: bool = True) -> set[str]:
    """Capitalised words and acronyms (stemmed): the things a sentence or question names."""
    out = set()
    for i, raw in enumerate(words(text)):
        low = raw.lower()
        if low in _NOT_NAMES or low in STOPWORDS:
            continue
        if (raw[0].isupper() and (i > 0 or not skip_first)) or (raw.isupper() and len(raw) > 1) \
                or _DIGIT.search(raw):
            out.add(stem(low))
    return out


_SENTENCE_STARTERS = frozenset("however instead meanwhile still yet today then now here there once even "
                                "many most some several every each another one two three four five first second "
                                "last next after before while although because since though unless until".split())


def has_new_name(text: str, question_stems: set[str]) -> bool:
    """A capitalised name or acronym the question did not mention."""
    ws = words(text)
    for i, raw in enumerate(ws):
        if not raw[0].isupper() or raw.lower() in _NOT_NAMES or raw.lower() in STOPWORDS:
            continue
        # a first word is a name when it is the subject ("Quokkas run ..."), not a possessive
        # modifier ("OpenAI's ChatGPT became ...") or a capitalised adverb ("However, ...")
        if i == 0 and (raw.lower() in _SENTENCE_STARTERS or re.search(r"['’]s$", raw)
                       or len(ws) < 2 or not ws[1][:1].islower()):
            continue
        if raw.lower() in _MONTHS or stem(raw) in question_stems:
            continue
        return True
    return False


@dataclass
class Part:
    """One thing the question asks; "How much did X invest, and when?" has two."""

    text: str
    stems: set[str]
    salient: set[str]
    kind: str  # money | amount | date | name | yesno | other
    focus: str = ""  # the noun the answer is about: "employees" in "how many employees"
    optional: bool = False  # answered when the passages allow; never a reason to refuse


@dataclass
class Question:
    text: str
    stems: set[str]
    salient: set[str]
    parts: list[Part] = field(default_factory=list)
    spelled: dict = field(default_factory=dict)  # stem -> the word as the question wrote it

    def say(self, stems_: set | list) -> str:
        """Stems back in the question's own spelling, for messages ("apple", not "appl")."""
        return ", ".join(self.spelled.get(s, s) for s in sorted(stems_))

    @property
    def kind(self) -> str:
        return self.parts[0].kind if self.parts else "other"


_ASKS_AMOUNT = re.compile(r"\bhow (?:much|many|large|big|long)\b|\b(?:what|which) (?:percentage|share|amount|sum|number|"
                          r"total|value|fraction|multiple|proportion|size)\b|\bby how much\b", re.I)
_MONEY_WORDS = re.compile(r"\b(?:cost|costs|price|priced|pay|paid|valuation|valued|worth|cheaper|fee|fine|salary|revenue|invest|"
                          r"invested|investing|investment|spend|spent|spending|commit|committed|fund|funding|raise|"
                          r"raised|put)\b", re.I)
_ASKS_MONEY = re.compile(r"\b(?:what|which) (?:is|was|were|are) [^?]{0,40}\b(?:price|cost|valuation|valued|worth|fee|fine|revenue|salary)\b"
                         r"|\bwhat (?:price|fine|fee)\b|\bwhat does [^?]{0,60}\bcost\b", re.I)
_ASKS_DATE = re.compile(r"^\s*when\b|\bwhen (?:did|was|were|is|will|does)\b|\b(?:what|which) (?:year|month|date|day|quarter)\b"
                        r"|\bon what date\b", re.I)
_ASKS_NAME = re.compile(r"^\s*(?:who|whom|whose)\b|^\s*which (?!of\b)|\b(?:which|what) (?:company|companies|firm|person|executive|"
                        r"regulator|government|country|provider|reporter|journalist|publication|outlet)\b", re.I)
_FOCUS = re.compile(r"\bhow (?:much|many) ([a-z][a-z0-9\-]+)|\bwho (?:is|was|are|were) (?:the |a |an )?([a-z][a-z0-9\-]+)"
                    r"|\b(?:what|which) ([a-z][a-z0-9\-]+)", re.I)
_FOCUS_SKIP = frozenset("is are was were does do did has have had will would can could should the a an of in on "
                        "to for it they he she we you did does".split())


def _kind(text: str) -> str:
    if _YES_NO.search(text) and not re.search(rf"\b{_WH}\b", text[:40], re.I):
        return "yesno"
    if _ASKS_DATE.search(text):
        return "date"
    if _ASKS_MONEY.search(text) or (_ASKS_AMOUNT.search(text) and _MONEY_WORDS.search(text)):
        return "money"
    if _ASKS_AMOUNT.search(text):
        return "amount"
    if _ASKS_NAME.search(text):
        return "name"
    return "other"


_PHRASE_END = frozenset("has have had did does do is are was were will would could can should of in on at for to "
                        "from by with does".split())


def _focus(text: str) -> str:
    m = re.search(r"\bhow (?:much|many) (.*)", text, re.I)
    if m:
        phrase = []
        for w in words(m.group(1)):
            if w.lower() in _PHRASE_END:
                break
            phrase.append(w)
        if phrase:
            return stem(phrase[-1])
    for m in _FOCUS.finditer(text):
        word = next(g for g in m.groups() if g)
        if word.lower() not in _FOCUS_SKIP and word.lower() not in STOPWORDS:
            return stem(word)
    return ""


def analyse(question: str) -> Question:
    q_stems = stems(question)
    salient = names(question) & q_stems
    pieces = [p.strip(" ,?") for p in _PART_SPLIT.split(question) if p and p.strip(" ,?")]
    parts = []
    for i, piece in enumerate(pieces or [question]):
        p_stems = stems(piece)
        parts.append(Part(piece, p_stems, names(piece, skip_first=False) & q_stems, _kind(piece), _focus(piece)))
    parts += _comparison_parts(question, parts)
    spelled = {}
    for w in words(question):
        spelled.setdefault(stem(w), w)
    return Question(question, q_stems, salient, parts, spelled)


_COMPARATIVE = re.compile(r"\b(?:more|less|bigger|larger|higher|lower|smaller|cheaper|faster|slower|worth more)\b[^?]*\bthan\b", re.I)


def _comparison_parts(question: str, parts: list[Part]) -> list[Part]:
    """"Is Anthropic worth more than AMD?": a yes or no is only as good as the two figures
    behind it, so each side gets an optional part asking for its amount."""
    if not parts or parts[0].kind != "yesno" or not _COMPARATIVE.search(question):
        return []
    ordered = []
    for raw in words(question)[1:]:
        st = stem(raw)
        if st in parts[0].salient and st not in ordered and not _DIGIT.search(raw):
            ordered.append(st)
    if len(ordered) < 2:
        return []
    rest = parts[0].stems - set(ordered)
    return [Part(f"{question} ({name})", rest | {name}, {name}, "money" if _MONEY_WORDS.search(question) else "amount",
                 optional=True) for name in ordered[:2]]


def has_kind(text: str, kind: str, question_stems: set[str], question_numbers: set[str]) -> bool:
    """Does the sentence hold the kind of thing asked for, beyond what the question itself says?"""
    text = _SECTION_NUMBER.sub("", text)  # "03 — MAIA 200: ..." is a heading's number, not an amount
    if kind in ("money", "amount"):
        new = {n for n in number_values(text) - question_numbers if not _YEAR.match(n)}
        if not new:
            return False
        if kind == "money":
            return bool(_MONEY.search(text) or _PERCENT.search(text))
        return True
    if kind == "date":
        found = {m.group(0).lower() for m in _DATE.finditer(text)}
        return bool(found - {t.lower() for t in question_stems} - question_numbers)
    if kind == "name":
        return has_new_name(text, question_stems)
    return True
