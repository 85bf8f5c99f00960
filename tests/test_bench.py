"""`make bench` end to end in one tiny round, so the benchmark cannot rot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from bench.targets import MET, MISSED, TOO_NOISY, Spread, Target

# The targets table, row by row: what is compared and what is wanted.
TARGET_ROWS = [
    ("page not using the session (cookie sent) vs bare Flask hello", "≥ 0.85"),
    ("rendered home page without a cookie vs bare Flask hello", "≥ 0.75"),
    (
        "rendered home page with a session cookie vs bare Flask + our session interface "
        "reading the session",
        "≥ 0.9",
    ),
    ("session read-only route vs stock Flask-Session read-only", "≥ 1.2"),
    ("session read+write route vs stock read+write", "≥ 1.0"),
    ("middleware overhead (ours vs ours without middleware, untouched page)", "≥ 0.95"),
    (
        "floor of the middleware overhead: its headers alone (constants, one closure) vs "
        "ours without middleware, untouched page",
        "≥ 0.95",
    ),
    ("metrics overhead (ours vs ours without metrics, untouched page)", "≥ 0.95"),
    ("API read with a token (GET /api/v1/me) vs bare Flask JSON hello", "≥ 0.2"),
    ('import + `create_app("production")` CPU vs the library-import reference', "≤ 1.15× the time"),
]
SPREAD = r"\d+\.\d\d \(IQR \d+\.\d\d–\d+\.\d\d\)"
VERDICT = f"(?:{MET}|{MISSED}|{TOO_NOISY})"


def test_bench_runs_and_reports_ratios(tmp_path):
    if shutil.which("wrk") is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but wrk is not installed")
        pytest.skip("wrk is not installed (apt-get install wrk)")
    command = [sys.executable, "-m", "bench.run", "--quick"]
    command += ["--seconds", "1", "--samples", "1", "--repeats", "1", "--out", str(tmp_path)]
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
            "bare Flask + our session interface: read-only",
            "bare Flask + our session interface: read+write",
            "ours: session read+write",
            "ours: rendered home page, session cookie",
            "ours: rendered home page, no cookie",
            "ours: rendered home page, logged in",
        ):
            rps, p50, p99 = rows[label][:3]
            assert rps > 0 and 0 < p50 <= p99, (name, label, rows[label])
        assert rows["bare Flask hello"][3] == 1.0  # the × bare column is relative to this row
    # The targets in order, each with its median and IQR and a verdict under both
    # configs, and its in-process (for start-up, whole-child) ratio beside them.
    targets = tables["Targets"]
    row = rf"^\| (.+?) \| ([^|]+) \|(?: {SPREAD} \| {VERDICT} \|){{2}} {SPREAD} \|$"
    assert re.findall(row, targets, re.M) == TARGET_ROWS, targets
    assert "too noisy" in targets and "interquartile range" in targets
    # Redis work per request is deterministic, so the smoke run checks it exactly.
    assert "| 0.0, 1.0, 2.0 | 0, 1, ≤ 2 | yes |" in targets
    tooling = r"^\| tooling loaded by `create_app` \(alembic, [^|]+\| [^|]+ \| none \| (yes|NO) \|$"
    assert re.search(tooling, targets, re.M), targets
    memory = re.search(r"logged-in session \(`MEMORY USAGE`[^)]*\) \| (\d+) bytes", report)
    assert memory and 100 < int(memory.group(1)) < 2000, report
    # Every target missed is explained: its request timed part by part in-process, each part
    # with what would remove it, and how much must go.
    missed = [
        line.split(" | ")[0].strip("| ")
        for line in targets.splitlines()
        if re.search(rf"\| {MISSED} \|", line) and not line.startswith("| import")
    ]
    explained = tables.get("Where the time goes", "").split("\n### ")
    for label in missed:
        section = next((part for part in explained if part.startswith(label + ":")), None)
        assert section, f"no profile for the missed target {label!r}"
        assert re.search(r"so -?\d+ µs must go", section), section
        parts = [
            line.strip("|").split("|")
            for line in section.splitlines()
            if re.match(r"\| [A-Za-z]", line) and not line.startswith("| part ")
        ]
        assert len(parts) >= 3, section
        assert all(float(cells[1]) >= 0 and cells[-1].strip() for cells in parts), section
    assert re.search(r"^- Start-up, CPU in a fresh child: .* \d+ ms .* \d+ ms", report, re.M)
    # Flask-Limiter is gone from the app, so from the benchmark too.
    assert "Flask-Limiter" not in report + result.stdout
    # The printed summary gives every target its verdict under each config.
    for label, _ in TARGET_ROWS:
        assert re.search(rf"{re.escape(label)} .*: sync {SPREAD} {VERDICT};", result.stdout), label
    assert (tmp_path / "ratios.png").stat().st_size > 5000


def scenario_rows(section: str) -> dict[str, list[float]]:
    """Scenario label -> its numbers (req/s, p50, p99, × bare, ...) from one results table."""
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 7 and re.fullmatch(r"[\d,]+", cells[1]):
            rows[cells[0]] = [float(cell.replace(",", "")) for cell in cells[1:5]]
    return rows


@pytest.mark.parametrize(
    ("spread", "at_most", "verdict"),
    [
        (Spread(0.95, 0.93, 0.97), False, MET),
        (Spread(0.80, 0.78, 0.83), False, MISSED),
        (Spread(0.91, 0.88, 0.93), False, TOO_NOISY),  # the IQR straddles 0.9
        (Spread(1.20, 1.00, 1.30), False, TOO_NOISY),  # wider than 15% of the median
        (Spread(0.85, 0.84, 0.86), True, MET),  # a time: less is better
        (Spread(0.95, 0.94, 0.96), True, MISSED),
    ],
    ids=["met", "missed", "straddles", "wide", "time met", "time missed"],
)
def test_a_verdict_needs_rounds_that_agree(spread, at_most, verdict):
    assert Target("target", 0.9, at_most=at_most).verdict(spread) == verdict


def test_spread_is_the_median_and_quartiles_of_the_rounds():
    spread = Spread.of([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    assert (spread.low, spread.median, spread.high) == (3.0, 5.0, 7.0)
    assert str(spread) == "5.00 (IQR 3.00–7.00)"
    assert Spread.of([0.9]) == Spread(0.9, 0.9, 0.9)


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
