#!/usr/bin/env bash
# System packages some tests need (the headless browser for the chat's UI test).
# Best effort: if they cannot be installed, the tests that need them skip with a reason.
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing chromium for the browser test (apt-get)…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
      >/tmp/rag-apt.log 2>&1 || echo "chromium could not be installed (see /tmp/rag-apt.log); the browser test will skip"
  fi
fi
exit 0
