# Read by the `flask` command (not by gunicorn): local development defaults. No FLASK_DEBUG:
# it would reach `flask db upgrade` run here for production too (`make run` passes --debug).
FLASK_APP={{ cookiecutter.package_name }}
FLASK_CONFIG=development
