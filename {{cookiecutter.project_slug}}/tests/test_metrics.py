"""/metrics: what it counts, and who may read it.

The app's metrics live in this process for the whole run, so every test compares two
scrapes: what it did is the difference.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

{% if cookiecutter.auth == "yes" -%}
from conftest import AuthActions
{% endif -%}
from {{ cookiecutter.package_name }}.core.metrics import observe_all
from {{ cookiecutter.package_name }}.exceptions import ConfigurationError

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
OUTSIDER = {"REMOTE_ADDR": "203.0.113.9"}


def scrape(client: FlaskClient) -> Samples:
    """Every sample of /metrics, read as Prometheus reads it."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a sample grew between two scrapes."""
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_requests_are_counted_by_endpoint_method_and_status(client):
    before = scrape(client)
    for _ in range(3):
        client.get("/healthz")
    client.get("/no-such-page")
    after = scrape(client)

    health = {"endpoint": "health.healthz", "method": "GET", "status": "200"}
    assert grew(before, after, "http_requests_total", **health) == 3
    assert grew(before, after, "http_request_duration_seconds_count", **health) == 3
    assert grew(before, after, "http_request_duration_seconds_bucket", le="+Inf", **health) == 3
    unknown = {"endpoint": "none", "method": "GET", "status": "404"}
    assert grew(before, after, "http_requests_total", **unknown) == 1


def test_redis_round_trips_are_counted_per_request_that_used_redis(client):
    client.post("/api/probe/counter", json={"by": 1})  # stores a session
    before = scrape(client)
    client.get("/api/probe/counter")  # reads it: one GET
    client.get("/api/probe/plain")  # no Redis at all
    after = scrape(client)

    reads = {"endpoint": "probe.counter"}
    assert grew(before, after, "redis_round_trips_per_request_count", **reads) == 1
    assert grew(before, after, "redis_round_trips_per_request_sum", **reads) == 1
    plain = {"endpoint": "probe.plain"}
    assert grew(before, after, "redis_round_trips_per_request_count", **plain) == 0


def test_a_batch_adds_what_as_many_observations_would():
    registry = CollectorRegistry()
    one_by_one = Histogram("one", "", buckets=(0.1, 1.0), registry=registry)
    batched = Histogram("batched", "", buckets=(0.1, 1.0), registry=registry)
    values = [0.05, 0.1, 0.5, 0.5, 3.0]  # 0.1 is in its own bucket, as le="0.1" says
    for value in values:
        one_by_one.observe(value)
    observe_all(batched, values)

    def samples(name: str) -> list[tuple[str, dict[str, str], float]]:
        return [
            (sample.name.removeprefix(name), sample.labels, sample.value)
            for metric in registry.collect()
            if metric.name == name
            for sample in metric.samples
            if not sample.name.endswith("_created")
        ]

    assert samples("batched") == samples("one")


def test_the_metrics_are_not_shown_to_other_addresses(client):
    refused = client.get("/metrics", environ_base=OUTSIDER)
    unknown = client.get("/no-such-page", environ_base=OUTSIDER)
    assert refused.status_code == 404
    assert refused.get_data() == unknown.get_data()


def test_a_post_to_the_metrics_is_an_unknown_page(client):
    assert client.post("/metrics").status_code in (404, 405)


def test_metrics_allow_names_who_may_read_them(make_app):
    client = make_app(METRICS_ALLOW=["203.0.113.0/24"]).test_client()
    assert client.get("/metrics", environ_base=OUTSIDER).status_code == 200
    assert client.get("/metrics").status_code == 404  # loopback is no longer listed


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("METRICS_ALLOW", "198.51.100.1, 203.0.113.0/24"),
        ("FLASK_METRICS_ALLOW", '["198.51.100.1", "203.0.113.0/24"]'),
        ("FLASK_METRICS_ALLOW", "203.0.113.9"),
    ],
)
def test_metrics_allow_is_read_from_the_environment(make_app, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    client = make_app().test_client()
    assert client.get("/metrics", environ_base=OUTSIDER).status_code == 200
    assert client.get("/metrics").status_code == 404


def test_a_malformed_metrics_allow_stops_start_up(make_app):
    with pytest.raises(ConfigurationError, match="METRICS_ALLOW entry 'localhost'"):
        make_app(METRICS_ALLOW=["localhost"])


def test_behind_a_proxy_the_forwarded_client_address_is_checked(make_app):
    """With PROXY_FIX, the proxy's own (loopback) address lets no one in by itself."""
    client = make_app(PROXY_FIX={"x_for": 1}).test_client()
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    assert client.get("/metrics", headers=forwarded).status_code == 404
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_session_store_errors_and_the_breaker_are_counted_while_redis_is_down(
    make_app, private_redis
):
    server, _ = private_redis
    app = make_app(REDIS_URL=server.url, PROPAGATE_EXCEPTIONS=False)
    client = app.test_client()
    client.post("/api/probe/counter", json={"by": 1})
    before = scrape(client)
    server.stop()
    statuses = [client.get("/api/probe/counter").status_code for _ in range(3)]
    after = scrape(client)

    assert statuses == [503, 503, 503]
    assert grew(before, after, "session_store_errors_total", cause="unreachable") >= 1
    assert grew(before, after, "session_store_errors_total", cause="circuit_open") >= 1
    assert grew(before, after, "redis_errors_total", cause="unreachable") >= 1
    assert after[("redis_breaker_open", frozenset())] == 1
{%- if cookiecutter.auth == "yes" %}


def test_mails_sent_are_counted(make_auth_app, mailbox):
    client = make_auth_app().test_client()
    before = scrape(client)
    AuthActions(client, mailbox).register()
    after = scrape(client)
    assert mailbox.to("alice@example.com")
    assert grew(before, after, "mails_sent_total") == 1
{%- endif %}
