"""Account mail through background jobs: a real RQ worker (``flask jobs worker`` in a process
of its own), real SMTP servers that are slow, refuse or are missing, and the test's Redis.

The other account tests run jobs inline (TestingConfig), reading mail as the request ends;
here the app queues, as in production, and the worker sends.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from flask import Blueprint, Flask
from prometheus_client import REGISTRY
from rq import Queue
from rq.registry import FailedJobRegistry
from rq.scheduler import RQScheduler

from conftest import PASSWORD, Mailbox
from {{ cookiecutter.package_name }}.auth.smtp import send
from {{ cookiecutter.package_name }}.core.dev_redis import free_port
from {{ cookiecutter.package_name }}.jobs import runs_inline
from {{ cookiecutter.package_name }}.jobs.worker import AppWorker

PROJECT = Path(__file__).resolve().parent.parent
# The retries' waits in these tests: one second each, so a test sees several tries.
RETRY_INTERVALS = [1, 1, 1, 1, 1]
NEW_ACCOUNT = {"username": "alice", "email": "alice@example.com"}


class SlowMailbox(Mailbox):
    """A mail server that takes its time over each message, as a struggling relay does."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def mail_server() -> Iterator[Callable[..., Controller]]:
    """Start SMTP servers (a Mailbox, on a given port or a free one); all stopped afterwards."""
    started: list[Controller] = []

    def start(handler: Mailbox | None = None, port: int | None = None) -> Controller:
        controller = Controller(
            handler or Mailbox(), hostname="127.0.0.1", port=port or free_port()
        )
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def queue_name() -> str:
    """A queue of this test's own, so a shared Redis never mixes two tests' jobs."""
    return f"test-{uuid.uuid4().hex[:8]}-jobs"


@pytest.fixture
def make_queued_app(make_auth_app, queue_name: str) -> Callable[..., Flask]:
    """Apps that queue their jobs, as production does, on this test's queue."""

    def make(**overrides: object) -> Flask:
        settings = {
            "JOBS_RUN_INLINE": False,
            "JOBS_QUEUE": queue_name,
            "JOBS_RETRY_INTERVALS": RETRY_INTERVALS,
        }
        return make_auth_app("testing", **(settings | overrides))

    return make


class Worker:
    """A ``flask jobs worker`` process and the JSON lines it logged."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def lines(self) -> list[dict[str, object]]:
        """Its log lines that are JSON objects (RQ's and the app's alike)."""
        records = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        return records

    def events(self, event: str) -> list[dict[str, object]]:
        """Its log records of one event (job_retry, job_failed)."""
        return [record for record in self.lines() if record.get("event") == event]


@pytest.fixture
def start_worker(
    redis_url: str, queue_name: str, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    """Start ``flask jobs worker`` on the test's Redis and queue; keywords are its settings
    (environment variables). Stopped (SIGTERM, as a deployment stops it) afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**settings: str) -> Worker:
        log = tmp_path / f"worker-{len(started)}.log"
        env = os.environ | {
            "PYTHONPATH": str(PROJECT / "src"),
            "FLASK_SKIP_DOTENV": "1",
            "FLASK_CONFIG": "testing",
            "FLASK_JOBS_RUN_INLINE": "false",
            "FLASK_JOBS_QUEUE": queue_name,
            "FLASK_JOBS_RETRY_INTERVALS": json.dumps(RETRY_INTERVALS),
            "FLASK_LOG_FORMAT": "json",
            "REDIS_URL": redis_url,
            "INSTANCE_PATH": str(tmp_path / "worker-instance"),
        }
        command = [sys.executable, "-m", "flask", "--app", "{{ cookiecutter.package_name }}"]
        with log.open("wb") as output:
            process = subprocess.Popen(
                [*command, "jobs", "worker"],
                cwd=PROJECT,
                env=env | settings,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return Worker(process, log)

    yield start
    slow = []
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            slow.append(process.pid)
    assert not slow, "a worker did not stop within 10 s of SIGTERM"


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll until ``condition()`` is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout} s")
        time.sleep(0.1)


def register(app: Flask, actions, request_id: str | None = None):
    """Post the register form once, as a browser would; the response and its duration."""
    auth = actions(app.test_client())
    data = {**NEW_ACCOUNT, "password": PASSWORD, "confirm": PASSWORD}
    headers = {"X-Request-ID": request_id} if request_id else {}
    started = time.monotonic()
    response = auth.post("/auth/register", data, headers=headers)
    return response, time.monotonic() - started


@pytest.fixture
def actions(mailbox):
    """AuthActions for any client (the form filling of conftest's ``auth``)."""
    from conftest import AuthActions

    return lambda client: AuthActions(client, mailbox)


def enqueued(job: str) -> float:
    """The jobs_enqueued counter of this process for one job name."""
    return REGISTRY.get_sample_value("jobs_enqueued_total", {"job": job}) or 0.0


def test_registering_answers_at_once_while_a_slow_mail_server_takes_5_seconds(
    make_queued_app, start_worker, mail_server, actions
):
    slow = mail_server(SlowMailbox(delay=5))
    worker = start_worker(MAIL_PORT=str(slow.port))
    app = make_queued_app()
    before = enqueued("send_now")

    response, seconds = register(app, actions)

    assert response.status_code == 303, response.get_data(as_text=True)[-500:]
    assert seconds < 1, f"registering took {seconds:.2f} s: the mail was sent in the request"
    assert enqueued("send_now") == before + 1
    wait_for(lambda: slow.handler.to(NEW_ACCOUNT["email"]), 20, "verification mail")
    mail = slow.handler.last(NEW_ACCOUNT["email"])
    assert "/auth/verify/" in Mailbox.text(mail)
    worker.process.terminate()  # as a deployment stops it: at once, and with status 0
    assert worker.process.wait(timeout=5) == 0


def test_without_a_mail_server_the_worker_prints_the_queued_mail(
    make_queued_app, start_worker, actions
):
    worker = start_worker(MAIL_SERVER="")
    app = make_queued_app(MAIL_SERVER=None)

    response, _ = register(app, actions)
    assert response.status_code == 303
    wait_for(lambda: worker.events("mail_printed"), 20, "mail printed by the worker")
    printed = worker.events("mail_printed")[0]["message"]
    assert f"To: {NEW_ACCOUNT['email']}" in printed
    # The whole link, its token too: the developer opens it.
    assert re.search(r"/auth/verify/[\w-]+\.[\w-]+\.[\w-]+", printed)


def test_a_refusing_mail_server_gets_the_mail_once_it_is_back(
    make_queued_app, start_worker, mail_server, actions
):
    port = free_port()  # nothing listens there yet: every connection is refused
    worker = start_worker(MAIL_PORT=str(port))
    app = make_queued_app()

    response, _ = register(app, actions)
    assert response.status_code == 303
    wait_for(lambda: worker.events("job_retry"), 20, "failed first try")

    back = mail_server(port=port)
    wait_for(lambda: back.handler.to(NEW_ACCOUNT["email"]), 20, "mail after the retry")
    time.sleep(1.5)  # a retry more would have sent it twice by now
    assert len(back.handler.to(NEW_ACCOUNT["email"])) == 1
    assert not worker.events("job_failed")


def test_after_a_redis_outage_the_retries_are_put_back_again(
    private_redis, make_queued_app, start_worker, mail_server, actions
):
    """RQ's scheduler (which puts a retry that is due back on the queue) dies with the
    connection: the worker starts it again once Redis is back, not minutes later."""
    server, _ = private_redis  # first: stopped after the worker
    port = free_port()
    worker = start_worker(MAIL_PORT=str(port), REDIS_URL=server.url)
    scheduler_started = "Scheduler for"
    wait_for(lambda: scheduler_started in worker.log.read_text(), 20, "scheduler")
    server.stop()
    wait_for(lambda: "raised an exception" in worker.log.read_text(), 20, "scheduler's end")
    server.start()
    wait_for(lambda: worker.log.read_text().count(scheduler_started) == 2, 20, "new scheduler")

    app = make_queued_app(REDIS_URL=server.url)
    assert register(app, actions)[0].status_code == 303
    wait_for(lambda: worker.events("job_retry"), 20, "failed first try")
    back = mail_server(port=port)
    wait_for(lambda: back.handler.to(NEW_ACCOUNT["email"]), 20, "mail after the retry")


def test_a_dead_scheduler_another_workers_replaced_is_left_to_rqs_next_maintenance(
    make_queued_app, redis_url, queue_name
):
    """After an outage the scheduler that takes the lock may be another worker's: this one
    then stops trying to start its own before every job."""
    connection = redis.Redis.from_url(redis_url)
    queue = Queue(queue_name, connection=connection)
    others = RQScheduler([queue], connection=connection)
    others.acquire_locks()
    assert others.acquired_locks
    worker = AppWorker(make_queued_app(), [queue], connection=connection)
    worker.scheduler = RQScheduler([queue], connection=connection)
    ended = multiprocessing.Process(target=int)
    ended.start()
    ended.join()
    worker.scheduler._process = ended  # as RQ leaves the process of a scheduler that died
    worker.last_cleaned_at = datetime.now(UTC)
    try:
        assert worker.should_run_maintenance_tasks
        worker.run_maintenance_tasks()  # cannot take the lock: the other scheduler holds it
        assert not worker.should_run_maintenance_tasks
    finally:
        others.release_locks()
        connection.close()


def test_a_job_failing_every_try_stays_failed_and_is_logged_with_its_request_id(
    make_queued_app, start_worker, actions, queue_name, redis_conn
):
    worker = start_worker(MAIL_PORT=str(free_port()), FLASK_JOBS_RETRY_INTERVALS="[1, 1]")
    app = make_queued_app(JOBS_RETRY_INTERVALS=[1, 1])
    request_id = f"req-{uuid.uuid4().hex}"

    response, _ = register(app, actions, request_id)
    assert response.status_code == 303

    wait_for(lambda: worker.events("job_failed"), 30, "job failed on its last try")
    (failed,) = worker.events("job_failed")
    assert failed["level"] == "ERROR"
    assert failed["request_id"] == request_id
    assert failed["job"] == "send_now"
    assert "last try" in str(failed["message"])
    retries = worker.events("job_retry")
    assert len(retries) == 2  # three tries in all: the first and two retries
    assert {record["request_id"] for record in retries} == {request_id}
    # The mail server's refusal, logged by the job itself, under the same request id.
    refused = [record for record in worker.lines() if record.get("event") == "mail_failed"]
    assert len(refused) == 3
    assert {record["request_id"] for record in refused} == {request_id}
    # No line carries the mail, whose link works for whoever reads it.
    assert "Please confirm" not in worker.log.read_text()
    # It stays in RQ's failed jobs, for `rq requeue` once the server is fixed.
    registry = FailedJobRegistry(queue_name, connection=redis_conn)
    assert registry.get_job_ids() == [failed["job_id"]]


def test_a_failed_job_requeued_with_rqs_command_sends_its_mail(
    make_queued_app, start_worker, mail_server, actions, queue_name, redis_conn, redis_url
):
    port = free_port()
    worker = start_worker(MAIL_PORT=str(port), FLASK_JOBS_RETRY_INTERVALS="[]")
    app = make_queued_app(JOBS_RETRY_INTERVALS=[])
    register(app, actions)
    wait_for(lambda: worker.events("job_failed"), 20, "failed job")

    back = mail_server(port=port)
    rq = Path(sys.executable).parent / "rq"
    command = [rq, "requeue", "--all", "--queue", queue_name, "--url", redis_url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    wait_for(lambda: back.handler.to(NEW_ACCOUNT["email"]), 20, "requeued mail")
    assert FailedJobRegistry(queue_name, connection=redis_conn).count == 0


def test_queueing_with_redis_down_is_the_503_page_and_no_mail_is_reported_sent(
    make_queued_app, private_redis, queue_name, mailbox
):
    server, admin = private_redis
    app = make_queued_app(REDIS_URL=server.url)
    probe = Blueprint("mail_probe", __name__)

    @probe.get("/api/send-test-mail")
    def send_test_mail() -> str:
        send("bob@example.com", "Hello", "Hello Bob")
        return "queued"

    app.register_blueprint(probe)
    client = app.test_client()

    assert client.get("/api/send-test-mail").get_data(as_text=True) == "queued"
    assert Queue(queue_name, connection=admin).count == 1  # in Redis, for a worker

    server.stop()
    response = client.get("/api/send-test-mail")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert not mailbox.to("bob@example.com")  # nothing was sent behind the page's back


def test_development_and_testing_send_within_the_request(make_auth_app, actions, mailbox):
    """No worker needed for `make run` or the other tests: the mail is there at once."""
    assert make_auth_app("development").config["JOBS_RUN_INLINE"] is True
    response, _ = register(make_auth_app(), actions)
    assert response.status_code == 303
    assert mailbox.to(NEW_ACCOUNT["email"])


def test_production_queues(make_auth_app):
    app = make_auth_app("production", SECRET_KEY=secrets.token_urlsafe(32))
    assert app.config["JOBS_RUN_INLINE"] is False
    assert app.config["JOBS_EMBEDDED_WORKER"] is True
    assert not runs_inline(app.config)


def test_on_a_redis_cluster_mail_is_sent_in_the_request_and_the_worker_says_why(make_auth_app):
    app = make_auth_app(REDIS_URL="redis+cluster://127.0.0.1:7000", JOBS_RUN_INLINE=False)
    assert runs_inline(app.config)
    result = app.test_cli_runner().invoke(args=["jobs", "worker"])
    assert result.exit_code == 1
    assert "Redis Cluster" in result.output
    assert "sent within the request" in result.output


def test_the_worker_refuses_to_start_where_jobs_run_inline(runner):
    result = runner.invoke(args=["jobs", "worker"])
    assert result.exit_code == 1
    assert "no worker is needed" in result.output


def test_the_worker_uses_the_sentinels_master(
    make_queued_app, start_worker, mail_server, actions, private_redis, tmp_path
):
    """With REDIS_SENTINELS, the app queues on the master the sentinels name, and so does
    the worker (and its scheduler, which puts retries back)."""
    server, _ = private_redis
    sentinel_port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndaemonize no\n"
        f"sentinel monitor mymaster 127.0.0.1 {server.port} 1\n"
    )
    sentinel = subprocess.Popen(
        [server.executable, str(config), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        probe = redis.Redis(port=sentinel_port, socket_timeout=1)
        wait_for(lambda: _answers(probe), 10, "sentinel")
        probe.close()
        port = free_port()
        sentinels = f"127.0.0.1:{sentinel_port}"
        worker = start_worker(MAIL_PORT=str(port), REDIS_SENTINELS=sentinels, REDIS_URL="")
        app = make_queued_app(REDIS_SENTINELS=sentinels)
        response, _ = register(app, actions)
        assert response.status_code == 303
        wait_for(lambda: worker.events("job_retry"), 20, "failed first try")
        back = mail_server(port=port)
        wait_for(lambda: back.handler.to(NEW_ACCOUNT["email"]), 20, "mail via the sentinels")
    finally:
        sentinel.terminate()
        sentinel.wait(timeout=10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


def test_the_keeper_starts_a_dead_worker_again_and_stops_it_on_sigterm(tmp_path):
    """gunicorn.conf.py's worker runs under jobs.keeper: here its command is a stand-in
    that notes each start and lives a moment."""
    starts = tmp_path / "starts"
    stand_in = f"open({str(starts)!r}, 'a').write('x'); import time; time.sleep(0.5)"
    keeper = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}.jobs.keeper",
            "--",
            sys.executable,
            "-c",
            stand_in,
        ],
        env=os.environ | {"PYTHONPATH": str(PROJECT / "src")},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: starts.exists() and len(starts.read_text()) >= 2, 30, "a restart")
    finally:
        keeper.terminate()
        _, log = keeper.communicate(timeout=30)
    assert keeper.returncode == 0
    assert "exited with 0; starting another in" in log
    assert log.count("Started the job worker") == len(starts.read_text())
