"""Account forms; each carries and checks a CSRF token (``core.csrf.CsrfForm``)."""

from __future__ import annotations

from wtforms import BooleanField, EmailField, Field, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from {{ cookiecutter.package_name }}.core.csrf import CsrfForm

from .normalise import AddressRefused, mail_address
from .passwords import PASSWORD_MAX, length_problem, password_problem


def normalise_email(form: CsrfForm, field: Field) -> None:
    """Check the address and replace it with the one the app mails (``mail_address``)."""
    try:
        field.data = mail_address(field.data or "")
    except AddressRefused as exc:
        raise ValidationError(str(exc)) from exc


def password_length(form: CsrfForm, field: Field) -> None:
    """NIST's length bounds, counting only the characters that show."""
    problem = length_problem(field.data or "")
    if problem:
        raise ValidationError(problem)


def email_field() -> EmailField:
    """An email address, normalised."""
    return EmailField("Email", validators=[DataRequired(), Length(max=254), normalise_email])


def new_password_field(label: str = "Password") -> PasswordField:
    """A password to set: NIST's length bounds (the form checks the rest)."""
    return PasswordField(label, validators=[DataRequired(), password_length])


class NewPasswordForm(CsrfForm):
    """A new password, typed twice, checked against the common list and the account's names."""

    password = new_password_field()
    confirm = PasswordField(
        "Repeat password",
        validators=[DataRequired(), EqualTo("password", message="The passwords do not match.")],
    )
    # The username and email the password must not resemble; views set it for existing users.
    identity: tuple[str, ...] = ()

    def identity_values(self) -> tuple[str, ...]:
        """What the password is compared with."""
        return self.identity

    def validate_password(self, field: Field) -> None:
        """Refuse common passwords and ones close to the username or email."""
        problem = password_problem(field.data or "", self.identity_values())
        if problem:
            raise ValidationError(problem)


class RegisterForm(NewPasswordForm):
    """Create an account."""

    username = StringField(
        "Username",
        validators=[
            DataRequired(),
            Length(min=3, max=32),
            Regexp(r"^[A-Za-z0-9_.-]+$", message="Use letters, digits, '.', '_' or '-'."),
        ],
    )
    email = email_field()

    def identity_values(self) -> tuple[str, ...]:
        """The username and email typed into this form."""
        return (self.username.data or "", self.email.data or "")


class LoginForm(CsrfForm):
    """Log in with username or email, and password."""

    # One field for either name, under the name password managers know it by.
    username = StringField("Username or email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=PASSWORD_MAX)])
    remember = BooleanField("Remember me")


class EmailForm(CsrfForm):
    """Ask for a mail: a password reset or a new confirmation link."""

    email = email_field()


class ResetPasswordForm(NewPasswordForm):
    """Choose a new password from a reset link."""

    password = new_password_field("New password")


class ChangePasswordForm(NewPasswordForm):
    """Change the password while logged in."""

    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=PASSWORD_MAX)]
    )
    password = new_password_field("New password")


class DeleteAccountForm(CsrfForm):
    """Delete the account; the password proves it is the owner."""

    password = PasswordField("Password", validators=[DataRequired(), Length(max=PASSWORD_MAX)])


class SudoForm(CsrfForm):
    """Sign in again before a sensitive action (``sudo``)."""

    password = PasswordField("Password", validators=[DataRequired(), Length(max=PASSWORD_MAX)])


class ConfirmEmailForm(CsrfForm):
    """Confirm the address from its link; the password proves who registered the account."""

    password = PasswordField("Password", validators=[DataRequired(), Length(max=PASSWORD_MAX)])


class TwoFactorCodeForm(CsrfForm):
    """A code from the authenticator app (or, when signing in, a recovery code)."""

    code = StringField("Code", validators=[DataRequired(), Length(max=64)])


class SudoCodeForm(SudoForm):
    """Sign in again with two-factor sign-in on: the password and a code."""

    code = StringField("Code", validators=[DataRequired(), Length(max=64)])


class ActionForm(CsrfForm):
    """A form that is only a button (and its CSRF token)."""
