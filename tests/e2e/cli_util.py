"""Shared pieces of the end-to-end tests that drive the `axle` CLI.

AXLE_BIN picks the binary (default build/axle); AXLE_E2E_TIMEOUT the seconds
each CLI call may take (default 120).
"""

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AXLE = os.environ.get("AXLE_BIN") or os.path.join(ROOT, "build", "axle")
TIMEOUT = float(os.environ.get("AXLE_E2E_TIMEOUT", "120"))


def axle(*args):
    """Runs `axle ARGS...` with no standard input; returns the CompletedProcess."""
    return subprocess.run([AXLE, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=TIMEOUT)


def describe(proc):
    """Exit status and the tails of both streams, for assertion messages."""
    return "exit %d\n--- stdout\n%s\n--- stderr\n%s" % (
        proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:])


@pytest.fixture(scope="session")
def axle_bin():
    # Not a skip: a missing binary is a broken build.
    if not (os.path.isfile(AXLE) and os.access(AXLE, os.X_OK)):
        pytest.fail("axle binary not found at %s: run `make build` or set AXLE_BIN" % AXLE)
    return AXLE
