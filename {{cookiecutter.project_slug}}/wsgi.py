"""Entry point for WSGI servers: ``gunicorn wsgi:app`` (production unless FLASK_CONFIG says)."""

from dotenv import load_dotenv

from {{ cookiecutter.package_name }} import create_app

# Values already in the environment win over .env.
load_dotenv()
app = create_app()
