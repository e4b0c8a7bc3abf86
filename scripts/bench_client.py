#!/usr/bin/env python3
"""Sends a fixed number of requests to one route over one keep-alive
connection, for scripts/callgrind.sh. Only the standard library: the
client's own cost never enters the count (callgrind measures the server).

    bench_client.py HOST:PORT ROUTE COUNT [TOKEN_FILE]

ROUTE is one of bare, bare-verify, healthz, verify, verify-fresh, me, refresh, register,
login. The routes that need an account (verify, verify-fresh, me, refresh,
login) read or create it first, outside the counted requests only in the
sense that both runs of a pair do the same set-up, so the difference
between them is COUNT requests.

verify checks one token COUNT times (a gateway's case: the service has
seen the token before). verify-fresh checks COUNT distinct tokens once
each, so every check is a token's first: its set-up mints FRESH_TOKENS
(environment, at least COUNT) access tokens by refreshing, the same number
in both runs of a pair.
Exits non-zero if any counted request is not answered as expected.
"""

import http.client
import json
import os
import sys
import uuid

PASSWORD = "correct-Horse-battery-staple-42"


def request(conn, method, path, body=None, token=None):
    headers = {}
    if body is not None:
        headers["content-type"] = "application/json"
        body = json.dumps(body)
    if token is not None:
        headers["authorization"] = "Bearer " + token
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response.status, data


def account(conn):
    email = "bench-%s@example.com" % uuid.uuid4().hex[:12]
    credentials = {"email": email, "password": PASSWORD}
    status, data = request(conn, "POST", "/v1/auth/register", credentials)
    assert status == 201, (status, data)
    status, data = request(conn, "POST", "/v1/auth/login", credentials)
    assert status == 200, (status, data)
    return credentials, json.loads(data)


def main():
    address, route, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=600)
    expected = {"register": 201}.get(route, 200)
    if route == "bare":
        calls = (("GET", "/", None, None) for _ in range(count))
    elif route == "healthz":
        calls = (("GET", "/healthz", None, None) for _ in range(count))
    elif route == "bare-verify":
        # The bare poem's copy of verify takes no account: a bearer of the
        # length Portcullis's access tokens have (471 bytes) is enough.
        token = "e" * 471
        calls = (("GET", "/v1/auth/verify", None, token) for _ in range(count))
    elif route in ("verify", "me"):
        _, pair = account(conn)
        path = "/v1/auth/verify" if route == "verify" else "/v1/users/me"
        calls = (("GET", path, None, pair["access_token"]) for _ in range(count))
    elif route == "verify-fresh":
        _, pair = account(conn)
        fresh = int(os.environ.get("FRESH_TOKENS", count))
        assert fresh >= count, "FRESH_TOKENS must be at least COUNT"
        tokens, refresh_token = [], pair["refresh_token"]
        for _ in range(fresh):
            status, data = request(conn, "POST", "/v1/auth/refresh", {"refresh_token": refresh_token})
            assert status == 200, (status, data)
            minted = json.loads(data)
            tokens.append(minted["access_token"])
            refresh_token = minted["refresh_token"]
        calls = (("GET", "/v1/auth/verify", None, token) for token in tokens[:count])
    elif route == "login":
        credentials, _ = account(conn)
        calls = (("POST", "/v1/auth/login", credentials, None) for _ in range(count))
    elif route == "register":
        prefix = uuid.uuid4().hex[:12]
        calls = (
            ("POST", "/v1/auth/register", {"email": "r%d-%s@example.com" % (i, prefix), "password": PASSWORD}, None)
            for i in range(count)
        )
    elif route == "refresh":
        _, pair = account(conn)
        state = {"refresh": pair["refresh_token"]}

        def refreshes():
            for _ in range(count):
                yield ("POST", "/v1/auth/refresh", {"refresh_token": state["refresh"]}, None)

        calls = refreshes()
    else:
        sys.exit("unknown route " + route)
    for method, path, body, token in calls:
        status, data = request(conn, method, path, body, token)
        if status != expected:
            sys.exit("%s %s answered %d: %s" % (method, path, status, data[:300]))
        if route == "refresh":
            state["refresh"] = json.loads(data)["refresh_token"]


if __name__ == "__main__":
    main()
