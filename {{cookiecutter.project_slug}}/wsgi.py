"""Entry point for WSGI servers: ``gunicorn wsgi:app`` (production unless FLASK_CONFIG says)."""

import gc
import sys

from dotenv import load_dotenv

from {{ cookiecutter.package_name }} import create_app
from {{ cookiecutter.package_name }}.exceptions import ConfigurationError

# A gunicorn worker exiting with this status while it boots stops the whole server, where
# any other status would have the master start another worker, forever.
WORKER_BOOT_ERROR = 3

# Values already in the environment win over .env.
load_dotenv()
try:
    app = create_app()
except ConfigurationError as exc:
    # One clear line instead of a traceback per worker.
    print(f"error: {exc}", file=sys.stderr, flush=True)
    sys.exit(WORKER_BOOT_ERROR)

# What start-up built (about 100,000 objects) lives as long as the process: frozen, the
# garbage collector need not walk it again. Otherwise every full collection did, a pause of
# about 40 ms (Python 3.11) in whichever request set it off, every few thousand requests.
# Collected first: start-up's own garbage (gunicorn.conf.py's migration app in a forked
# worker) would be kept for good once frozen.
gc.collect()
gc.freeze()
