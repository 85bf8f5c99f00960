"""The core: what every page relies on and no page shows.

Modules with an ``init_app(app)`` are called by ``create_app`` in order: logging, JSON
parsing, Redis (with its circuit breaker), sessions, CSRF, URL converters, template
globals, the remembering ``url_for``, error pages, capped request bodies, health
probes{% if cookiecutter.auth == "yes" %}, the database{% endif %}, traces and error
reports (each imported only when configured) and, last, the WSGI middleware. The rest
are helpers: rate limits (``limiter``, applied per route) and dev_redis, the
throwaway server `make run` and the tests start. Features (blueprints) build on these and
never the other way round.
"""
