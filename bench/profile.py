"""Where the time goes on one URL of the baked app: an in-process WSGI harness under cProfile.

    python -m bench.profile /            # bake the default, profile GET / with no credential
    python -m bench.profile / --credential counter --project /tmp/x/flask-starter-app

No server and no socket: the production app is called as a WSGI callable (its middleware
included) against a private redis-server, so the profile shows the app's own work only.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from bench.baked import prepare_database, production_env
from bench.breakdown import scenario_headers, wsgi_request
from tools.baking import bake
from tools.servers import start_redis_server, stop_group


def main() -> int:
    """Bake (or use --project), start Redis, time and profile GET path in-process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", default="/")
    parser.add_argument(
        "--credential", choices=("none", "counter", "login", "token"), default="none"
    )
    parser.add_argument("--project", type=Path, help="an already baked project")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative")
    args = parser.parse_args()

    redis_process, port = start_redis_server()
    scratch = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    try:
        project = args.project or bake(scratch)
        env = production_env(project, f"redis://127.0.0.1:{port}/0")
        has_auth = prepare_database(project, env)
        if args.credential in ("login", "token") and not has_auth:
            raise SystemExit(f"--credential {args.credential} needs a bake with auth=yes")
        os.environ.update(env)
        sys.path[:0] = [str(project), str(project / "src")]
        os.chdir(project)
        from wsgi import app  # type: ignore[import-not-found]

        kind = None if args.credential == "none" else args.credential
        call = wsgi_request(app, "GET", args.path, scenario_headers(app, kind))
        for _ in range(200):
            call()
        started = time.perf_counter()
        for _ in range(args.requests):
            call()
        per_request = (time.perf_counter() - started) / args.requests
        print(f"GET {args.path} {args.credential}: {per_request * 1e6:.0f} µs per request")
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.requests):
            call()
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())
    finally:
        stop_group(redis_process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
