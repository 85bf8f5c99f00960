"""The Flask tour, as a visitor sees it: route options, converter, cookies, upload, a view."""

from __future__ import annotations

import pytest

from conftest import csrf_token


def test_hello_uses_the_default_name(client):
    assert "Hello, world!" in client.get("/hello/").get_data(as_text=True)


def test_hello_escapes_the_name(client):
    page = client.get("/hello/<script>").get_data(as_text=True)
    assert "Hello, &lt;script&gt;!" in page
    assert "<script>" not in page


def test_old_home_address_redirects(client):
    response = client.get("/home")
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/")


def test_robots_is_a_hand_made_response(client):
    response = client.get("/robots.txt")
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    assert "Disallow: /api/" in response.get_data(as_text=True)


def test_theme_cookie_is_set_and_deleted(client):
    token = csrf_token(client, "/preferences")
    response = client.post("/preferences/theme", data={"theme": "dark", "csrf_token": token})
    assert response.status_code == 302
    assert client.get_cookie("theme").value == "dark"
    assert 'class="theme-dark"' in client.get("/").get_data(as_text=True)

    client.post("/preferences/theme", data={"theme": "default", "csrf_token": token})
    assert client.get_cookie("theme") is None
    assert 'class="theme-light"' in client.get("/").get_data(as_text=True)


def test_theme_cookie_is_secure_in_production(make_app):
    prod = make_app("production", SECRET_KEY="EG7aIY-P6tYPs-1Te2pV7cnEOuD34wWnB7ffz6Ad130")
    client = prod.test_client()
    token = csrf_token(client, "/preferences")
    response = client.post(
        "/preferences/theme",
        data={"theme": "dark", "csrf_token": token},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/preferences"},
    )
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_unknown_theme_is_a_bad_request(client):
    token = csrf_token(client, "/preferences")
    response = client.post("/preferences/theme", data={"theme": "neon", "csrf_token": token})
    assert response.status_code == 400
    assert "Unknown theme" in response.get_data(as_text=True)


def test_forged_theme_post_is_refused(client):
    response = client.post("/preferences/theme", data={"theme": "dark"})
    assert response.status_code == 400
    assert client.get_cookie("theme") is None


def test_counter_is_a_method_view_over_the_session(client):
    assert client.get("/api/counter").json == {"count": 0}
    assert client.post("/api/counter", json={}).json == {"count": 1}
    assert client.post("/api/counter", json={"by": 5}).json == {"count": 6}
    assert client.get("/api/counter").json == {"count": 6}
    assert client.delete("/api/counter").json == {"count": 0}
    assert client.get("/api/counter").json == {"count": 0}


def test_cookieless_counters_past_the_limit_get_a_429_and_store_nothing(make_app, redis_conn):
    app = make_app(SESSION_CREATION_LIMIT="3 per minute")
    cookieless = app.test_client(use_cookies=False)
    stored = [cookieless.post("/api/counter", json={}).status_code for _ in range(3)]
    refused = cookieless.post("/api/counter", json={})
    assert stored == [200, 200, 200]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Set-Cookie" not in refused.headers
    assert len(list(redis_conn.scan_iter(match=app.config["SESSION_KEY_PREFIX"] + "*"))) == 3
    other = {"REMOTE_ADDR": "192.0.2.7"}  # another address has its own count
    assert cookieless.post("/api/counter", json={}, environ_base=other).status_code == 200


@pytest.mark.parametrize("payload", [{"by": 0}, {"by": "2"}, {"by": True}, {"by": 10**6}, [1]])
def test_counter_rejects_bad_json(client, payload):
    response = client.post("/api/counter", json=payload)
    assert response.status_code == 400
    assert response.json["status"] == 400


def test_counter_wants_json(client):
    response = client.post("/api/counter", data="by=1")
    assert response.status_code == 415


def test_counter_refuses_other_methods(client):
    response = client.put("/api/counter", json={})
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST", "DELETE"}


@pytest.mark.parametrize("path", ["/items/0", "/items/42", "/items/123456789"])
def test_item_route_uses_the_regex_converter(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert f"Item {int(path.rsplit('/', 1)[1])}" in response.get_data(as_text=True)


def test_the_last_item_has_no_next_link(client):
    response = client.get("/items/999999999")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "This is the last item" in page
    assert 'href="/items/' not in page
    assert 'href="/items/43"' in client.get("/items/42").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/items/abc", "/items/1234567890", "/items/-1", "/items/4.2"])
def test_other_item_ids_are_not_found(client, path):
    assert client.get(path).status_code == 404


def test_home_page_links_the_tour(client):
    page = client.get("/").get_data(as_text=True)
    assert 'href="/items/42"' in page
    assert 'href="/upload"' in page


def test_pluralize_filter(app):
    assert app.jinja_env.filters["pluralize"](1, "visit") == "1 visit"
    assert app.jinja_env.filters["pluralize"](3, "visit") == "3 visits"
