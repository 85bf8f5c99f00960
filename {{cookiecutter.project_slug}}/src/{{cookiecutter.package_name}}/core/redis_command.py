"""One Redis command on this thread's own connection: what requests send (sessions, limits).

redis-py's ``Redis.execute_command`` records metrics and runs response callbacks around
every command, and its pool takes a lock and polls the socket each time a connection is
lent; the session's GET and SET and the rate limits' counting need none of it. On one
server or a Sentinel master each thread keeps one connection of the client's pool for
these commands (a thread sends one command at a time) and sends on it with the client's
own retry policy (a dropped connection is retried as redis-py would); a cluster client
routes by key and keeps its own path.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import redis

# Set by core.tracing: OpenTelemetry's Redis instrumentation sees only what goes through
# execute_command, so the session's commands must go that way to appear in the traces.
through_execute_command = False


class ThreadConnections(threading.local):
    """Each thread's connection of one client's pool, kept from one command to the next."""

    connection: Any = None  # redis-py leaves Connection's methods untyped
    pid = 0  # the process that took it: a forked child takes its own


def run(client: Any, connections: ThreadConnections, *args: Any) -> Any:
    """Send one command and return Redis's raw answer (bytes, an int, or None)."""
    if through_execute_command or type(client) is not redis.Redis or client.connection is not None:
        return client.execute_command(*args)
    connection = connections.connection
    if connection is None or connections.pid != os.getpid():
        connection = connections.connection = client.connection_pool.make_connection()
        connections.pid = os.getpid()
    try:
        return connection.retry.call_with_retry(
            lambda: _send(connection, args), lambda error: connection.disconnect()
        )
    except BaseException:
        # A reply may still be on its way (a timeout, an interrupt): never read it as the
        # answer to the next command.
        connection.disconnect()
        raise


def _send(connection: Any, args: tuple[Any, ...]) -> Any:
    # As the pool does when it lends one: a Sentinel's connection asks for the master here.
    connection.connect()
    connection.send_command(*args)
    return connection.read_response()
