"""The Gradio Blocks of the chat: layout, event handlers, and the named API endpoints.

Only the shared ``Pipeline`` lives outside a request; a user's conversation and answers
travel in the Chatbot value and a ``gr.State``, so concurrent users never see each
other's turns. Import this module only after ``rag.offline.setup()`` (rag.ui does), so that
Gradio, imported here, sees its analytics switched off.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import gradio as gr

from rag.cite import answer_markdown, report_markdown
from rag.config import RETRIEVAL_MODES
from rag.results import Answer
from rag.errors import RagError
from rag.pipeline import Pipeline, clean_question
from rag.ui_render import answer_html, draft_html, error_html, esc, pending_html, question_html

log = logging.getLogger(__name__)

MODES = list(RETRIEVAL_MODES)  # gr.Radio wants a list
MAX_TOP_K = 20
CONTEXT_LINES = 2  # non-blank lines shown around a cited sentence
STREAM_EVERY_S = 0.15  # a streamed draft is redrawn at most this often, not per token


class Handlers:
    """The app's functions; each takes everything per-user as arguments."""

    def __init__(self, pipe: Pipeline):
        self.pipe = pipe

    # --- API: the same objects as the CLI's JSON ------------------------------------------
    def ask(self, question: str, top_k: int | None = None, mode: str | None = None) -> dict:
        """Answer a question from the corpus; the same JSON object as `rag ask --json`."""
        return self._call(self.pipe.ask, question, **self._retrieval(top_k, mode)).to_dict()

    def cite(self, question: str, top_k: int | None = None, mode: str | None = None) -> dict:
        """Only the supporting passages for a question; the same JSON as `rag cite --format json`."""
        passages = self._call(self.pipe.cite, question, **self._retrieval(top_k, mode))
        return {"question": question, "passages": [p.to_dict() for p in passages]}

    def source(self, file: str, start_char: int, end_char: int, context: int = 3) -> dict:
        """Lines of an indexed file around a span (a citation's or passage's start_char/end_char)."""
        return self._call(self.pipe.source, file, start_char, end_char, context=context)

    def info(self) -> dict:
        """What is indexed: files with chunk counts, model, chunking, when built."""
        info = self._call(self.pipe.info)
        # absolute paths say nothing useful to a remote user about the corpus
        info["files"] = [{k: v for k, v in f.items() if k != "path"} for f in info["files"]]
        return info

    def reindex(self) -> dict:
        """Sync the index with the corpus folder (incremental); questions wait while it writes."""
        # gr.api cannot take a gr.Progress argument; the Index tab's button passes one
        return self._reindex(None)

    def _reindex(self, progress) -> dict:
        if progress is not None:
            progress(0, desc="Scanning the corpus…")
        report = self._call(self.pipe.ingest, progress=True)
        out = dataclasses.asdict(report)
        out["summary"] = report.summary()
        return out

    @staticmethod
    def _retrieval(top_k, mode) -> dict:
        if top_k in (None, "", 0):
            top_k = None
        else:
            try:
                top_k = int(top_k)
            except (TypeError, ValueError):
                raise gr.Error(f"top_k must be a whole number, not {str(top_k)[:40]!r}") from None
            if not 1 <= top_k <= MAX_TOP_K:
                raise gr.Error(f"top_k must be between 1 and {MAX_TOP_K}")
        if mode in (None, ""):
            mode = None
        elif mode not in MODES:
            raise gr.Error(f"mode must be one of {', '.join(MODES)}")
        return {"top_k": top_k, "mode": mode}

    @staticmethod
    def _call(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RagError as exc:
            raise gr.Error(str(exc)) from None

    # --- the chat --------------------------------------------------------------------------
    def respond(self, message: str, history: list | None, answers: list | None, top_k: int, mode: str):
        """One turn: show the question and a 'searching' state at once, then the answer."""
        history = list(history or [])
        answers = list(answers or [])
        message = message if isinstance(message, str) else ""
        history.append({"role": "user", "content": question_html(message)})
        try:
            question = clean_question(message, self.pipe.settings.max_question_chars)
            kw = self._retrieval(top_k, mode)
        except (RagError, gr.Error) as exc:
            history.append({"role": "assistant", "content": error_html(*_parts(exc))})
            yield "", history, answers, gr.skip()
            return
        history.append({"role": "assistant", "content": pending_html()})
        yield "", history, answers, gr.skip()
        draft, shown_at, answer = "", 0.0, None
        try:
            for item in self.pipe.ask_stream(question, **kw):
                if not isinstance(item, str):
                    answer = item  # the checked Answer comes last
                    continue
                draft += item  # a writer that streams (the LLM one): show its draft as it grows
                if time.monotonic() - shown_at >= STREAM_EVERY_S:
                    history[-1] = {"role": "assistant", "content": draft_html(draft)}
                    shown_at = time.monotonic()
                    yield "", history, answers, gr.skip()
        except RagError as exc:
            history[-1] = {"role": "assistant", "content": error_html(exc.message, exc.hint)}
            yield "", history, answers, gr.skip()
            return
        if answer is None:  # a writer that stopped without its answer: say so, not hang
            history[-1] = {"role": "assistant", "content": error_html("the answer writer gave no answer",
                                                                       "ask again; see the server's log")}
            yield "", history, answers, gr.skip()
            return
        history[-1] = {"role": "assistant", "content": answer_html(answer, self.windows(answer))}
        answers.append(answer)
        yield "", history, answers, answer_markdown(answer)

    def windows(self, answer: Answer) -> dict:
        """Source windows for each citation (the lines around it, cited sentences marked) or,
        for a refusal, each closest passage; a file that cannot be read becomes a message."""
        out: dict = {}
        if answer.refused:
            for i, p in enumerate(answer.passages[:3]):
                out[i] = self._window(p.file, p.start_char, p.end_char, [], context=0)
            return out
        for c in answer.citations:
            # centred on the cited sentence, not its whole chunk: opening a citation should
            # show the highlight at once, with the text around it, not a scroll away
            marks = [(o.start_char, o.end_char) for o in answer.citations if o.path == c.path]
            out[c.id] = self._window(c.file, c.start_char, c.end_char, marks, context=CONTEXT_LINES)
        return out

    def _window(self, file, start, end, marks, context):
        try:
            return self.pipe.source(file, start, end, context=context, highlights=marks)
        except RagError as exc:
            return exc.message

    @staticmethod
    def report(answers: list | None, scope: str) -> str:
        answers = list(answers or [])
        if not answers:
            return ""
        if scope == "Whole conversation":
            return report_markdown(answers, title="rag: questions and cited answers")
        return answer_markdown(answers[-1])

    # --- the index tab -----------------------------------------------------------------------
    def index_view(self):
        try:
            info = self.info()
        except gr.Error as exc:
            return f"**No index to show:** {esc(exc.message)}", []
        s = self.pipe.settings
        kinds = ", ".join(f"{n} {esc(k)}" for k, n in info["formats"].items())
        summary = (f"**{len(info['files'])} files ({kinds}) · {info['chunks']} chunks · "
                   f"{info['sentences']} sentences**  \n"
                   f"Corpus folder: {esc(s.corpus)} · {esc(info['where'])} · collection {esc(info['collection'])}  \n"
                   f"Model: {esc(info['model'])} · chunks of {info['chunk_size']} word-pieces "
                   f"(overlap {info['chunk_overlap']}) · built {esc(info['built_at'] or 'unknown')}")
        if info["skipped"]:
            n = len(info["skipped"])
            summary += (f"\n\n**{n} file{'s' if n != 1 else ''} not indexed** (last ingest):\n\n" +
                        "\n".join(f"- {esc(sk['name'])} — {esc(sk['reason'])}" for sk in info["skipped"][:50]))
        rows = [[f["file"], f["format"], f["chunks"], f.get("indexed_at", "")] for f in info["files"]]
        return summary, rows

    def reindex_view(self, progress=gr.Progress(track_tqdm=True)):
        try:
            report = self._reindex(progress)
        except gr.Error as exc:
            return f"**Re-index failed:** {esc(exc.message)}", *self.index_view()
        lines = [f"**Re-indexed:** {esc(report['summary'])}"]
        lines += [f"- skipped {esc(sk['name'])}: {esc(sk['reason'])}" for sk in report["skipped"]]
        return "\n".join(lines), *self.index_view()


def _parts(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, RagError):
        return exc.message, exc.hint
    return getattr(exc, "message", str(exc)), ""


def build_app(pipe: Pipeline) -> gr.Blocks:
    h = Handlers(pipe)
    s = pipe.settings
    with gr.Blocks(title="rag — cited answers from your documents", fill_height=True) as demo:
        answers = gr.State([])
        gr.Markdown("## rag · answers from your documents, every claim cited\n"
                    "Each answer quotes the files it comes from: open a citation to read it in place. "
                    "When the documents do not say, rag says so.")
        with gr.Tab("Chat"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Conversation", height=560, layout="panel", buttons=[],
                        latex_delimiters=[], sanitize_html=True, allow_tags=False, feedback_options=None,
                        placeholder=f"Ask a question about the documents in **{esc(s.corpus)}**.",
                        elem_id="rag-chat")
                    with gr.Row():
                        box = gr.Textbox(placeholder="Ask a question, e.g. “Who invested in …?” and press Enter",
                                         show_label=False, scale=8, lines=1, max_lines=6, autofocus=True,
                                         elem_id="rag-question")
                        ask_btn = gr.Button("Ask", variant="primary", scale=1, min_width=80)
                    with gr.Accordion("Retrieval settings", open=False):
                        with gr.Row():
                            top_k = gr.Slider(1, MAX_TOP_K, value=s.top_k, step=1, label="passages (top-k)")
                            mode = gr.Radio(MODES, value=s.retrieval_mode, label="search",
                                            info="hybrid = keywords (BM25) + meaning (dense)")
                    clear = gr.Button("New conversation", size="sm", variant="secondary")
                with gr.Column(scale=2):
                    gr.Markdown("### Copy for report\nThe answer with its citations as Markdown footnotes.")
                    scope = gr.Radio(["This answer", "Whole conversation"], value="This answer", show_label=False)
                    report = gr.Code(language="markdown", label="Markdown", lines=16, max_lines=30,
                                     wrap_lines=True, buttons=["copy", "download"], interactive=False,
                                     elem_id="rag-report")
        with gr.Tab("Index") as index_tab:
            index_summary = gr.Markdown()
            with gr.Row():
                reindex_btn = gr.Button("Re-index the corpus folder", variant="primary")
                refresh_btn = gr.Button("Refresh", variant="secondary")
            reindex_status = gr.Markdown("Changed, added or removed files in the corpus folder? "
                                         "Re-index: only what changed is embedded.")
            files = gr.Dataframe(headers=["file", "format", "chunks", "indexed at"], datatype=["str", "str", "number", "str"],
                                 interactive=False, label="Indexed files", wrap=True)

        chat_io = dict(inputs=[box, chatbot, answers, top_k, mode], outputs=[box, chatbot, answers, report])
        box.submit(h.respond, api_name="chat", **chat_io)
        ask_btn.click(h.respond, api_visibility="private", **chat_io)
        clear.click(lambda: ([], [], ""), outputs=[chatbot, answers, report], api_visibility="private", queue=False)
        chatbot.clear(lambda: ([], ""), outputs=[answers, report], api_visibility="private", queue=False)
        scope.change(h.report, [answers, scope], report, api_visibility="private", queue=False)

        index_tab.select(h.index_view, outputs=[index_summary, files], api_visibility="private")
        refresh_btn.click(h.index_view, outputs=[index_summary, files], api_visibility="private")
        reindex_btn.click(h.reindex_view, outputs=[reindex_status, index_summary, files],
                          api_visibility="private", concurrency_limit=1, concurrency_id="reindex")

        gr.api(h.ask, api_name="ask")
        gr.api(h.cite, api_name="cite")
        gr.api(h.source, api_name="source")
        gr.api(h.info, api_name="info")
        gr.api(h.reindex, api_name="reindex", concurrency_limit=1, concurrency_id="reindex")
    return demo
