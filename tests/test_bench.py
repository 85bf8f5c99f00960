"""`make bench` end to end in one tiny round, so the benchmark cannot rot."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT


def test_bench_runs_and_reports_ratios(tmp_path):
    if shutil.which("wrk") is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but wrk is not installed")
        pytest.skip("wrk is not installed (apt-get install wrk)")
    command = [sys.executable, "-m", "bench.run", "--quick"]
    command += ["--seconds", "1", "--repeats", "1", "--out", str(tmp_path)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (tmp_path / "results.md").read_text()
    for row in ("| raw WSGI hello |", "| bare Flask hello |", "| ours: session read+write |"):
        assert row in report
    # Redis work per request is deterministic, so the smoke run checks it exactly.
    assert "| 0.0, 1.0, 2.0 | 0, 1, ≤ 2 | yes |" in report
    assert (tmp_path / "ratios.png").stat().st_size > 5000


def test_bench_imports_no_test_module():
    """The benchmark shares tools/ with the tests, never the tests themselves."""
    code = (
        "import sys, bench.run\n"
        "print([name for name, module in sys.modules.items()\n"
        "       if (getattr(module, '__file__', None) or '').startswith(sys.argv[1])])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "tests")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"
