"""The application factory of {{ cookiecutter.package_name }}."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import (
    converters,
    errors,
    extensions,
    health,
    logs,
    middleware,
    redis_client,
    sessions,
    template_tools,
)
from .config import config_name_from_env, load_config


def create_app(config_name: str | None = None, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, Redis, extensions, sessions, blueprints, errors, middleware."""
    instance_path = os.environ.get("INSTANCE_PATH")
    app = Flask(
        __name__,
        # Relative paths (INSTANCE_PATH=instance in .env) are taken from the working directory.
        instance_path=os.path.abspath(instance_path) if instance_path else None,
        instance_relative_config=True,
    )
    load_config(app, config_name_from_env(config_name), overrides)
    logs.init_app(app)

    redis_client.init_app(app)
    extensions.init_app(app)
    converters.init_app(app)
    sessions.init_app(app)
    template_tools.init_app(app)

    from .{{ "main" if cookiecutter.layout == "large" else "views" }} import bp as main_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(health.bp)
{%- if cookiecutter.auth == "yes" %}

    from . import database
    from .auth import UserGlobals
    from .auth import bp as auth_bp
    from .users import users_cli

    database.init_app(app)
    app.app_ctx_globals_class = UserGlobals
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.cli.add_command(users_cli)
{%- endif %}

    errors.init_app(app)
    middleware.init_app(app)
    return app
