#!/usr/bin/env bash
# tools/deps.sh - install everything axle's build, tests, demo and benchmarks need.
#
# Called by `make deps` (and so by `make test`, `make demo`, `make bench`).
# Idempotent and non-interactive: safe to run on every `make test`, on a fresh
# Debian 12 machine as root with no stdin (CI), or on a dev box where most of it
# is already present. Steps:
#   1. Debian packages: dpkg-query first; `apt-get update` + install only if
#      something is missing.
#   2. .venv: Debian's python3 with --system-site-packages, so it sees
#      python3-torch / python3-onnx / python3-numpy from Debian.
#   3. PyPI pins into .venv (onnxruntime): skipped when already installed.
#   4. A smoke import of the Python stack the tests and benchmarks use.
#
# Environment: AXLE_VENV (default <repo>/.venv), AXLE_DEPS_NO_APT=1 skips step 1
# (for machines where someone else manages packages; missing ones are reported).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AXLE_VENV:-$ROOT/.venv}"
export DEBIAN_FRONTEND=noninteractive

# Build: compilers, CMake/Ninja, ONNX protobuf (protobuf-c), BLAS, JSON, cmocka.
# Tests: clang + libFuzzer runtime, valgrind, pytest/requests, numpy, yaml
# (the manifests of axle deploy).
# Fixtures: Debian's CPU torch/torchvision (ONNX export), onnx 1.12 (conformance
# data), sklearn (iris classifier). protobuf/packaging are listed because the
# onnxruntime wheel needs them and must not pull newer ones from PyPI that
# would shadow Debian's (onnx 1.12's generated code wants protobuf 3.x/4.21).
# Benchmarks: hyperfine, GNU time; the tree benchmarks (bench/trees.sh):
# libxgboost-dev (XGBoost's C API, bench/trees_bench.c) and python3-xgboost
# (the same 1.7 library, trains the model in bench/trees_model.py), scipy for
# the lightgbm pin below.
APT_PACKAGES=(
  build-essential cmake pkg-config ninja-build
  libprotobuf-c-dev protobuf-c-compiler libopenblas-dev libjansson-dev
  libuv1-dev libhttp-parser-dev zlib1g-dev libssl-dev
  libcmocka-dev clang libclang-rt-14-dev valgrind
  python3-venv python3-numpy python3-onnx python3-torch python3-torchvision
  python3-sklearn python3-protobuf python3-packaging
  python3-pytest python3-requests python3-yaml
  hyperfine time libxgboost-dev python3-xgboost python3-scipy
  nginx iproute2 wrk python3-fastapi python3-uvicorn curl
  prometheus python3-prometheus-client chromium
  skopeo umoci podman runc crun uidmap
)

# PyPI pins. onnxruntime 1.26.0: newest release whose wheel (cp311 manylinux_2_27)
# accepts Debian's numpy 1.24 and protobuf 4.21 as they are; 1.28+ require
# protobuf >= 4.25.8, which would shadow Debian's and break onnx 1.12.
# lightgbm 4.7.0: LightGBM's own predictor for bench/trees_lgb.py (and the
# LightGBM model of bench/trees_model.py); Debian has no python3-lightgbm. Its
# numpy/scipy come from Debian; narwhals (pure Python) is pinned with it.
# skl2onnx 1.14.1 (with onnxconverter-common 1.13.0): converts the scikit-learn
# pipelines of tests/e2e/test_onnxml_ops.py; its metadata accepts Debian's
# scikit-learn 1.2 (it asks for < 1.3), onnx 1.12 and protobuf 4.21 as they
# are, so pip installs only these two.
PIP_PINS=(
  onnxruntime==1.26.0
  flatbuffers==25.12.19
  lightgbm==4.7.0
  narwhals==2.29.0
  skl2onnx==1.14.1
  onnxconverter-common==1.13.0
)
# Triton's own HTTP client for the serving tests, installed with --no-deps:
# its metadata asks for urllib3 2.x, which would shadow Debian's urllib3 1.26
# that python3-requests needs; the HTTP client itself runs on geventhttpclient.
PIP_NODEPS_PINS=(
  tritonclient==2.73.0 python-rapidjson==1.25 geventhttpclient==2.6.1
  gevent==26.9.0 greenlet==3.3.2 zope.event==6.2 zope.interface==8.7 brotli==1.2.1
  ml-dtypes==0.5.4
)

say() { printf 'deps: %s\n' "$*"; }

# --- 1. Debian packages ------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" != "installed" ]; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  say "debian packages: all ${#APT_PACKAGES[@]} present"
elif [ "${AXLE_DEPS_NO_APT:-0}" = "1" ]; then
  say "debian packages missing (AXLE_DEPS_NO_APT=1, not installing): ${missing[*]}"
  exit 1
else
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); else
      say "need root (or sudo) to install: ${missing[*]}"; exit 1
    fi
  fi
  say "debian packages: installing ${missing[*]}"
  "${SUDO[@]}" apt-get update -qq </dev/null
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" </dev/null >/dev/null
  say "debian packages: done"
fi

# --- 2. virtual environment --------------------------------------------------
if [ -x "$VENV/bin/python" ]; then
  say "venv: $VENV present"
else
  say "venv: creating $VENV"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi

# --- 3. PyPI pins ------------------------------------------------------------
# Check the installed versions in the venv itself (importlib.metadata does not
# import the package, so this costs ~50 ms).
missing_pins() { missing_pins_in "$VENV" "$@"; }
missing_pins_in() {
local venv="$1"; shift
"$venv/bin/python" - "$@" <<'EOF'
import sys
from importlib.metadata import version, PackageNotFoundError
need = []
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        if version(name) != want:
            need.append(pin)
    except PackageNotFoundError:
        need.append(pin)
print(" ".join(need))
EOF
}
need_pip="$(missing_pins "${PIP_PINS[@]}")"
if [ -z "$need_pip" ]; then
  say "pip: ${PIP_PINS[*]} present"
else
  say "pip: installing $need_pip"
  # --no-input: never prompt. Dependencies other than the pins are resolved
  # against Debian's site-packages (protobuf, numpy, packaging) first.
  "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
    "${PIP_PINS[@]}" </dev/null
fi
need_nodeps="$(missing_pins "${PIP_NODEPS_PINS[@]}")"
if [ -n "$need_nodeps" ]; then
  say "pip: installing (no deps) $need_nodeps"
  "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
    --no-deps "${PIP_NODEPS_PINS[@]}" </dev/null
fi

# --- 3b. a current onnx release, alone -----------------------------------------
# .venv-onnx holds only a current onnx from PyPI (and the numpy it needs): its
# generators write the node cases of opsets newer than Debian's onnx 1.12
# (tools/gen_conformance.sh --current). It is separate from .venv because
# that onnx would replace Debian's, which torch and skl2onnx here expect.
ONNX_VENV="${AXLE_ONNX_VENV:-$ROOT/.venv-onnx}"
ONNX_PINS=(onnx==1.23.2 numpy==2.4.6 protobuf==7.36.2 ml_dtypes==0.7.0 typing_extensions==4.16.0)
if [ ! -x "$ONNX_VENV/bin/python" ]; then
  say "venv: creating $ONNX_VENV"
  /usr/bin/python3 -m venv "$ONNX_VENV"
fi
if [ -n "$(missing_pins_in "$ONNX_VENV" "${ONNX_PINS[@]}")" ]; then
  say "pip: installing into $ONNX_VENV: ${ONNX_PINS[*]}"
  "$ONNX_VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
    "${ONNX_PINS[@]}" </dev/null
else
  say "pip: $ONNX_VENV: ${ONNX_PINS[*]} present"
fi

# --- 4. smoke check ----------------------------------------------------------
"$VENV/bin/python" -c '
import numpy, onnx, torch, torchvision, onnxruntime, sklearn, tritonclient.http, lightgbm
import skl2onnx
print("deps: python ok: numpy %s onnx %s torch %s onnxruntime %s lightgbm %s skl2onnx %s" % (
    numpy.__version__, onnx.__version__, torch.__version__, onnxruntime.__version__,
    lightgbm.__version__, skl2onnx.__version__))
'
