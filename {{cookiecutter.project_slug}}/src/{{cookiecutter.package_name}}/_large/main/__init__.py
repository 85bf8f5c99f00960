"""The main blueprint: home page and everyday Flask examples; routes in routes.py."""

from .routes import bp

__all__ = ["bp"]
