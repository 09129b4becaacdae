"""The default answer writer: the corpus's own sentences, chosen and cited; or a refusal.

Why extractive: it runs offline on two CPU cores with no model server, and every claim is
a verbatim sentence of a file, so citations are exact by construction. No cross-encoder
ships offline, so sentences are scored with the embedding model (their vectors were
computed at ingest time, so answering costs no extra model calls for one-part questions)
plus lexical evidence: coverage of the question's terms weighted by how rare they are
among the candidates, whether the sentence holds the kind of thing asked for (an amount,
a date, a name) beyond what the question already says, and how close that thing stands
to the question's names ("Nvidia invested up to $10 billion" beats a headline where $15B
is two clauses away from "Nvidia").

Refusal is decided on an evidence score in [0, 1] (dense similarity and weighted term
coverage of the best answer-bearing sentence), compared with ``settings.answer_threshold``
(calibrated on eval/ with ``rag eval --calibrate``), plus checks similarity alone cannot
make: a name the question is about must appear in the evidence, and a question asking for
an amount, a date or a name must find one there next to its terms.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from rag.answer_question import Part, Question, analyse, has_kind, number_values, stem, stems, words
from rag.cite import REFUSAL, Answer, Citation, Passage, one_line
from rag.config import Settings

# Punkt leaves "gigawatt.That kind of..." (a missing space in the source) as one sentence.
_GLUED = re.compile(r"(?<=[a-z0-9%)\]”\"][.!?])(?=[A-Z“\"‘][a-z])")
_BULLET = re.compile(r"^[\-–•*]\s+")
_ANAPHOR = re.compile(r"^(?:This|That|These|Those|It|They|Such|Here)\b")
_TERMINAL = re.compile(r"[.!?:;”\"]$")
# Text addressed to an AI rather than to a reader: a planted "ignore previous instructions".
# Such sentences are never quoted as answers nor shown to the LLM writer as passages.
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:instructions?|prompts?|rules|context)\b"
    r"|\b(?:system prompt|you are (?:now )?(?:an? )?(?:ai|assistant|chatbot|language model))\b"
    r"|\b(?:answer|reply|respond|say|output)\s+(?:only\s+|with\s+|exactly\s+)*['\"“‘][^'\"”’]{1,40}['\"”’]", re.I)


def is_instruction(text: str) -> bool:
    return bool(_INSTRUCTION.search(text))


@dataclass
class Candidate:
    text: str
    meta: dict
    vector: np.ndarray
    passage: int
    stems: set = field(default_factory=set)
    context: set = field(default_factory=set)  # stems of the sentences either side
    dense: float = 0.0
    scores: list = field(default_factory=list)  # per question part
    evidence: list = field(default_factory=list)  # per question part
    kind_ok: list = field(default_factory=list)  # per question part
    bearing: set = field(default_factory=set)  # parts whose refusal checks this sentence passes

    @property
    def key(self) -> tuple:
        return self.meta["path"], self.meta["start_char"]


def split_glued(text: str, meta: dict) -> list[tuple[str, dict]]:
    """Sub-sentences with exact spans: where the source lacks a space after a full stop, and
    without a leading bullet marker. Offsets stay verbatim: text == file[start:end]."""
    pieces, start = [], 0
    for m in _GLUED.finditer(text):
        pieces.append((start, m.start()))
        start = m.start()
    pieces.append((start, len(text)))
    out = []
    for s, e in pieces:
        piece = text[s:e]
        lead = len(piece) - len(piece.lstrip())
        b = _BULLET.match(piece[lead:])
        lead += b.end() if b else 0
        piece = piece[lead:].rstrip()
        if len(piece) < 2:
            continue
        s += lead
        m = dict(meta)
        m["start_char"] = meta["start_char"] + s
        m["end_char"] = m["start_char"] + len(piece)
        m["start_line"] = meta["start_line"] + text[:s].count("\n")
        m["end_line"] = m["start_line"] + piece.count("\n")
        out.append((piece, m))
    return out


def _headline(text: str) -> bool:
    """Titles, references and link lines: no closing punctuation and mostly Capitalised."""
    ws = [w for w in words(text) if w[0].isalpha()]
    if not ws or _TERMINAL.search(text.strip()):
        return False
    caps = sum(w[0].isupper() for w in ws)
    return caps / len(ws) >= 0.4 or "|" in text or "www." in text


class ExtractiveWriter:
    """Writes an Answer from candidate sentences (see module docstring for the why)."""

    def __init__(self, settings: Settings, embed: Callable[[str], list[float]] | None = None):
        self.settings = settings
        self.embed = embed  # for multi-part questions: each part gets its own query vector

    # --- the one public call ----------------------------------------------------------------
    def write(self, question: str, q_vec, passages: list[Passage], sentences: list,
              show: int | None = None) -> Answer:
        """``passages`` may be a wider pool than is shown: the first ``show`` are shown, plus
        any other passage a citation comes from."""
        q = analyse(question)
        cands = self.candidates(q, np.asarray(q_vec, dtype=np.float32), passages, sentences)
        evidence, why = self.evidence(q, cands)
        shown = list(passages[: show or len(passages)])
        if why or evidence < self.settings.answer_threshold:
            return Answer(question, REFUSAL, True, passages=shown, evidence=evidence,
                          notice=why or f"the best evidence ({evidence:.2f}) is below the threshold "
                                        f"({self.settings.answer_threshold:.2f})")
        chosen = self.select(q, cands)
        return self.compose(question, chosen, passages, shown, evidence, q.parts)

    def stream(self, question: str, q_vec, passages: list[Passage], sentences: list, show: int | None = None):
        """Same interface as the LLM writer's: the extractive answer comes whole, nothing
        streams before it."""
        return self.write(question, q_vec, passages, sentences, show=show)
        yield  # pragma: no cover  (makes this a generator that yields nothing)

    # --- candidates and scores ----------------------------------------------------------------
    def candidates(self, q: Question, q_vec: np.ndarray, passages: list[Passage], sentences) -> list[Candidate]:
        spans = [(p.path, p.start_char, p.end_char) for p in passages]
        seen, out = set(), []
        pieces = [(piece, m, np.asarray(vec, dtype=np.float32))
                  for _id, text, meta, vec in sentences for piece, m in split_glued(text, meta)]
        pieces.sort(key=lambda x: (x[1]["path"], x[1]["start_char"]))
        pieces = _join_fragments(pieces, passages)
        for piece, m, vector in pieces:
            if is_instruction(piece):
                continue  # corpus text is data: an instruction in it is not evidence
            key = one_line(piece).lower()
            if key in seen:
                continue  # the same sentence twice (001 repeats paragraphs): keep one
            seen.add(key)
            passage = next((i for i, (p, s, e) in enumerate(spans)
                            if p == m["path"] and s <= m["start_char"] and m["end_char"] <= e), len(spans))
            out.append(Candidate(piece, m, vector, passage, stems(piece)))
        if not out:
            return out
        by_place = sorted(out, key=lambda c: c.key)
        for gap in (1,):  # the sentence either side: often the one naming the subject
            for a, b in zip(by_place, by_place[gap:]):
                if a.meta["path"] == b.meta["path"] and b.meta["start_char"] - a.meta["end_char"] < 400 * gap:
                    a.context |= b.stems
                    b.context |= a.stems
        vectors = np.stack([c.vector for c in out])
        dense = vectors @ q_vec
        part_vecs = self._part_vectors(q, q_vec)
        idf = self._idf(out)
        q_numbers = number_values(q.text)
        for c, d in zip(out, dense):
            c.dense = float(d)
        rare = [_rarest(part, idf) for part in q.parts]
        for pi, part in enumerate(q.parts):
            pdense = dense if part_vecs[pi] is None else vectors @ part_vecs[pi]
            weights = part_weights(part, idf)
            total = sum(weights.values()) or 1.0
            for c, d in zip(out, pdense):
                # money words stand for one another: "worth" is answered by "valued at"
                money = bool(c.stems & _MONEY_VERBS)
                cover = sum(w for s, w in weights.items() if s in c.stems or (money and s in _MONEY_VERBS)) / total
                ctx = sum(w for s, w in weights.items()
                          if s in c.stems or s in c.context or (money and s in _MONEY_VERBS)) / total
                ok = has_kind(c.text, part.kind, q.stems, q_numbers)
                # a sentence that only repeats the question answers nothing
                novelty = len(c.stems - q.stems) / max(len(c.stems), 1)
                score = 0.45 * float(d) + 0.3 * cover + 0.1 * ctx + 0.08 * min(novelty / 0.6, 1.0)
                score += 0.12 if ok and part.kind not in ("other", "yesno") else 0.0
                score += 0.25 * self._proximity(c.text, part, rare[pi]) if ok and part.kind in ("money", "amount") else 0.0
                score += 0.02 / (1 + c.passage)
                if part.kind == "yesno" and _HEDGE.search(c.text):
                    score += 0.05  # a yes/no turns on "but ... still early", "isn't", "not"
                if ok and part.kind == "date":
                    score += 0.12 * _date_precision(c.text)  # "2026-05-21" says more than "2026"
                if _headline(c.text):
                    score -= 0.1
                if "://" in c.text or c.text.startswith("www."):
                    score -= 0.2  # a link is where an answer is, not an answer
                if _ANAPHOR.match(c.text):
                    score -= 0.03
                c.scores.append(score)
                c.evidence.append(0.6 * float(d) + 0.25 * cover + 0.15 * ctx)
                c.kind_ok.append(ok)
        return out

    def _part_vectors(self, q: Question, q_vec: np.ndarray) -> list:
        if sum(not p.optional for p in q.parts) < 2 or self.embed is None:
            return [None] * len(q.parts)
        return [None if p.optional else 0.5 * q_vec + 0.5 * np.asarray(self.embed(p.text), dtype=np.float32)
                for p in q.parts]

    @staticmethod
    def _idf(cands: list[Candidate]) -> dict[str, float]:
        """Rarity among the candidates: "anthropic" is everywhere in these passages, "nvidia" is not."""
        df: dict[str, int] = {}
        for c in cands:
            for s in c.stems:
                df[s] = df.get(s, 0) + 1
        n = len(cands)
        return {s: 1.0 + math.log((n + 1) / (k + 0.5)) for s, k in df.items()}

    @staticmethod
    def _proximity(text: str, part: Part, only: set | None = None) -> float:
        """1 when an amount stands right next to one of the question's names, less further away;
        half as much when the name is one of several sharing the amount ("Microsoft and
        NVIDIA invest $15B" is not what Nvidia invested)."""
        raw = words(text)
        toks = [w.lower() for w in raw]
        targets = part.salient if only is None else only
        num_pos = [i for i, t in enumerate(toks) if _AMOUNT_TOKEN.match(t)]
        best = 0.0
        for a, t in enumerate(toks):
            if stem(t) not in targets or not num_pos:
                continue
            shared = (a >= 2 and toks[a - 1] in ("and", "or") and raw[a - 2][:1].isupper()) or \
                     (a + 2 < len(toks) and toks[a + 1] in ("and", "or") and raw[a + 2][:1].isupper())
            gap = min(abs(a - b) for b in num_pos)
            best = max(best, (0.5 if shared else 1.0) / (1.0 + max(0, gap - 1) / 3.0))
        return best

    # --- refusal ------------------------------------------------------------------------------
    def evidence(self, q: Question, cands: list[Candidate]) -> tuple[float, str]:
        if not cands:
            return 0.0, "no passage was found"
        pool = set().union(*(c.stems for c in cands))
        missing = sorted(q.salient - pool)
        if missing:
            best = max(c.evidence[0] for c in cands)
            return best, f"the passages found never mention: {q.say(missing)}"
        idf = self._idf(cands)
        per_part = []
        for pi, part in enumerate(q.parts):
            why = ""
            bearing = [c for c in cands if c.kind_ok[pi]]
            if not bearing:
                why = _no_kind(part, q)
            if not why and part.focus and _focus_required(part):
                bearing = [c for c in bearing if part.focus in c.stems]
                if not bearing:
                    why = f"no passage found says anything about '{q.say([part.focus])}'"
            named = {n for n in part.salient if not _PURE_NUMBER.match(n)}
            if not why and part.kind in ("money", "amount") and named:
                # the amount must be said of the rarest thing named ("Meta"), not of another
                rare = max(named, key=lambda s: idf.get(s, 0.0))
                bearing = [c for c in bearing if (self._proximity(c.text, part, only={rare}) >= 0.2
                           or (rare not in c.stems and rare in c.context)) and named <= c.stems | c.context]
                if not bearing:
                    why = f"no passage found gives {_what(part.kind)} for {q.say([rare])}"
            if not why and part.kind == "name" and part.focus and _focus_required(part) and named:
                # "Who is the CEO of Microsoft?": the CEO must be Microsoft's, not OpenAI's
                bearing = [c for c in bearing if all(_near(c.text, part.focus, n, 6) for n in named)]
                if not bearing:
                    why = f"no passage found names the {q.say([part.focus])} of {q.say(named - {part.focus})}"
            if not why and part.kind in ("date", "money"):
                # what the question says about the thing asked for ("trial ... end", "acquire")
                # must be said next to it, not only somewhere in the passages; money verbs
                # (invest, pay, spend, commit, buy...) stand for one another
                needed = part.stems - part.salient - {part.focus} - _KIND_WORDS - _GENERIC
                if needed:
                    weights = {s: idf.get(s, 1.0) for s in needed}
                    total = sum(weights.values())
                    bearing = [c for c in bearing
                               if self._proximity(c.text, part, _rarest(part, idf)) >= 0.99
                               or sum(w for s, w in weights.items() if s in c.stems | c.context
                                      or (s in _MONEY_VERBS and c.stems & _MONEY_VERBS)) / total
                               >= (0.5 if part.kind == "date" else 0.34)]
                    if not bearing:
                        why = f"no passage found says '{q.say(needed)}' together with {_what(part.kind)}"
            if why and part.optional:
                continue
            if why:
                return max(c.evidence[pi] for c in cands), why
            for c in bearing:
                c.bearing.add(pi)
            if not part.optional:
                per_part.append(max(c.evidence[pi] for c in bearing))
        return min(per_part), ""

    # --- choosing and ordering -----------------------------------------------------------------
    def select(self, q: Question, cands: list[Candidate]) -> list[tuple[int, Candidate]]:
        """Per part: its best sentence; a second only when the first lacks the thing asked for
        (an amount, a date, a name) and a close runner-up has it. Never a near-repeat."""
        chosen: list[tuple[int, Candidate]] = []
        for pi, part in enumerate(q.parts):
            # a sentence that passed the refusal checks (holds the amount, of the right
            # company, next to the question's terms) beats a slightly closer one that did not
            ranked = sorted(cands, key=lambda c: -(c.scores[pi] + (0.15 if pi in c.bearing else 0.0)))
            if part.optional and not any(pi in c.bearing for c in ranked):
                continue
            if any(ranked[0] is c for _, c in chosen):
                # an earlier part's sentence is also this part's best: keep it, unless another
                # sentence answers this part with a figure the chosen ones do not hold
                said = set().union(*(number_values(c.text) for _, c in chosen))
                other = next((c for c in ranked[1:20] if pi in c.bearing and not self._repeat(c, chosen)
                              and number_values(c.text) - said
                              and c.scores[pi] >= 0.8 * ranked[0].scores[pi]), None)
                if part.kind in ("money", "amount", "date") and other is not None and not part.optional:
                    chosen.append((pi, other))
                continue
            best = next((c for c in ranked if not self._repeat(c, chosen)), None)
            if best is None:
                continue
            chosen.append((pi, best))
            if best.kind_ok[pi] or len(chosen) >= self.settings.max_sentences:
                continue
            extra = next((c for c in ranked[1:8] if c.kind_ok[pi] and c.scores[pi] >= best.scores[pi] * 0.85
                          and not self._repeat(c, chosen) and not _headline(c.text)), None)
            if extra is not None:
                chosen.append((pi, extra))
        return chosen

    @staticmethod
    def _repeat(c: Candidate, chosen) -> bool:
        return any(c is k or float(np.dot(c.vector, k.vector)) > 0.92 or _overlap(c.stems, k.stems) > 0.8
                   for _, k in chosen)

    def compose(self, question: str, chosen, pool: list[Passage], shown: list[Passage], evidence: float,
                q_parts: list[Part] | None = None) -> Answer:
        """Parts in the question's order; inside a part, sentences of one file in file order."""
        chosen = sorted(chosen, key=lambda pc: (pc[0], pc[1].meta["path"] != chosen[0][1].meta["path"],
                                                pc[1].meta["path"], pc[1].meta["start_char"]))
        shown = list(shown)
        index = {(p.path, p.start_char, p.end_char): i for i, p in enumerate(shown)}
        citations, parts = [], []
        yes_no = bool(q_parts) and q_parts[0].kind == "yesno"
        for _pi, c in chosen:
            if any(cit.path == c.meta["path"] and cit.start_char <= c.meta["start_char"]
                   and c.meta["end_char"] <= cit.end_char for cit in citations):
                continue  # already quoted inside an earlier citation (a lead-in's next sentence)
            n = len(citations) + 1
            text, meta = self._with_next_if_lead_in(c, pool, force=yes_no and _pi == 0)
            src = pool[c.passage] if c.passage < len(pool) else None
            if src is not None:
                key = (src.path, src.start_char, src.end_char)
                if key not in index:
                    index[key] = len(shown)
                    shown.append(src)
                pidx = index[key]
            else:
                pidx = 0
            citations.append(Citation(id=n, file=meta["file"], path=meta["path"], start_line=meta["start_line"],
                                      end_line=meta["end_line"], start_char=meta["start_char"],
                                      end_char=meta["end_char"], text=text, passage=pidx))
            parts.append(f"{one_line(text)} [{n}]")
        return Answer(question, " ".join(parts), False, citations=citations, passages=shown, evidence=evidence)

    @staticmethod
    def _with_next_if_lead_in(c: Candidate, pool: list[Passage], force: bool = False) -> tuple[str, dict]:
        """A short lead-in ("There is also a procurement angle.") says little alone, and a yes
        or no ("... isn't a check Anthropic can spend on anything.") wants its reason: quote the
        sentence after it too, as one verbatim span, when the same passage holds both."""
        n_words = len(words(c.text))
        if n_words >= 8 and not c.text.rstrip().endswith(":") and not force:
            return c.text, c.meta
        if c.passage >= len(pool):
            return c.text, c.meta
        p = pool[c.passage]
        rel = c.meta["end_char"] - p.start_char
        rest = p.text[rel:]
        m = re.match(r"\s*[^\n]*?[.!?](?=\s|$)", rest)
        if not m or "\n\n" in rest[: m.end()]:
            return c.text, c.meta
        end = rel + m.end()
        text = p.text[c.meta["start_char"] - p.start_char:end]
        meta = dict(c.meta)
        meta["end_char"] = p.start_char + end
        meta["end_line"] = c.meta["start_line"] + text.count("\n")
        return text, meta


_KIND_WORDS = frozenset(stem(w) for w in "date day year month time much many amount number total value size "
                                                   "share percentage price cost name".split())


_MONEY_VERBS = frozenset(stem(w) for w in "invest investment pay paid spend spent commit commitment buy bought "
                                                    "put pour poured fund funding pledge wire back worth valu valuat cap".split())
_GENERIC = frozenset(stem(w) for w in "put get make take give go come use do have need want keep let see "
                                                "new current total single first last".split())


def part_weights(part: Part, idf: dict[str, float]) -> dict[str, float]:
    """Rare terms count more; the question's names twice; a number the question repeats less."""
    out = {}
    for s in part.stems:
        w = idf.get(s, 1.0) * (2.0 if s in part.salient else 1.0) * (1.5 if s == part.focus else 1.0)
        if any(ch.isdigit() for ch in s):
            w *= 0.5
        out[s] = w
    return out


def _join_fragments(pieces: list, passages: list[Passage]) -> list:
    """A sentence cut by a line break in the source ("Project Stargate, the $500 billion" /
    "AI infrastructure initiative announced ...") is joined again, verbatim, when one passage
    holds both halves: the first half ends without a full stop, in a lower-case word."""
    out = []
    for piece, meta, vec in pieces:
        if out:
            prev, pmeta, pvec = out[-1]
            last = prev.split()[-1] if prev.split() else ""
            if pmeta["path"] == meta["path"] and re.fullmatch(r"[a-z\-]+,?", last) and len(prev.split()) >= 5 \
                    and 0 < meta["start_char"] - pmeta["end_char"] <= 3 \
                    and (meta["start_line"] - pmeta["end_line"] >= 2 or piece[:1].islower()):
                host = next((p for p in passages if p.path == meta["path"] and p.start_char <= pmeta["start_char"]
                             and meta["end_char"] <= p.end_char), None)
                if host is not None and len(prev) + len(piece) < 800:
                    text = host.text[pmeta["start_char"] - host.start_char:meta["end_char"] - host.start_char]
                    m = dict(pmeta)
                    m["end_char"], m["end_line"] = meta["end_char"], meta["end_line"]
                    v = pvec + vec
                    out[-1] = (text, m, v / (np.linalg.norm(v) or 1.0))
                    continue
        out.append((piece, meta, vec))
    return out


_AMOUNT_TOKEN = re.compile(r"^(?:\d[\d.,\-–]*(?:%|[a-z]{0,3})|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|"
                           r"twenty|thirty|forty|fifty|hundred)$")


_PURE_NUMBER = re.compile(r"^[\d.,\-–%]+$")


def _rarest(part: Part, idf: dict[str, float]) -> set | None:
    named = {n for n in part.salient if not _PURE_NUMBER.match(n)}
    return {max(named, key=lambda s: idf.get(s, 0.0))} if named else None


def _near(text: str, a: str, b: str, gap: int) -> bool:
    toks = [stem(w) for w in words(text)]
    pa = [i for i, t in enumerate(toks) if t == a]
    pb = [i for i, t in enumerate(toks) if t == b]
    return any(abs(i - j) <= gap for i in pa for j in pb)


_HEDGE = re.compile(r"\b(?:but|however|not|no|never|still|yet|only|although)\b|n[’']t\b", re.I)
_FULL_DATE = re.compile(r"\b\d{4}-\d\d-\d\d\b|\b(?:January|February|March|April|May|June|July|August|September|"
                        r"October|November|December) \d{1,2}(?:st|nd|rd|th)?,? \d{4}\b|\b\d{1,2} (?:January|February|"
                        r"March|April|May|June|July|August|September|October|November|December) \d{4}\b")
_MONTH_YEAR = re.compile(r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
                         r"December|Q[1-4]) (?:of )?\d{4}\b")


def _date_precision(text: str) -> float:
    return 1.0 if _FULL_DATE.search(text) else 0.5 if _MONTH_YEAR.search(text) else 0.0


def _what(kind: str) -> str:
    return {"money": "a sum of money", "amount": "an amount", "date": "a date", "name": "a name"}.get(kind, "an answer")


def _overlap(a: set, b: set) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def _focus_required(part: Part) -> bool:
    """"How many employees", "who is the judge": the noun the answer is about must be there."""
    return bool(re.search(r"\bhow many \w|\bwho (?:is|was|are|were) (?:the |a |an )\w", part.text, re.I))


def _no_kind(part: Part, q: Question) -> str:
    about = f" about {q.say(part.salient)}" if part.salient else ""
    return f"the question asks for {_what(part.kind)}, and no passage found gives one{about}"


def make_writer(settings: Settings, embed: Callable[[str], list[float]] | None = None):
    """The writer the settings ask for: "extractive" (default) or "llm" (with extractive fallback)."""
    extractive = ExtractiveWriter(settings, embed)
    if settings.writer == "llm":
        from rag.llm import LLMWriter

        return LLMWriter(settings, extractive)
    return extractive
