"""The Flask tour: small examples of Flask's everyday tools; routes in routes.py."""

from .routes import bp

__all__ = ["bp"]
