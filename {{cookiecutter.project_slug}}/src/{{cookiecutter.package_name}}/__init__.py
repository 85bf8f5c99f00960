"""The application factory of {{ cookiecutter.package_name }}: core first, then the features."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from .config import config_name_from_env, load_config
from .core import (
    converters,
    csrf,
    errors,
    health,
    json_provider,
    logs,
    middleware,
    redis_client,
    request_body,
    sessions,
    template_globals,
    url_cache,
    url_rules,
)


def create_app(config_name: str | None = None, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; starts no process and opens no connection (Redis connects on first use)."""
    instance_path = os.environ.get("INSTANCE_PATH")
    app = Flask(
        __name__,
        # Relative paths (INSTANCE_PATH=instance in .env) are taken from the working directory.
        instance_path=os.path.abspath(instance_path) if instance_path else None,
        instance_relative_config=True,
    )
    load_config(app, config_name_from_env(config_name), overrides)

    # Core: what every page relies on and no page shows.
    logs.init_app(app)
    json_provider.init_app(app)
    redis_client.init_app(app)
    sessions.init_app(app)
    csrf.init_app(app)
    converters.init_app(app)
    url_rules.init_app(app)
    template_globals.init_app(app)
    url_cache.init_app(app)
    errors.init_app(app)
    request_body.init_app(app)
    health.init_app(app)
{%- if cookiecutter.auth == "yes" %}
    from .core import database

    database.init_app(app)
    # Background jobs (account mail): their `flask jobs` commands.
    from . import jobs

    jobs.init_app(app)
{%- endif %}

    # Features: one blueprint each.
    from . import main

    app.register_blueprint(main.bp)
{%- if cookiecutter.auth == "yes" %}
    from . import auth

    app.register_blueprint(auth.bp, url_prefix="/auth")
{%- endif %}
{%- if cookiecutter.examples == "yes" %}
    from . import tour

    app.register_blueprint(tour.bp)
{%- endif %}
{%- if cookiecutter.api == "yes" %}
    from . import api

    api.init_app(app)
{%- endif %}

    # Traces and error reports, each only when configured: otherwise nothing of it is loaded.
    if app.config["OTEL_EXPORTER_OTLP_ENDPOINT"]:
        from .core import tracing

        tracing.init_app(app)
    if app.config["SENTRY_DSN"]:
        from .core import error_reports

        error_reports.init_app(app)

    # Last, so the WSGI middleware wraps everything above.
    middleware.init_app(app)
    return app
