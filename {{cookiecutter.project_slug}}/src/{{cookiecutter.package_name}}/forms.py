"""Account forms; Flask-WTF adds and checks the CSRF token on each."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import EmailField, Field, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

PASSWORD_MIN = 8
# Bounded so nobody can make the server hash megabytes.
PASSWORD_MAX = 128


def normalise_email(form: FlaskForm, field: Field) -> None:
    """Check the address and replace it with its normalised, lowercase form."""
    try:
        field.data = validate_email(field.data or "", check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationError(str(exc)) from exc


class RegisterForm(FlaskForm):
    """Create an account."""

    username = StringField(
        "Username",
        validators=[
            DataRequired(),
            Length(min=3, max=32),
            Regexp(r"^[A-Za-z0-9_.-]+$", message="Use letters, digits, '.', '_' or '-'."),
        ],
    )
    email = EmailField("Email", validators=[DataRequired(), Length(max=254), normalise_email])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)]
    )
    confirm = PasswordField(
        "Repeat password",
        validators=[DataRequired(), EqualTo("password", message="The passwords do not match.")],
    )


class LoginForm(FlaskForm):
    """Log in with username and password."""

    username = StringField("Username", validators=[DataRequired(), Length(max=32)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=PASSWORD_MAX)])
