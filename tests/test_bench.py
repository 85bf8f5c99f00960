"""`make bench` end to end in one tiny round, so the benchmark cannot rot."""

from __future__ import annotations

import os
import re
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
    sections = report.split("\n## ")
    tables = {section.splitlines()[0]: section for section in sections[1:]}
    # Every scenario under both worker configs, with p50 and p99 latency beside requests/s.
    assert "2 × sync" in tables
    shipped = next(name for name in tables if name.startswith("gunicorn.conf.py: 2 × gthread"))
    for name in ("2 × sync", shipped):
        rows = scenario_rows(tables[name])
        for label in (
            "raw WSGI hello",
            "bare Flask hello",
            "ours: session read+write",
            "ours: rendered home page, session cookie",
            "ours: rendered home page, no cookie",
            "ours: rendered home page, logged in",
        ):
            rps, p50, p99 = rows[label][:3]
            assert rps > 0 and 0 < p50 <= p99, (name, label, rows[label])
        assert rows["bare Flask hello"][3] == 1.0  # the × bare column is relative to this row
    # Redis work per request is deterministic, so the smoke run checks it exactly.
    assert "| 0.0, 1.0, 2.0 | 0, 1, ≤ 2 | yes |" in tables["Targets"]
    for target in (
        "rendered home page with a session cookie vs bare Flask hello | ≥ 0.55 |",
        "rendered home page without a cookie vs bare Flask hello | ≥ 0.7 |",
        "session read-only route vs stock read-only | ≥ 1.4 |",
    ):
        assert re.search(re.escape(target) + r"( [\d.]+ \| (yes|NO) \|){2}$", report, re.M), target
    # Every target missed is explained: its request timed part by part in-process, each part
    # with what would remove it, and how much must go.
    missed = re.findall(r"^\| ([^|]+?) \| ≥ [\d.]+ \|.*\| NO \|$", tables["Targets"], re.M)
    explained = tables.get("Where the time goes", "").split("\n### ")
    for label in missed:
        section = next((part for part in explained if part.startswith(label + ":")), None)
        assert section, f"no profile for the missed target {label!r}"
        assert re.search(r"so \d+ µs must go", section), section
        parts = [
            line.strip("|").split("|")
            for line in section.splitlines()
            if re.match(r"\| [A-Za-z]", line) and not line.startswith("| part ")
        ]
        assert len(parts) >= 3, section
        assert all(float(cells[1]) >= 0 and cells[-1].strip() for cells in parts), section
    untouched = next(part for part in explained if part.startswith("page not using the session"))
    limiter_row = re.search(r"^\| Flask-Limiter's hooks \| (\d+) \|", untouched, re.M)
    assert limiter_row and int(limiter_row.group(1)) > 0, untouched
    assert re.search(r"^\| sync \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$", tables["Targets"], re.M)
    memory = re.search(r"logged-in session \(`MEMORY USAGE`[^)]*\) \| (\d+) bytes", report)
    assert memory and 100 < int(memory.group(1)) < 2000, report
    # The printed summary says for each target whether it is met.
    assert re.search(
        r"rendered home page without a cookie .*: sync [\d.]+ (met|NOT met)", result.stdout
    )
    assert (tmp_path / "ratios.png").stat().st_size > 5000


def scenario_rows(section: str) -> dict[str, list[float]]:
    """Scenario label -> its numbers (req/s, p50, p99, × bare, ...) from one results table."""
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 7 and re.fullmatch(r"[\d,]+", cells[1]):
            rows[cells[0]] = [float(cell.replace(",", "")) for cell in cells[1:5]]
    return rows


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
