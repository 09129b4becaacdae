"""The `rag` command: a thin shell over ``Pipeline``.

Imports stay inside the commands so `rag --help` is instant and `rag ask` never loads
gradio or server code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from rag import offline
from rag.config import RETRIEVAL_MODES, load_settings
from rag.errors import RagError

log = logging.getLogger("rag")


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (override rag.toml and RAG_* variables)")
    g.add_argument("--config", type=Path, help="settings file (default: ./rag.toml if present, or $RAG_CONFIG)")
    g.add_argument("--corpus", type=Path, help="folder of documents (RAG_CORPUS, default seeds/)")
    g.add_argument("--index", type=Path, help="folder of the embedded Chroma store (RAG_INDEX, default index/)")
    g.add_argument("--collection", help="Chroma collection name (RAG_COLLECTION, default rag)")
    g.add_argument("--chroma-host", help="use a Chroma server at this host instead of the embedded store (RAG_CHROMA_HOST)")
    g.add_argument("--chroma-port", type=int, help="Chroma server port (RAG_CHROMA_PORT, default 8000)")
    g.add_argument("-v", "--verbose", action="store_true", help="log what happens (INFO level)")
    g.add_argument("-q", "--quiet", action="store_true", help="only errors; no progress bars")


def _retrieval_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--top-k", type=int, help="passages to retrieve (RAG_TOP_K, default 5)")
    p.add_argument("--mode", choices=RETRIEVAL_MODES, help="retrieval mode (RAG_RETRIEVAL_MODE)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag", description="Answer questions from a folder of documents, citing file and lines.",
        epilog="Settings: rag.toml, RAG_* environment variables, or the flags of each command. "
               "Run `rag COMMAND --help` for a command's options.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("ingest", help="index a folder of documents (incremental)",
                       description="Sync the index with the corpus: new files are added, changed ones re-indexed, "
                                   "deleted ones removed. Re-running with nothing changed embeds nothing. Reads "
                                   "text, Markdown, PDF, HTML and Word (.docx), extensionless text (README, NEWS…) "
                                   "and .gz text; every file not indexed is counted in the summary, and named "
                                   "with its reason under -v. Exit status 1 when a file rag reads was unreadable.")
    p.add_argument("paths", nargs="*", type=Path, help="folders or files (default: the corpus setting, seeds/)")
    p.add_argument("--rebuild", action="store_true", help="drop the index and build it again from scratch")
    _common(p)

    p = sub.add_parser("ask", help="answer a question with cited file:line passages",
                       description="Answer from the corpus, citing each claim; refuse when the corpus does not answer.")
    p.add_argument("question", nargs="*", help="the question (omit it to ask interactively)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON object (JSON Lines with --questions)")
    fmt.add_argument("--format", choices=["text", "json", "markdown"], default="text", help="output format")
    p.add_argument("--questions", type=Path, help="file with one question per line ('-' for stdin)")
    _retrieval_flags(p)
    _common(p)

    p = sub.add_parser("cite", help="print the supporting passages only, as quotes with file and lines",
                       description="The top supporting passages for a question, no answer: for writing your own text.")
    p.add_argument("question", nargs="+", help="the question")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="markdown", help="output format")
    _retrieval_flags(p)
    _common(p)

    p = sub.add_parser("info", help="what is indexed: files, chunks, model, when built",
                       description="Show the index: files, chunk counts, model, chunking, when built.")
    p.add_argument("--json", action="store_true", help="print JSON")
    _common(p)

    p = sub.add_parser("chat", help="start the Gradio chat (builds the index first if missing)",
                       description="Start the Gradio chat on 127.0.0.1. Builds the index from the corpus if missing.")
    p.add_argument("--port", type=int, help="port (RAG_CHAT_PORT, default 7860)")
    p.add_argument("--host", help="address to bind (RAG_CHAT_HOST, default 127.0.0.1)")
    p.add_argument("--share", action="store_true", help="open a public Gradio share link (off by default)")
    p.add_argument("--auth", help="USER:PASSWORD required to use the chat (RAG_CHAT_AUTH)")
    _common(p)

    p = sub.add_parser("eval", help="score answers, citations and refusals (leave-one-corpus-out) and write a report",
                       description="Without --file: every dev corpus of eval/dev.toml is answered by an answer scorer "
                                   "fitted on the other corpora (the headline figures), then by the shipped scorer "
                                   "(in-sample); --fit refits the shipped scorer on all of them. With --file: one "
                                   "question set over --corpus, compared across retrieval configurations.")
    p.add_argument("--out", type=Path, default=Path("eval/out"), help="report folder (default eval/out)")
    p.add_argument("--dev", type=Path, help="dev manifest (default eval/dev.toml)")
    p.add_argument("--corpora", help="only these dev corpora (comma-separated names; at least two)")
    p.add_argument("--fit", action="store_true", help="refit the answer scorer on every dev corpus and save it")
    p.add_argument("--scorer-out", type=Path, help="where --fit writes the scorer (default: rag/data/scorer.json)")
    p.add_argument("--dev-index", type=Path, help="where the dev corpora are indexed (default OUT/index)")
    p.add_argument("--file", type=Path, help="one eval set (JSON Lines) over --corpus instead of the dev manifest")
    p.add_argument("--configs", help="comma-separated configurations to compare, each MODE[:setting=value...] "
                                      f"with MODE {', '.join(RETRIEVAL_MODES)} or llamaindex-dense (plain LlamaIndex "
                                      "retrieval, scored on retrieval only), e.g. hybrid,bm25,hybrid:top_k=10 "
                                      "(default: hybrid)")
    p.add_argument("--type", dest="types", help="only these question types (comma-separated)")
    p.add_argument("--ids", help="only these question ids (comma-separated)")
    p.add_argument("--calibrate", action="store_true", help="also search the refusal threshold and print the best")
    _common(p)

    p = sub.add_parser("train", help="train the reader (a question-passage cross-encoder) on the reader corpora",
                       description="Indexes every corpus of eval/reader.toml, builds each question's candidate "
                                   "units as the answer stage does, and fine-tunes a LoRA adapter of the shipped "
                                   "MiniLM as a cross-encoder (seeded). Corpora with role = \"valid\" are never "
                                   "trained on: the epoch that reads best there is kept. Then run `rag ingest` "
                                   "(exports it to ONNX) and `rag eval --fit` (refits the answer scorer on it).")
    p.add_argument("--data", type=Path, help="reader manifest (default eval/reader.toml)")
    p.add_argument("--out", type=Path, help="adapter folder to write (default: reader_dir, or rag/data/reader)")
    p.add_argument("--work", type=Path, help="where the reader corpora are indexed (default eval/out/reader)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--epochs", type=int, help="epochs (default 3; the best on the valid corpora is kept)")
    p.add_argument("--lr", type=float, help="learning rate (default 3e-4)")
    _common(p)
    return parser


def _settings(args: argparse.Namespace, **extra):
    overrides = {"corpus": args.corpus, "index": args.index, "collection": args.collection,
                 "chroma_host": args.chroma_host, "chroma_port": args.chroma_port, **extra}
    return load_settings(args.config, overrides)


def _read_questions(path: Path) -> list[str]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RagError(f"cannot read questions from {path}: {exc}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def cmd_ingest(args) -> int:
    from rag.pipeline import Pipeline

    settings = _settings(args)
    report = Pipeline(settings).ingest(args.paths or None, rebuild=args.rebuild, progress=not args.quiet)
    # files rag should read and could not, always; binary and other formats with -v
    for s in report.skipped if args.verbose else report.failed:
        print(f"skipped {s.name}: {s.reason}", file=sys.stderr)
    print(report.summary())
    return 1 if report.failed else 0


def cmd_ask(args) -> int:
    from rag.cite import render, report_markdown
    from rag.pipeline import Pipeline

    settings = _settings(args)
    fmt = "json" if args.json else args.format
    pipe = Pipeline(settings)
    kw = {"top_k": args.top_k, "mode": args.mode}
    if args.questions:
        answers = [_ask_one(pipe, q, fmt, kw, stream=fmt != "markdown") for q in _read_questions(args.questions)]
        if fmt == "markdown":
            print(report_markdown([a for a in answers if a is not None]))
        return 0 if all(answers) else 1
    if args.question:
        answer = pipe.ask(" ".join(args.question), **kw)  # errors exit 2 with a one-line message
        print(render(answer, fmt))
        return 0
    return _interactive(pipe, fmt, kw)


def _ask_one(pipe, question: str, fmt: str, kw: dict, stream: bool = True):
    """Ask and print; in batch mode a bad question becomes an error record, not a stop."""
    try:
        answer = pipe.ask(question, **kw)
    except RagError as exc:
        if fmt == "json":
            print(json.dumps({"question": question, "error": str(exc)}, ensure_ascii=False))
        else:
            print(f"error: {exc}", file=sys.stderr)
        return None
    if stream:
        from rag.cite import render

        print(render(answer, fmt), flush=True)
    return answer


def _interactive(pipe, fmt: str, kw: dict) -> int:
    if not sys.stdin.isatty():
        return 0 if all(_ask_one(pipe, q, fmt, kw) for q in _read_questions(Path("-"))) else 1
    print("Ask a question (empty line or Ctrl-D to quit).")
    while True:
        try:
            q = input("? ").strip()
        except EOFError:
            return 0
        if not q:
            return 0
        _ask_one(pipe, q, fmt, kw)
        print()


def cmd_cite(args) -> int:
    from rag.cite import passages_markdown, passages_text
    from rag.pipeline import Pipeline

    question = " ".join(args.question)
    passages = Pipeline(_settings(args)).cite(question, top_k=args.top_k, mode=args.mode)
    if args.format == "json":
        print(json.dumps({"question": question, "passages": [p.to_dict() for p in passages]}, ensure_ascii=False))
    elif args.format == "markdown":
        print(passages_markdown(question, passages))
    else:
        print(passages_text(passages))
    return 0


def cmd_info(args) -> int:
    from rag.pipeline import Pipeline

    info = Pipeline(_settings(args)).info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['where']} · collection {info['collection']} · model {info['model']} · "
          f"chunks of {info['chunk_size']} tokens (overlap {info['chunk_overlap']}) · built {info['built_at']}")
    kinds = ", ".join(f"{n} {k}" for k, n in info["formats"].items())
    print(f"{len(info['files'])} files ({kinds}), {info['chunks']} chunks, {info['sentences']} sentences")
    for f in info["files"]:
        print(f"  {f['chunks']:5d}  {f['format']:8s}  {f['file']}")
    if info["skipped"]:
        n = len(info["skipped"])
        print(f"{n} file{'s' if n != 1 else ''} not indexed by the last ingest:")
        for sk in info["skipped"]:
            print(f"  {sk['category']:11s}  {sk['name']}: {sk['reason']}")
    return 0


def cmd_chat(args) -> int:
    from rag.ui import serve

    settings = _settings(args, chat_port=args.port, chat_host=args.host, chat_auth=args.auth)
    return serve(settings, share=args.share)


def cmd_eval(args) -> int:
    if args.file is None:
        from rag.evaluate_dev import main as dev_main

        return dev_main(_settings(args), args)
    from rag.evaluate import main as eval_main

    return eval_main(_settings(args), args)


def cmd_train(args) -> int:
    from rag.reader_train import main as train_main

    return train_main(_settings(args), args)


COMMANDS = {"ingest": cmd_ingest, "ask": cmd_ask, "cite": cmd_cite, "info": cmd_info,
            "chat": cmd_chat, "eval": cmd_eval, "train": cmd_train}


def main(argv: list[str] | None = None) -> int:
    offline.setup()  # first: every command may import Hugging Face, Chroma or Gradio
    args = build_parser().parse_args(argv)
    level = logging.ERROR if args.quiet else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "chromadb", "sentence_transformers", "urllib3", "bm25s"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    try:
        return COMMANDS[args.command](args)
    except RagError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: stopped cleanly; run the same command again to finish "
              "(finished files are kept, partial ones are redone)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
