"""Writes a saved BM25 index from a stream of chunks, in memory bounded by one page.

Why not LlamaIndex's ``BM25Retriever.from_defaults(nodes=...)`` + ``persist``: it needs every
node, every node's corpus entry and every document's token list in memory at once, then
bm25s builds the score matrix from all of them — 2.2 GB peak for 143 k chunks (1,000× the
seeds), most of ingest's peak and all of a server-mode client's growth with the corpus.
This writes the very files ``persist`` writes (bm25s' CSC arrays, vocabulary, parameters,
``corpus.jsonl`` with its line index, LlamaIndex's ``retriever.json``) in two passes:

1. stream the chunks page by page: write each corpus entry to ``corpus.jsonl``, tokenise
   the page with bm25s' own tokeniser, keep only each document's length, each term's
   document frequency and the vocabulary, and spill (document, term, count) to a scratch file;
2. with N, average length and document frequencies known, score the spill with bm25s' own
   idf and tf formulas and place each entry straight at its slot of the memory-mapped CSC
   arrays (a counting sort: a column's size is its document frequency).

Loading is unchanged (``BM25Retriever.from_persist_dir``), and the result ranks and scores
as the library's build does (tests/test_lexical.py checks both on every eval question).
"""

from __future__ import annotations

import json
from array import array
from itertools import chain
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

PAGE = 2000  # chunks tokenised and spilled at a time: what bounds the memory
READ = 1 << 18  # spilled triples scored at a time
BLOCK = 1 << 20  # matrix entries placed per pass over the spill (8 MB of data and row arrays)


class Empty(ValueError):
    """No chunks to index."""


def write(rows: Iterable[tuple[str, str, dict]], make_node: Callable, out: Path, top_k: int,
          on_page: Callable[[int], object] = lambda n: None) -> int:
    """Write the index of ``rows`` (id, text, metadata) into the empty folder ``out``; the
    number of documents written. ``on_page(n)`` after each page of ``n`` (a progress bar)."""
    import bm25s
    import Stemmer
    from llama_index.core.schema import MetadataMode
    from llama_index.core.vector_stores.utils import node_to_metadata_dict

    # the retriever's own defaults (llama_index.retrievers.bm25.BM25Retriever.__init__)
    stemmer, pattern = Stemmer.Stemmer("english"), r"(?u)\b\w\w+\b"
    model = bm25s.BM25()
    if model.method in model.methods_requiring_nonoccurrence:
        raise NotImplementedError(f"bm25s method {model.method!r}")
    vocab: dict[str, int] = {}
    lengths = array("q")  # a document's token count, 8 bytes each rather than a list of ints
    df = np.zeros(0, dtype=np.int64)  # documents per term, by term id
    starts = array("q")  # where each corpus line begins: bm25s' mmindex, without reading the file again
    spill = out / "spill.bin"
    with open(out / "corpus.jsonl", "wb") as corpus, open(spill, "wb") as scratch:
        for page in _pages(rows):
            nodes = [make_node(*row) for row in page]
            for node in nodes:
                entry = node_to_metadata_dict(node) | {"node_id": node.node_id}
                starts.append(corpus.tell())
                corpus.write((bm25s.utils.json_functions.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
            texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
            page_tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, token_pattern=pattern,
                                         show_progress=False)
            df = _spill(page_tokens, vocab, lengths, df, scratch)
            on_page(len(page))
    if not lengths:
        raise Empty("no chunks to index")
    _score(model, spill, np.frombuffer(lengths, dtype=np.int64), df, out)
    vocab.setdefault("", len(vocab))  # bm25s' empty token, past the matrix's columns (BM25.index)
    spill.unlink()
    _write_meta(model, vocab, len(lengths), out, top_k, starts)
    return len(lengths)


def _pages(rows: Iterable) -> Iterable[list]:
    page = []
    for row in rows:
        page.append(row)
        if len(page) == PAGE:
            yield page
            page = []
    if page:
        yield page


def _spill(page, vocab: dict, lengths: array, df: np.ndarray, scratch) -> np.ndarray:
    """Append this page's (document, term, count) triples, documents ascending; extend the
    lengths; return the document frequencies grown to the vocabulary."""
    to_global = np.empty(len(page.vocab), dtype=np.int64)  # this page's token ids -> ours
    for word, i in page.vocab.items():
        to_global[i] = vocab.setdefault(word, len(vocab))
    sizes = np.fromiter(map(len, page.ids), dtype=np.int64, count=len(page.ids))
    terms = to_global[np.fromiter(chain.from_iterable(page.ids), dtype=np.int64, count=int(sizes.sum()))]
    docs = np.repeat(np.arange(len(lengths), len(lengths) + len(sizes), dtype=np.int64), sizes)
    lengths.extend(sizes.tolist())
    width = max(len(vocab), 1)  # a page of documents without a word has no vocabulary yet
    pairs, counts = np.unique(docs * width + terms, return_counts=True)  # sorted: by document, then term
    docs, terms = np.divmod(pairs, width)
    df = np.concatenate([df, np.zeros(len(vocab) - len(df), dtype=np.int64)])
    df += np.bincount(terms, minlength=len(vocab))
    scratch.write(np.stack([docs, terms, counts]).T.astype(np.int32).tobytes())
    return df


def _score(model, spill: Path, lengths: np.ndarray, df: np.ndarray, out: Path) -> None:
    """Score the spilled triples into bm25s' CSC arrays (by term, documents ascending):
    a block of terms at a time, each block's entries placed in memory by a counting sort
    (a term's size is its document frequency) and appended to the files. Memory: one
    block, whatever the corpus; time: one read of the spill per block."""
    from bm25s.scoring import _select_idf_scorer

    n_docs = len(lengths)
    idf = np.zeros(len(df), dtype=model.dtype)  # as bm25s.scoring._build_idf_array
    idf_of = _select_idf_scorer(model.idf_method)
    for term in np.flatnonzero(df):
        idf[term] = idf_of(int(df[term]), N=n_docs)
    indptr = np.zeros(len(df) + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    with open(out / "data.csc.index.npy", "wb") as data, open(out / "indices.csc.index.npy", "wb") as rows:
        _npy_header(data, model.dtype, int(indptr[-1]))
        _npy_header(rows, model.int_dtype, int(indptr[-1]))
        for lo, hi in _blocks(indptr, max(BLOCK, int(df.max(initial=0)))):
            block_data, block_rows = _place(model, spill, lengths, idf, indptr, lo, hi)
            data.write(block_data.tobytes())
            rows.write(block_rows.tobytes())
    np.save(out / "indptr.csc.index.npy", indptr)


def _blocks(indptr: np.ndarray, size: int) -> Iterable[tuple[int, int]]:
    """Consecutive term ranges of at most ``size`` entries (a single larger term alone)."""
    lo, terms = 0, len(indptr) - 1
    while lo < terms:
        hi = int(np.searchsorted(indptr, indptr[lo] + size, side="right")) - 1
        hi = min(max(hi, lo + 1), terms)
        yield lo, hi
        lo = hi


def _place(model, spill: Path, lengths, idf, indptr, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """The entries of terms lo..hi-1, scored by bm25s' own tf formula, in CSC order."""
    from bm25s.scoring import _select_tfc_scorer

    tfc_of, avg = _select_tfc_scorer(model.method), lengths.mean()
    base = indptr[lo]
    data = np.empty(indptr[hi] - base, dtype=model.dtype)
    rows = np.empty(indptr[hi] - base, dtype=model.int_dtype)
    slot = indptr[lo:hi] - base  # the next free place of each term of the block
    for triples in _read_spill(spill):
        keep = (triples[:, 1] >= lo) & (triples[:, 1] < hi)
        if not keep.any():
            continue
        doc, term, tf = triples[keep, 0], triples[keep, 1] - lo, triples[keep, 2].astype(model.dtype)
        tfc = tfc_of(tf_array=tf, l_d=lengths[doc], l_avg=avg, k1=model.k1, b=model.b, delta=model.delta)
        order = np.argsort(term, kind="stable")  # within a term, documents stay ascending
        term, doc, score = term[order], doc[order], (idf[term + lo] * tfc)[order]
        first = np.searchsorted(term, term)  # where each term's run starts in this read
        at = slot[term] + (np.arange(len(term)) - first)
        data[at], rows[at] = score, doc
        slot += np.bincount(term, minlength=len(slot))
    return data, rows


def _npy_header(f, dtype, n: int) -> None:
    fmt = np.lib.format
    fmt.write_array_header_1_0(f, {"descr": fmt.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                                   "shape": (n,)})


def _read_spill(spill: Path) -> Iterable[np.ndarray]:
    with open(spill, "rb") as f:
        while chunk := f.read(READ * 12):
            yield np.frombuffer(chunk, dtype=np.int32).reshape(-1, 3)


def _write_meta(model, vocab: dict, n_docs: int, out: Path, top_k: int, starts: array) -> None:
    import bm25s
    from bm25s.utils.corpus import save_mmindex

    (out / "vocab.index.json").write_text(bm25s.utils.json_functions.dumps(vocab, ensure_ascii=False),
                                          encoding="utf-8")
    params = dict(k1=model.k1, b=model.b, delta=model.delta, method=model.method, idf_method=model.idf_method,
                  dtype=model.dtype, int_dtype=model.int_dtype, num_docs=n_docs, version=bm25s.__version__,
                  backend=model.backend)
    (out / "params.index.json").write_text(json.dumps(params, indent=4))
    save_mmindex(starts.tolist(), path=out / "corpus.jsonl")
    retriever = {"similarity_top_k": min(top_k, n_docs), "verbose": False, "corpus_weight_mask": None}
    (out / "retriever.json").write_text(json.dumps(retriever, indent=2), encoding="utf-8")
