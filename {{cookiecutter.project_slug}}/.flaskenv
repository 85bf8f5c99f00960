# Read by the `flask` command (not by gunicorn): local development defaults.
FLASK_APP={{ cookiecutter.package_name }}
FLASK_CONFIG=development
FLASK_DEBUG=1
