"""One Redis command on a pooled connection: what the session store sends on most requests.

redis-py's ``Redis.execute_command`` records metrics and runs response callbacks around
every command; the session's GET and SET need neither. On one server or a Sentinel master
this sends the command on a connection from the client's own pool, with the client's own
retry policy (a dropped connection is retried as redis-py would); a cluster client routes
by key and keeps its own path.
"""

from __future__ import annotations

from typing import Any

import redis

# Set by core.tracing: OpenTelemetry's Redis instrumentation sees only what goes through
# execute_command, so the session's commands must go that way to appear in the traces.
through_execute_command = False


def run(client: Any, *args: Any) -> Any:
    """Send one command and return Redis's raw answer (bytes, an int, or None)."""
    if through_execute_command or type(client) is not redis.Redis or client.connection is not None:
        return client.execute_command(*args)
    pool = client.connection_pool
    connection: Any = pool.get_connection()  # redis-py leaves Connection's methods untyped
    try:
        return connection.retry.call_with_retry(
            lambda: _send(connection, args), lambda error: connection.disconnect()
        )
    finally:
        pool.release(connection)


def _send(connection: Any, args: tuple[Any, ...]) -> Any:
    connection.send_command(*args)
    return connection.read_response()
