"""WSGI middleware slots: the ``WSGI_MIDDLEWARE`` list wraps ``app.wsgi_app`` in order.

The first entry is the outermost layer: it sees the request first and the response last.
An entry is the import path of a class taking ``(wsgi_app)``; a class that also needs
settings may define ``from_config(wsgi_app, config)`` instead. Add your own by writing
a class like ``ServerTiming`` below and naming it in the list.
"""

from __future__ import annotations

import ipaddress
import random
import re
import time
from collections.abc import Iterable, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.utils import ImportStringError, import_string

from ..exceptions import ConfigurationError
from . import metrics
from .metrics import ROUND_TRIPS

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# Accept ids from upstream proxies only if they are short and harmless in logs.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Pages use only same-origin scripts and styles; this forbids everything else.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Browser features the pages never use, switched off for them and for anything they embed.
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), "
    "gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), usb=()"
)


def new_request_id() -> str:
    """32 random hex digits. random, not secrets: an id must not repeat, not be unguessable,
    and random is reseeded in every forked worker without a system call per request."""
    return random.randbytes(16).hex()  # noqa: S311  # nosec B311  # an id, not a secret


class RequestID:
    """Give every request an id: a sane incoming ``X-Request-ID``, else a new one.

    The id is echoed in the response and replaces the request header, which is where the
    log formatter reads it.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Tag the request, then the response."""
        incoming = environ.get("HTTP_X_REQUEST_ID")
        if incoming and SAFE_REQUEST_ID.fullmatch(incoming):
            request_id = incoming
        else:
            request_id = environ["HTTP_X_REQUEST_ID"] = new_request_id()
        ours = ("X-Request-ID", request_id)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # Ours replaces one the app may have set: one id per response. The length
            # test spares lower() on every other header name (half this layer's time).
            for name, _ in headers:
                if len(name) == 12 and name.lower() == "x-request-id":
                    headers = [kept for kept in headers if kept[0].lower() != "x-request-id"]
                    break
            return start_response(status, [*headers, ours], exc_info)

        return self.wsgi_app(environ, start)


class SecurityHeaders:
    """Browser hardening headers on every response; a view's own value wins."""

    def __init__(self, wsgi_app: WSGIApplication, hsts_seconds: int = 0) -> None:
        self.wsgi_app = wsgi_app
        self.headers = [
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "strict-origin-when-cross-origin"),
            ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
            # Pages opened from ours (or opening ours) get no handle on our window.
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Permissions-Policy", PERMISSIONS_POLICY),
        ]
        if hsts_seconds:
            self.headers.append(
                ("Strict-Transport-Security", f"max-age={hsts_seconds}; includeSubDomains")
            )
        self.names = frozenset(name.lower() for name, _ in self.headers)
        # Most names a response carries are of other lengths: no lower() needed for them.
        self.lengths = frozenset(len(name) for name in self.names)

    @classmethod
    def from_config(cls, wsgi_app: WSGIApplication, config: Mapping[str, Any]) -> SecurityHeaders:
        """HSTS only where configured (production), since it pins browsers to HTTPS."""
        return cls(wsgi_app, hsts_seconds=int(config.get("HSTS_SECONDS", 0)))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Add the headers the response does not set itself."""

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            for key, _ in headers:
                if len(key) in self.lengths and key.lower() in self.names:
                    break  # the view set one of ours itself
            else:
                return start_response(status, headers + self.headers, exc_info)
            present = {key.lower() for key, _ in headers}
            extra = [header for header in self.headers if header[0].lower() not in present]
            return start_response(status, headers + extra, exc_info)

        return self.wsgi_app(environ, start)


class TrustedProxies(ProxyFix):
    """werkzeug's ProxyFix, trusting exactly the hops configured in ``PROXY_FIX``."""

    @classmethod
    def from_config(cls, wsgi_app: WSGIApplication, config: Mapping[str, Any]) -> WSGIApplication:
        """A header left out, or all counts 0 (the default), means it is not believed."""
        counts = dict.fromkeys(("x_for", "x_proto", "x_host", "x_port", "x_prefix"), 0)
        counts.update(config.get("PROXY_FIX", {}))
        if not any(counts.values()):
            return wsgi_app  # trusting no header, ProxyFix would only cost time
        return cls(wsgi_app, **counts)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
METRICS_PATH = "/metrics"
# What the scrapes themselves are counted under.
SCRAPE_ENDPOINT = "metrics"
# A request whose response never started (Flask answers every error itself, so rarely).
UNANSWERED = ("500", metrics.NO_ENDPOINT)


def parse_allow(key: str, value: object) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.0.2.7"`` (or a list of them) -> networks; a bad entry stops start-up."""
    entries = value.split(",") if isinstance(value, str) else value
    if not isinstance(entries, list | tuple):
        raise ConfigurationError(f"{key} ({value!r}) must be a list of addresses or networks.")
    networks = []
    for entry in entries:
        if not str(entry).strip():
            continue  # "" allows no one
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            problem = f"{key} entry {entry!r} is not an address or network."
            raise ConfigurationError(problem) from None
    return tuple(networks)


class Metrics:
    """Record each request's endpoint, method, status and latency; serve /metrics.

    Listed below TrustedProxies, so METRICS_ALLOW is checked against the client's address as
    PROXY_FIX determines it; anyone else asking for /metrics is passed on to the app and
    gets its usual 404. A scrape is answered here, before Flask: a scraper may name the
    server by its address (not a TRUSTED_HOSTS name), and nothing of Flask's runs for it.
    """

    def __init__(self, wsgi_app: WSGIApplication, allow: tuple[Network, ...]) -> None:
        self.wsgi_app = wsgi_app
        self.allow = allow
        self.recorder = metrics.RECORDER
        self.note = metrics.RECORDER.queue.append

    @classmethod
    def from_config(cls, wsgi_app: WSGIApplication, config: Mapping[str, Any]) -> Metrics:
        """Read METRICS_ALLOW."""
        return cls(wsgi_app, parse_allow("METRICS_ALLOW", config["METRICS_ALLOW"]))

    def allowed_scrape(self, environ: WSGIEnvironment) -> bool:
        """Whether this request is a scrape by a client allowed to read the metrics."""
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return False
        try:
            address = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
        except ValueError:
            return False  # a Unix socket, or no address: not one we were told to trust
        return any(address in network for network in self.allow)

    def scrape(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The metrics in Prometheus's text format."""
        started = perf_counter()
        body, content_type = metrics.exposition()
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        start_response("200 OK", [*headers, ("Cache-Control", "no-store")])
        method = environ["REQUEST_METHOD"]
        self.note((perf_counter() - started, method, "200", SCRAPE_ENDPOINT, 0))
        return [b""] if method == "HEAD" else [body]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Time the app up to the start of its response, then queue the request's numbers."""
        if environ.get("PATH_INFO") == METRICS_PATH and self.allowed_scrape(environ):
            return self.scrape(environ, start_response)
        if self.recorder.flusher is None:
            self.recorder.start_flusher()
        started = perf_counter()
        answer = UNANSWERED

        def start(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal answer
            # Flask's request is in the environ only until the app returns.
            rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
            answer = line, metrics.NO_ENDPOINT if rule is None else rule.endpoint
            return start_response(line, headers, exc_info)

        # Flask answers every error itself (a 500 page), so no try/finally: it costs.
        body = self.wsgi_app(environ, start)
        # Strings and numbers only: while a second's requests wait for the flush, the
        # garbage collector stops looking at such tuples (a list or a rule in them would be
        # traversed by every collection, and cost more than the recording itself).
        line, endpoint = answer
        seconds = perf_counter() - started
        method = environ["REQUEST_METHOD"]
        self.note((seconds, method, line, endpoint, environ.get(ROUND_TRIPS, 0)))
        return body


class ServerTiming:
    """An example of a plain middleware: work before and after the wrapped app.

    Adds ``Server-Timing: app;dur=<ms>`` so browser dev tools show the time spent in the
    app. Enable it by adding "{{ cookiecutter.package_name }}.core.middleware.ServerTiming"
    to WSGI_MIDDLEWARE.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Time the app up to the moment it starts its response."""
        started = time.perf_counter()  # before: the request has not reached Flask yet

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            elapsed_ms = (time.perf_counter() - started) * 1000  # after: Flask has answered
            return start_response(
                status, [*headers, ("Server-Timing", f"app;dur={elapsed_ms:.1f}")], exc_info
            )

        return self.wsgi_app(environ, start)


def load_entry(path: str) -> Any:
    """Import one WSGI_MIDDLEWARE entry, or fail start-up naming it."""
    try:
        return import_string(path)
    except ImportStringError as exc:
        raise ConfigurationError(
            f"WSGI_MIDDLEWARE entry {path!r} cannot be imported: {exc.exception}"
        ) from exc


def wrap(wsgi_app: WSGIApplication, paths: list[str], config: Mapping[str, Any]) -> WSGIApplication:
    """Wrap the app so that ``paths[0]`` ends up outermost."""
    for path in reversed(paths):
        entry = load_entry(path)
        from_config = getattr(entry, "from_config", None)
        wsgi_app = from_config(wsgi_app, config) if from_config else entry(wsgi_app)
    return wsgi_app


@click.command("middleware")
@with_appcontext
def middleware_command() -> None:
    """Print the WSGI middleware stack, outermost first."""
    for depth, path in enumerate(current_app.config["WSGI_MIDDLEWARE"]):
        click.echo(f"{'  ' * depth}{path}")
    click.echo(f"{'  ' * len(current_app.config['WSGI_MIDDLEWARE'])}Flask app")


def init_app(app: Flask) -> None:
    """Apply the configured stack and add the ``flask middleware`` command."""
    app.wsgi_app = wrap(app.wsgi_app, list(app.config["WSGI_MIDDLEWARE"]), app.config)  # type: ignore[method-assign,assignment]
    app.cli.add_command(middleware_command)
