"""The core: what every page relies on and no page shows.

Modules with an ``init_app(app)`` are called by ``create_app`` in order: logging, JSON
parsing, Redis (with its circuit breaker), sessions, CSRF, rate limits, URL converters,
template helpers, error pages, health probes, the database (with accounts) and, last, the
WSGI middleware. The rest are helpers the features call: mail (with accounts), uploads,
and dev_redis, the throwaway server `make run` and the tests start. Features (blueprints)
build on these and never the other way round.
"""
