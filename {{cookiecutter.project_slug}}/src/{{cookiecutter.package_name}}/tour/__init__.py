"""The Flask tour: small examples of Flask's everyday tools; routes in routes.py{% if cookiecutter.auth == "yes" %}, each user's
kept uploads in uploads.py{% endif %}."""

from .routes import bp

__all__ = ["bp"]
