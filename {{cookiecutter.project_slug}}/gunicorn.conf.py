"""gunicorn settings, each overridable from the environment (``make serve`` uses this file)."""

import multiprocessing
import os
import shutil
import sys
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
# gthread keeps connections alive and overlaps Redis waits, so a slow request does not hold
# a whole worker.
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
        "tokens": {"()": "{{ cookiecutter.package_name }}.core.logs.HideSignedTokens"},
    },
    "handlers": {
        "error": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "tokens"],
        },
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

# Where the workers write their metrics for /metrics to add up (prometheus_client's
# multiprocess mode). Set before anything imports prometheus_client, which picks its mode
# on import; a folder of our own is removed when the server stops.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-")
    os.environ["APP_OWNS_PROMETHEUS_MULTIPROC_DIR"] = "1"


def empty_metrics_folder():
    """Forget the counts of an earlier server: they would be added to this one's."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def child_exit(server, worker):
    """A worker is gone: its live gauges (the breaker's state) stop counting; its counts stay."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


{%- if cookiecutter.auth == "yes" %}


def when_ready(server):
    """Start the job worker (account mail) beside the web workers, if the app wants one."""
    from {{ cookiecutter.package_name }}.jobs import embedded

    embedded.start()


def on_reload(server):
    """A reload (SIGHUP) brings new code: the job worker is started afresh too."""
    from {{ cookiecutter.package_name }}.jobs import embedded

    embedded.restart()
{%- endif %}


def on_exit(server):
    """Remove the metrics folder made at start-up (one given in the environment is kept){% if cookiecutter.auth == "yes" %};
    stop the job worker, letting its running job finish{% endif %}."""
{%- if cookiecutter.auth == "yes" %}
    from {{ cookiecutter.package_name }}.jobs import embedded

    embedded.stop()
{%- endif %}
    remove_own_metrics_folder()


def remove_own_metrics_folder():
    """The metrics folder made above goes with the server; one given in the environment stays."""
    if os.environ.get("APP_OWNS_PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def refuse(message):
    """Stop before serving, saying why: gunicorn runs no on_exit for that, so clean up here."""
    remove_own_metrics_folder()
    sys.exit(message)


def on_starting(server):
    """Check the configuration (and migrate the database) once, before any worker starts.

    A bad setting stops the master here with one line naming it: no socket is opened and
    no worker is started, so nothing restarts in a loop. With several instances, migrate
    once before them and set MIGRATE_ON_START false on each.
    """
    from dotenv import load_dotenv
{%- if cookiecutter.auth == "yes" %}
    from flask_migrate import upgrade
    from sqlalchemy.exc import OperationalError
{%- endif %}

    from {{ cookiecutter.package_name }} import create_app
{%- if cookiecutter.auth == "yes" %}
    from {{ cookiecutter.package_name }}.checks import url_problem
    from {{ cookiecutter.package_name }}.core.database import enable_migrations
{%- endif %}
    from {{ cookiecutter.package_name }}.exceptions import ConfigurationError
{%- if cookiecutter.auth == "yes" %}
    from {{ cookiecutter.package_name }}.jobs import embedded
{%- endif %}

    empty_metrics_folder()
    load_dotenv()
    try:
        {{ "app = " if cookiecutter.auth == "yes" else "" }}create_app()
    except ConfigurationError as exc:
        refuse(f"error: {exc}")
{%- if cookiecutter.auth == "yes" %}
    embedded.prepare(app)  # started by when_ready, once the server listens
    if not app.config["MIGRATE_ON_START"]:
        return
    enable_migrations(app)
    try:
        with app.app_context():
            upgrade()
    except OperationalError as exc:
        # Unreachable, or refusing our login: one line, the password left out.
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        refuse(f"error: {url_problem('DATABASE_URL', url, exc.orig, 'cannot be used')}")
{%- endif %}
