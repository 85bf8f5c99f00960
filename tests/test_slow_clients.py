"""Slow clients meet nginx, never gunicorn: the baked deploy/nginx.conf in front of the app.

A client that sends its headers one line at a time holds a gunicorn thread for as long as it
likes; two dozen of them hold every thread of a small server. nginx waits for them itself,
passes on only complete requests, and cuts them off after its client_header_timeout.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from pathlib import Path

import requests
from conftest import bake, free_port, require, serve, stop_group

from tools.baking import PRODUCTION_ENV
from tools.servers import HOST, start_nginx, start_redis_server

SLOW_CLIENTS = 25
LINE_EVERY = 3  # seconds between two header lines of a slow client
HEALTH_CHECKS = 10  # half a second apart, while the slow clients wait


def nginx_site(project: Path, directory: Path, app_port: int) -> tuple[Path, int]:
    """The baked deploy/nginx.conf on a free port in front of one app: only addresses and
    paths change."""
    text = (project / "deploy" / "nginx.conf").read_text()
    port = free_port()
    replacements = {
        "server web:8000 ": f"server {HOST}:{app_port} ",
        "listen 80;": f"listen {HOST}:{port};",
        "/var/log/nginx/access.log": str(directory / "access.log"),
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    site = directory / "site.conf"
    site.write_text(text)
    return site, port


def header_timeout(site: Path) -> int:
    """nginx's client_header_timeout in the site, in seconds."""
    found = re.search(r"(?m)^client_header_timeout (\d+)s;", site.read_text())
    assert found, "deploy/nginx.conf sets no client_header_timeout"
    return int(found.group(1))


def cut_off(sock: socket.socket) -> bool:
    """Whether the server has ended this unfinished request (closed, reset or answered)."""
    try:
        sock.recv(1)
    except BlockingIOError:
        return False  # still waiting for the rest of the request
    except OSError:
        pass
    return True


def drip_headers(port: int, seconds: float, cut: list[float], stop: threading.Event) -> None:
    """Open SLOW_CLIENTS connections and send each one header line every LINE_EVERY seconds
    for ``seconds``, never finishing; note when the server cut each one off."""
    started = time.monotonic()
    sockets: list[socket.socket] = []
    waiting = []
    try:
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection((HOST, port), timeout=5)
            sockets.append(sock)
            sock.sendall(f"GET /about HTTP/1.1\r\nHost: {HOST}\r\n".encode())
            sock.setblocking(False)  # a line fits in the buffer; cut_off() must not wait
            waiting.append(sock)
        line = 0
        while waiting and not stop.wait(LINE_EVERY) and time.monotonic() - started < seconds:
            line += 1
            for sock in list(waiting):
                if cut_off(sock):
                    cut.append(time.monotonic() - started)
                    waiting.remove(sock)
                    continue
                with contextlib.suppress(OSError):  # cut between the check and the send
                    sock.sendall(f"X-Line-{line}: slow\r\n".encode())
    finally:
        for sock in sockets:
            sock.close()


def test_slow_clients_wait_in_nginx_and_health_checks_still_answer(tmp_path):
    """25 clients dribbling headers through nginx: /healthz answers under 1 s every time."""
    require("redis-server", "nginx")
    project = bake(tmp_path)
    redis_process, redis_port = start_redis_server()
    server = None
    try:
        app_port = free_port()
        env = PRODUCTION_ENV | {
            "REDIS_URL": f"redis://{HOST}:{redis_port}/0",
            "FLASK_PROXY_FIX": '{"x_for": 1, "x_proto": 1}',
        }
        with (tmp_path / "server.log").open("w") as log:
            server = serve(
                project,
                app_port,
                env,
                "-c",
                "gunicorn.conf.py",
                "--workers",
                "2",
                output=log,
                timeout=60,
            )
        site, port = nginx_site(project, tmp_path, app_port)
        # Long enough for nginx to cut every slow client off, and one more line to notice.
        run_for = header_timeout(site) + LINE_EVERY
        with start_nginx(site):
            front = f"http://{HOST}:{port}"
            assert requests.get(front + "/healthz", timeout=5).status_code == 200
            cut: list[float] = []
            stop = threading.Event()
            dripping = threading.Thread(target=drip_headers, args=(port, run_for, cut, stop))
            dripping.start()
            health = []
            try:
                time.sleep(1)  # every slow client connected and waiting
                for _ in range(HEALTH_CHECKS):
                    started = time.monotonic()
                    try:
                        status = requests.get(front + "/healthz", timeout=2).status_code
                    except requests.RequestException:
                        status = 0
                    health.append((status, time.monotonic() - started))
                    time.sleep(0.5)
                dripping.join(timeout=run_for + 10)
            finally:
                stop.set()
                dripping.join()

        assert [status for status, _ in health] == [200] * HEALTH_CHECKS, health
        slowest = max(seconds for _, seconds in health)
        assert slowest < 1, f"/healthz took {slowest:.2f} s"
        assert len(cut) == SLOW_CLIENTS, f"nginx cut off {len(cut)} of {SLOW_CLIENTS}"
        print(
            f"\nslow clients: /healthz through nginx slowest {slowest * 1000:.0f} ms over "
            f"{HEALTH_CHECKS} checks; all {SLOW_CLIENTS} slow clients cut off within "
            f"{max(cut):.0f} s"
        )
    finally:
        if server is not None:
            stop_group(server)
        stop_group(redis_process)
