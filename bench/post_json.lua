-- wrk: POST an empty JSON object (the counter increments by one).
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
