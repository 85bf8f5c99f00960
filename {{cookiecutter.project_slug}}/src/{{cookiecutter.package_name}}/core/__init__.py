"""The core: what every page relies on and no page shows.

Each module has one job and an ``init_app(app)`` that ``create_app`` calls in order:
Redis, sessions, CSRF, rate limits, URL converters, template helpers, error pages,
health probes, logging and the WSGI middleware. Features (blueprints) build on these.
"""
