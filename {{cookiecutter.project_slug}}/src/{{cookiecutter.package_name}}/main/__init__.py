"""The home and about pages; routes in routes.py, templates in templates/main/."""

from .routes import bp

__all__ = ["bp"]
