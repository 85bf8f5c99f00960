"""Account mail of the baked default under ``gunicorn -c gunicorn.conf.py wsgi:app`` alone.

No worker is started by hand: gunicorn's master runs one job worker beside the web workers,
which sends the mail the registration queued to a real SMTP server, and stops with it. On a
Redis Cluster, where RQ's worker cannot run, the mail is sent within the request instead.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from aiosmtpd.controller import Controller
from conftest import bake, free_port, serve, stop_group, wait_for_port
from prometheus_client.parser import text_string_to_metric_families
from redis.cluster import ClusterNode, RedisCluster
from rq import Queue, SimpleWorker

from tools.baking import PRODUCTION_ENV
from tools.servers import pid_alive

CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
STARTED = re.compile(r"Started the job worker \(pid (\d+)\)")
ADDRESS = "alice@example.com"


class Inbox:
    """What the SMTP server accepted."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The default bake."""
    return bake(tmp_path_factory.mktemp("jobs"))


@pytest.fixture
def inbox() -> Controller:
    controller = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


def register(base: str) -> requests.Response:
    """The register form, as a browser fills it (cookies sent by hand: Secure over http)."""
    page = requests.get(base + "/auth/register", timeout=10)
    assert page.status_code == 200, page.text[:300]
    cookies = "; ".join(f"{key}={value}" for key, value in page.cookies.get_dict().items())
    form = {
        "username": "alice",
        "email": ADDRESS,
        "password": "correct horse battery staple",
        "confirm": "correct horse battery staple",
        "csrf_token": CSRF.search(page.text).group(1),
    }
    return requests.post(
        base + "/auth/register",
        data=form,
        headers={"Cookie": cookies},
        allow_redirects=False,
        timeout=10,
    )


def enqueued(base: str) -> float:
    """jobs_enqueued_total for the mail job, as /metrics adds it up across processes."""
    text = requests.get(base + "/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "jobs_enqueued_total" and sample.labels == {"job": "send_now"}
    )


def serve_mailing(project, tmp_path, port, redis_url, inbox, workers):
    """The project served in production, mailing to the inbox, logging to server.log."""
    env = PRODUCTION_ENV | {
        "REDIS_URL": redis_url,
        "MAIL_PORT": str(inbox.port),
        "MAIL_USE_TLS": "false",
        "INSTANCE_PATH": str(tmp_path / "instance"),  # a database of this test's own
        "GUNICORN_WORKERS": str(workers),
    }
    with (tmp_path / "server.log").open("w") as output:
        return serve(project, port, env, output=output)


def test_the_verify_mail_arrives_through_the_worker_gunicorn_starts(
    project, tmp_path, redis_url, inbox
):
    log = tmp_path / "server.log"
    port = free_port()
    server = serve_mailing(project, tmp_path, port, redis_url, inbox, workers=2)
    try:
        wait_for_port(port, process=server)
        base = f"http://127.0.0.1:{port}"
        response = register(base)
        assert response.status_code == 303, response.text[-500:]
        deadline = time.monotonic() + 30
        while not inbox.handler.messages and time.monotonic() < deadline:
            time.sleep(0.2)
        received = [message["To"] for message in inbox.handler.messages]
        assert received == [ADDRESS], log.read_text()[-3000:]
        body = inbox.handler.messages[0].get_body(("plain",)).get_content()
        assert "/auth/verify/" in body
        assert enqueued(base) == 1
        (worker_pid,) = {int(pid) for pid in STARTED.findall(log.read_text())}
        assert pid_alive(worker_pid)
    finally:
        stop_group(server)
    # Stopped with the server, having said nothing of a failure.
    output = log.read_text()
    assert not pid_alive(worker_pid), output[-3000:]
    assert "Traceback" not in output
    assert "job_failed" not in output and "exited with" not in output
    assert output.count("Started the job worker") == 1


def test_rqs_worker_cannot_run_on_a_redis_cluster(redis_cluster):
    """Why a redis+cluster:// URL sends mail within the request: RQ puts a job on a cluster,
    but its worker cannot start there."""
    node = redis_cluster.nodes[0]
    client = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", node.port)])
    queue = Queue(f"cluster-{uuid.uuid4().hex[:8]}", connection=client)
    queue.enqueue(os.path.basename, "/a/b")
    with pytest.raises(AttributeError, match="connection_pool"):
        SimpleWorker([queue], connection=client).work(burst=True)
    client.close()


def test_on_a_redis_cluster_the_mail_goes_out_within_the_request(
    project, tmp_path, redis_cluster, inbox
):
    log = tmp_path / "server.log"
    port = free_port()
    server = serve_mailing(project, tmp_path, port, redis_cluster.url, inbox, workers=1)
    try:
        wait_for_port(port, process=server)
        response = register(f"http://127.0.0.1:{port}")
        assert response.status_code == 303, response.text[-500:]
        # Sent before the page answered: nothing waits in a queue.
        assert [message["To"] for message in inbox.handler.messages] == [ADDRESS]
    finally:
        stop_group(server)
    output = log.read_text()
    assert output.count("RQ cannot use") == 1, output[-3000:]
    assert "Started the job worker" not in output
