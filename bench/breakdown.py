"""Where a request's time goes, part by part, for every benchmark scenario: in-process, timed.

    python -m bench.breakdown --project /tmp/x/flask-starter-app --redis-url redis://...

`make bench` runs this in a child process (the baked app reads its settings from the
environment as it is imported). It prints every target's ratio as measured here, beside the
served one: a quieter view, with no server, socket or load generator sharing the machine.
For each target it misses it shows how much of the difference to the reference each part
of the request takes.

Each request goes through the whole WSGI stack, middleware included, as a WSGI callable:
no server and no socket, so what is timed is the app's own work and its Redis and
database round trips. Instead of a profiler, which slows every Python call and so
inflates the parts made of many small calls, a few functions are wrapped with a clock:
the hooks each extension registered, the session interface, Redis commands, template
rendering, ``url_for``, database queries, the view and each middleware layer. A part's
time excludes the timed parts it calls (a page's database query is not counted again in
its template). What no clock covers is Flask and Werkzeug themselves: the request
context, URL matching, request and response objects. Each clock adds about a
microsecond per call while on; the untimed totals are taken with the clocks off (a wrapped
call then costs one attribute test), in the same rounds.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import io
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.baked import (
    api_token_in_process,
    login_with_form,
    package_name,
    production_env,
    without_metrics,
)

FLASK = "Flask and Werkzeug (request context, routing, request and response objects)"
CSRF = "Flask-WTF's CSRF hook"
SESSION = "session interface (cookie, serialising, lifetimes)"
REDIS = "Redis round trips"
TEMPLATES = "Jinja rendering"
URL_FOR = "url_for"
DATABASE = "database (SQLAlchemy)"
VIEW = "view functions"
JSON = "JSON responses"
MIDDLEWARE = "WSGI middleware"
HOOKS = "the app's own hooks and context processors"

# What would take each part away (or why it stays), printed beside its time.
REMEDIES = {
    REDIS: (
        "One GET per session read, one SET per write: the round trip and redis-py's "
        "connection around it (hiredis changed nothing). Client-side caching with "
        "server-side invalidation (RESP3, Redis >= 7.4 or Valkey) would serve a read-only "
        "request with none."
    ),
    SESSION: (
        "Flask-Session's interface around the store (cookie, id checks, msgspec, expiry) and "
        "the CSRF secret's signed cookie, read and signed only where a form or check uses it."
    ),
    TEMPLATES: (
        "The page's templates (layout, navigation, forms): smaller pages, or caching "
        "whole anonymous pages, would cut it."
    ),
    URL_FOR: "URLs the views build (the templates' links are built once, then remembered).",
    DATABASE: (
        "Flask-SQLAlchemy's session, closed after every request, and on logged-in pages the "
        "current user's row: a per-session copy of the user would remove that read (see "
        "Other measurements)."
    ),
    VIEW: "The views' own code.",
    JSON: "Flask's JSON provider serialising the view's dict.",
    MIDDLEWARE: "The WSGI_MIDDLEWARE layers (request id, security headers).",
    HOOKS: "The host check and the templates' context processors (current user, URLs).",
    CSRF: "Flask-WTF's check; safe methods return at once.",
    FLASK: "The same work bare Flask does for any request: fixed while the app is a Flask app.",
}


# The servers of `make bench` this loads (all but the raw WSGI hello).
SERVERS = (
    "bare",
    "stock",
    "stock_norefresh",
    "floor",
    "ours",
    "ours_light",
    "ours_nomw",
    "ours_nometrics",
    "ours_headers",
)


class Clocks:
    """Exclusive time per part: a wrapped call's time minus that of the wrapped calls inside."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.inner: list[float] = []
        self.on = False  # off, a wrapped call costs one attribute test

    def wrap(self, part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.on:
                return function(*args, **kwargs)
            self.inner.append(0.0)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                self.totals[part] += elapsed - self.inner.pop()
                if self.inner:
                    self.inner[-1] += elapsed

        return timed

    def patch(self, part: str, owner: Any, name: str) -> None:
        setattr(owner, name, self.wrap(part, getattr(owner, name)))


def part_of_hook(hook: Any) -> str:
    """Which part a registered hook belongs to, by the library that registered it."""
    function = getattr(hook, "func", hook)  # a functools.partial's function, or the hook
    module = getattr(function, "__module__", None) or ""
    if module.startswith("flask_wtf"):
        return CSRF
    if module.startswith("flask_sqlalchemy"):
        return DATABASE
    return HOOKS


def time_hooks(clocks: Clocks, app: Any) -> None:
    """Wrap every hook the app and its extensions registered."""
    for registry in (
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
        app.template_context_processors,
    ):
        for scope, hooks in registry.items():
            registry[scope] = [clocks.wrap(part_of_hook(hook), hook) for hook in hooks]
    app.teardown_appcontext_funcs[:] = [
        clocks.wrap(part_of_hook(hook), hook) for hook in app.teardown_appcontext_funcs
    ]


def time_layers(clocks: Clocks, app: Any) -> None:
    """Wrap each middleware layer, and Flask's own ``wsgi_app`` inside them."""
    holder, name = app, "wsgi_app"
    while True:
        layer = getattr(holder, name)
        if getattr(layer, "__self__", None) is app:  # the bound Flask.wsgi_app: the core
            setattr(holder, name, clocks.wrap(FLASK, layer))
            return
        setattr(holder, name, clocks.wrap(MIDDLEWARE, layer))
        holder, name = layer, "wsgi_app" if hasattr(layer, "wsgi_app") else "app"


def time_app(clocks: Clocks, app: Any) -> None:
    """Wrap the parts of one app; the class-level ones (Redis, SQLAlchemy) once per process."""
    time_hooks(clocks, app)
    interface = app.session_interface
    for name in ("open_session", "save_session", "_fetch"):
        if hasattr(interface, name):
            clocks.patch(SESSION, interface, name)
    for endpoint, view in list(app.view_functions.items()):
        app.view_functions[endpoint] = clocks.wrap(VIEW, view)
    clocks.patch(JSON, app.json, "response")
    clocks.patch(URL_FOR, app, "url_for")
    time_layers(clocks, app)


def time_libraries(clocks: Clocks) -> None:
    """Redis commands, template rendering and database queries, for every app at once."""
    import flask.templating
    import redis

    clocks.patch(REDIS, redis.Redis, "execute_command")
    clocks.patch(REDIS, redis.client.Pipeline, "execute")
    # render_template and render_template_string both end here (a measurement, not app code).
    clocks.patch(TEMPLATES, flask.templating, "_render")
    try:
        from sqlalchemy.orm import Session
    except ImportError:
        return
    for name in ("execute", "get", "scalar", "scalars"):
        clocks.patch(DATABASE, Session, name)


def wsgi_request(app: Any, method: str, path: str, headers: dict[str, str]) -> Callable[[], None]:
    """A function sending one request through the app's whole WSGI stack; it checks a 200."""
    from werkzeug.test import EnvironBuilder

    body = b"{}" if method == "POST" else b""
    builder = EnvironBuilder(
        path=path,
        method=method,
        headers=headers,
        base_url="http://127.0.0.1",
        data=body,
        content_type="application/json" if body else None,
    )
    template = builder.get_environ()

    def call() -> None:
        status: list[str] = []

        def start_response(s: str, h: Any, exc_info: Any = None) -> Any:
            status.append(s)
            return lambda data: None

        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO(body)
        b"".join(app(environ, start_response))
        if not status[0].startswith("200"):
            raise RuntimeError(f"{method} {path} answered {status[0]}")

    return call


def cookie_of(client: Any, name: str) -> str:
    cookie = client.get_cookie(name, domain="127.0.0.1")
    assert cookie is not None, f"no {name} cookie was set"
    return f"{name}={cookie.value}"


def scenario_headers(app: Any, kind: str | None) -> dict[str, str]:
    """What a scenario's requests carry, made in-process: a session (a counter, a real login)
    or an API token made on the tokens page, or nothing.

    ``counter`` is POST /api/counter (ours and the floor), ``stock`` POST /rw (stock).
    """
    if kind is None:
        return {}
    client = app.test_client()
    if kind == "token":
        return {"Authorization": f"Bearer {api_token_in_process(client)}"}
    if kind == "counter":
        client.post("/api/counter", json={}, base_url="https://127.0.0.1")
    elif kind == "stock":
        client.post("/rw", json={}, base_url="http://127.0.0.1")
    else:
        login_with_form(client)
    return {"Cookie": cookie_of(client, app.config["SESSION_COOKIE_NAME"])}


ROUNDS = 9
# The untimed pass runs in batches of this many requests: the fastest batch of a round is the
# one the rest of a busy machine disturbed least.
BATCH = 10


def interleaved(
    calls: dict[str, Callable[[], None]], clocks: Clocks, requests: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[dict[str, float]]]]:
    """Per scenario and round: µs per request with the clocks off (mean, and fastest batch),
    then each part's µs with them on.

    Scenarios take turns within a round, and each is timed both ways back to back, so
    whatever else the machine does falls on all of them and on both passes alike.
    """
    totals: dict[str, list[float]] = {key: [] for key in calls}
    best: dict[str, list[float]] = {key: [] for key in calls}
    parts: dict[str, list[dict[str, float]]] = {key: [] for key in calls}
    batches = max(1, requests // BATCH)
    for _ in range(ROUNDS):
        for key, call in calls.items():
            clocks.on = False
            for _ in range(requests // 10):  # warm: a steady state after the other scenario
                call()
            times = []
            for _ in range(batches):
                started = time.perf_counter()
                for _ in range(BATCH):
                    call()
                times.append((time.perf_counter() - started) / BATCH * 1e6)
            totals[key].append(statistics.fmean(times))
            best[key].append(min(times))
            clocks.on = True
            clocks.totals.clear()
            for _ in range(requests):
                call()
            clocks.on = False
            parts[key].append({part: sec / requests * 1e6 for part, sec in clocks.totals.items()})
    return totals, best, parts


def median_parts(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each part's median over the rounds (a part missing from a round counts as 0)."""
    names = {name for parts in rounds for name in parts}
    return {name: statistics.median(parts.get(name, 0.0) for parts in rounds) for name in names}


def compile_templates(app: Any) -> dict[str, float]:
    """How long a fresh Jinja environment takes to compile every template the app has.

    A worker does this once per template, on first use; Jinja keeps the compiled code in
    memory after that, so a bytecode cache could only shorten the first requests.
    """
    environment = app.jinja_env.overlay(cache_size=0)  # its filters and loader, no cache
    names = [name for name in environment.list_templates() if name.endswith((".html", ".txt"))]
    started = time.perf_counter()
    for name in names:
        environment.get_template(name)
    return {"count": len(names), "ms": (time.perf_counter() - started) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", type=Path, required=True, help="the baked project")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument(
        "--scenarios", required=True, help="JSON: key -> [server, method, path, credential]"
    )
    parser.add_argument("--requests", type=int, default=2500, help="per scenario, all rounds")
    parser.add_argument("--out", type=Path, required=True, help="where the JSON result goes")
    args = parser.parse_args()
    project = args.project
    os.environ.update(production_env(project, args.redis_url))
    os.environ["REDIS_URL"] = args.redis_url
    sys.path[:0] = [str(project), str(project / "src"), str(Path(__file__).resolve().parents[1])]
    os.chdir(project)
    from wsgi import app as ours  # type: ignore[import-not-found]

    from bench import apps

    package = package_name(project)
    create_app = importlib.import_module(package).create_app
    servers = {
        "bare": apps.bare_app,
        "stock": apps.stock_app,
        "stock_norefresh": apps.stock_norefresh_app,
        "floor": apps.floor_app(package),
        "ours": ours,
        "ours_light": ours,  # served apart only so its load history matches the references'
        # What FLASK_WSGI_MIDDLEWARE=[] makes of the served app.
        "ours_nomw": create_app("production", {"WSGI_MIDDLEWARE": []}),
        "ours_nometrics": create_app("production", {"WSGI_MIDDLEWARE": without_metrics(package)}),
        "ours_headers": apps.headers_floor_app(package),
    }
    scenarios = json.loads(args.scenarios)
    # Sessions are made before any clock is on, with the apps as they are served.
    calls = {}
    for key, (server, method, path, kind) in scenarios.items():
        app = servers[server]
        calls[key] = wsgi_request(app, method, path, scenario_headers(app, kind))
    clocks = Clocks()
    time_libraries(clocks)
    try:  # the session store's own path to Redis (one command on a pooled connection)
        command = importlib.import_module(f"{package}.core.redis_command")
    except ImportError:
        pass
    else:
        clocks.patch(REDIS, command, "run")
    for server in {server for server, *_ in scenarios.values()}:
        time_app(clocks, servers[server])
    totals, best, parts = interleaved(calls, clocks, max(1, args.requests // ROUNDS))
    result: dict[str, Any] = {
        key: {
            "total_us": statistics.median(totals[key]),
            "best_us": best[key],
            "parts_us": median_parts(parts[key]),
        }
        for key in calls
    }
    result["templates"] = compile_templates(ours)
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
