"""Accounts: routes, forms, the user model, the `flask users` commands and their templates."""

from .routes import bp, current_user, logged_in_user, login_required

__all__ = ["bp", "current_user", "logged_in_user", "login_required"]
