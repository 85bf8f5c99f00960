"""gunicorn settings, each overridable from the environment (``make serve`` uses this file)."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", 4))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
# On SIGTERM, finish in-flight requests for up to this long before exiting.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 20))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
# The request id set by the RequestID middleware, so access lines join app log lines.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
# gunicorn's own lines (errors, access) as JSON objects, like the app's.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "{{ cookiecutter.package_name }}.core.logs.json_formatter"}},
    "filters": {
        "access": {"()": "{{ cookiecutter.package_name }}.core.logs.AccessLogFields"},
        "request_id": {"()": "{{ cookiecutter.package_name }}.core.logs.RequestIDFilter"},
    },
    "handlers": {
        "error": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
        "access": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["access"]},
    },
    # Libraries' warnings too; the app's own logger writes JSON itself and does not propagate.
    "root": {"handlers": ["error"], "level": "WARNING"},
    "loggers": {
        "gunicorn.error": {"handlers": ["error"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    """Fail fast on bad configuration (and migrate, unless MIGRATE_ON_START is off) once."""
    from dotenv import load_dotenv
{%- if cookiecutter.auth == "yes" %}
    from flask_migrate import upgrade
{%- endif %}

    from {{ cookiecutter.package_name }} import create_app

    load_dotenv()
{%- if cookiecutter.auth == "yes" %}
    app = create_app()
    if app.config["MIGRATE_ON_START"]:
        with app.app_context():
            upgrade()
{%- else %}
    create_app()
{%- endif %}
