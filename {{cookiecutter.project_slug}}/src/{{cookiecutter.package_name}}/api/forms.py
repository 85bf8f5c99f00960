"""The form that makes a personal access token (checks its CSRF token like every form)."""

from __future__ import annotations

from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, ValidationError

from {{ cookiecutter.package_name }}.core.csrf import CsrfForm

from .models import SCOPES

# The longest a token may live, in days: it expires, however much it is used.
MAX_DAYS = 365


class NewTokenForm(CsrfForm):
    """A name to recognise the token by, what it may do and how long it lives."""

    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    read = BooleanField("read: see your account and notes", default=True)
    write = BooleanField("write: add, change and delete notes")
    days = IntegerField(
        "Expires after (days)", default=30, validators=[NumberRange(min=1, max=MAX_DAYS)]
    )

    def validate_write(self, field: BooleanField) -> None:
        """A token needs at least one scope."""
        if not field.data and not self.read.data:
            raise ValidationError("Choose at least one scope.")

    @property
    def scopes(self) -> list[str]:
        """The scopes ticked."""
        return [name for name in SCOPES if getattr(self, name).data]
