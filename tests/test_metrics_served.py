"""/metrics of the baked app under gunicorn with its gunicorn.conf.py and two workers.

A scrape answered by one worker counts the requests of both, from files in the
multiprocess folder; the folder starts empty, and one the server made is gone after it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from conftest import bake, free_port, serve, stop_group, wait_for_port
from prometheus_client.parser import text_string_to_metric_families

from tools.baking import PRODUCTION_ENV

BATCH = 60
HEALTH = {"endpoint": "health.healthz", "method": "GET", "status": "200"}
# An earlier server's count, left in the folder: the new server must not add it.
STALE = """
from prometheus_client import Counter
Counter("http_requests", "", ["endpoint", "method", "status"]).labels(
    "health.healthz", "GET", "200"
).inc(1000)
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The default bake."""
    return bake(tmp_path_factory.mktemp("metrics"))


def start(project: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """gunicorn as the project configures it, two workers: the process and its base URL."""
    port = free_port()
    with log.open("w") as output:
        process = serve(
            project, port, PRODUCTION_ENV | {"GUNICORN_WORKERS": "2"} | env, output=output
        )
    try:
        wait_for_port(port, process=process)
    except BaseException:
        stop_group(process)
        raise
    return process, f"http://127.0.0.1:{port}"


def health_count(base: str, **headers: str) -> float:
    """The requests to /healthz that /metrics counts, all workers together."""
    response = requests.get(base + "/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text[:300]
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels == HEALTH
    )


def get_on_a_new_connection(url: str) -> int:
    """One GET on a connection of its own, so either worker may accept it."""
    return requests.get(url, timeout=10, headers={"Connection": "close"}).status_code


def test_a_scrape_counts_the_requests_of_both_workers(project, redis_url, tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    subprocess.run(
        [sys.executable, "-c", STALE],
        env=os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(folder)},
        check=True,
    )
    env = {
        "REDIS_URL": redis_url,
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "FLASK_PROXY_FIX": '{"x_for": 1}',
    }
    process, base = start(project, env, tmp_path / "gunicorn.log")
    try:
        # The port opens before both workers have booted, and a busy machine may let
        # one worker take a whole batch: send batches until each has served some.
        sent, workers = 0, set()
        deadline = time.monotonic() + 30
        while len(workers) < 2 and time.monotonic() < deadline:
            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(get_on_a_new_connection, [base + "/healthz"] * BATCH))
            assert statuses == [200] * BATCH
            sent += BATCH
            # A file per process that recorded a request (the master records none).
            workers = {name for name in os.listdir(folder) if name.startswith("histogram_")}
        assert len(workers) == 2, f"one worker served every request: {workers}"
        deadline = time.monotonic() + 10
        while (counted := health_count(base)) < sent and time.monotonic() < deadline:
            time.sleep(0.2)
        assert counted == sent

        # The client's address as PROXY_FIX finds it is what METRICS_ALLOW checks.
        outsider = requests.get(
            base + "/metrics", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10
        )
        unknown = requests.get(base + "/no-such-page", timeout=10)
        assert outsider.status_code == 404
        assert outsider.text == unknown.text
    finally:
        stop_group(process)
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()


def test_the_folder_the_server_made_is_removed_when_it_stops(project, redis_url, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process, base = start(
        project, {"REDIS_URL": redis_url, "TMPDIR": str(scratch)}, tmp_path / "log"
    )
    try:
        assert requests.get(base + "/metrics", timeout=10).status_code == 200
        assert len(list(scratch.glob("prometheus-*"))) == 1
    finally:
        stop_group(process)
    assert list(scratch.glob("prometheus-*")) == []
