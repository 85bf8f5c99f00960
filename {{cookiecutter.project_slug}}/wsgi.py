"""Entry point for WSGI servers: ``gunicorn wsgi:app`` (production unless FLASK_CONFIG says)."""

import sys

from dotenv import load_dotenv

from {{ cookiecutter.package_name }} import create_app
from {{ cookiecutter.package_name }}.config import ConfigurationError

# Values already in the environment win over .env.
load_dotenv()
try:
    app = create_app()
except ConfigurationError as exc:
    # One clear line instead of a traceback per worker.
    sys.exit(f"error: {exc}")
