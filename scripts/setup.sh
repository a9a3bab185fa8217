#!/usr/bin/env bash
# Set up edgeshrink in ./.venv (the host) and, with --test, ./.venv38 (a Python 3.8
# environment like a JetPack 5 board's, which the tests run the agent under).
# Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
# torch is pinned: this exact version has a local CPU wheel; anything else pulls CUDA.
extras=""
[ "$with_tests" = 1 ] && extras="[test]"
.venv/bin/pip install --quiet torch==2.13.0 -e ".${extras}"

if [ "$with_tests" = 1 ]; then
  # The tests talk to a real OpenSSH server and build simulated boards (network
  # namespaces, tc, cgroups); a bare board's python3 needs venv for `devices setup`;
  # the report is opened in a real headless Chromium; the shared store is tested on a
  # real PostgreSQL server (Debian's initdb and pg_ctl, started by the tests).
  missing=""
  for tool in /usr/sbin/sshd ip tc pkill nsenter ssh-keygen chromium setpriv; do
    command -v "$tool" >/dev/null 2>&1 || missing=1
  done
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing=1
  /usr/bin/python3 -c "import ensurepip" >/dev/null 2>&1 || missing=1
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client iproute2 procps \
        util-linux python3-venv chromium postgresql >/dev/null
    else
      echo "setup: the tests need: openssh-server openssh-client iproute2 procps util-linux python3-venv chromium postgresql" >&2
    fi
  fi
  if [ ! -x .venv38/bin/python ]; then
    py38="${EDGESHRINK_PY38_BASE:-}"
    if [ -z "$py38" ] && command -v pyenv >/dev/null 2>&1; then
      py38="$(pyenv root)/versions/3.8.18/bin/python3.8"
    fi
    if [ -z "$py38" ] || [ ! -x "$py38" ]; then
      echo "setup: no Python 3.8 found (pyenv's 3.8.18, or set EDGESHRINK_PY38_BASE)" >&2
      exit 1
    fi
    "$py38" -m venv .venv38
  fi
  # What a board needs for the agent: a runtime, numpy, psutil. No torch. TensorFlow
  # Lite there is tflite-runtime 2.14, the last release for old Pythons, which needs
  # numpy<2 (Python 3.8 has no numpy 2 anyway; the pin says why it must stay so).
  .venv38/bin/pip install --quiet onnxruntime 'numpy<2' psutil tflite-runtime==2.14.0
fi
echo "setup: ready (.venv$([ "$with_tests" = 1 ] && echo ', .venv38'))"
