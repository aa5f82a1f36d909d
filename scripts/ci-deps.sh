#!/usr/bin/env bash
# System packages the tests need, installed when absent (CI machines start without them).
set -euo pipefail
# Chromium and chromedriver for the web page's browser test (http/tests/browser.rs).
# With CI set, that test fails rather than skips when they are missing.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi

# curl (the Schemathesis script logs in with it) and Python's venv module.
if ! command -v curl >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl
fi
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
fi

# ip (network namespaces) and iptables (the one-way cut) for scripts/silent-cut.py; nsenter
# and iptables for the chaos test's link and one-way cuts inside the containers' namespaces.
if ! command -v ip >/dev/null 2>&1 || ! command -v iptables >/dev/null 2>&1 \
  || ! command -v nsenter >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 iptables util-linux
fi
