"""The auth blueprint: account pages and login_required; routes in routes.py."""

from .routes import UserGlobals, bp, login_required

__all__ = ["UserGlobals", "bp", "login_required"]
