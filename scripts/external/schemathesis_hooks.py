"""Schemathesis hooks for scripts/external-checks.sh (SCHEMATHESIS_HOOKS).

Bearer auth: every test case gets the access token of a fresh admin session,
signed in through the API. A fixed `-H "Authorization: ..."` token would not
survive the run: the fuzzer calls `logout` and `logout-all` with it, which
revoke it (as documented), and every later case would only see 401.

The fuzzer is an admin, and it reuses ids it has seen in responses, so it
does disable, demote and delete admins, the seeded one included (once it has
promoted someone else, the seeded admin is no longer the last one). To keep
the admin operations exercised past the auth check for the whole run, the
hook keeps a few admins of its own: while one of them (or the seeded admin)
can still sign in as an admin, it registers and promotes new ones until
there are POOL_SIZE again. Only if every admin is gone does a case run as a
fresh ordinary user; the run says how often that happened.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import secrets
import sys

import requests
import schemathesis

BASE_URL = os.environ["PORTCULLIS_URL"]
SEEDED_ADMIN = {"email": os.environ["PORTCULLIS_ADMIN_EMAIL"], "password": os.environ["PORTCULLIS_ADMIN_PASSWORD"]}
PASSWORD = "Juniper-kettle-signal-6093"
POOL_SIZE = 3
TIMEOUT = 10

admins: list[dict[str, str]] = [SEEDED_ADMIN]  # candidates, most recently working first
stats = {"replenished": 0, "as_user": 0}


def _post(path: str, body: dict[str, str], token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{BASE_URL}{path}", json=body, headers=headers, timeout=TIMEOUT)


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _admin_token() -> str | None:
    """A fresh session of the first candidate that still signs in as an admin;
    candidates that do not are dropped."""
    while admins:
        response = _post("/v1/auth/login", admins[0])
        if response.status_code == 200 and _claims(token := response.json()["access_token"])["role"] == "admin":
            return token
        admins.pop(0)
    return None


def _new_user() -> tuple[dict[str, str], str]:
    credentials = {"email": f"fuzz-{secrets.token_hex(6)}@example.com", "password": PASSWORD}
    _post("/v1/auth/register", credentials).raise_for_status()
    response = _post("/v1/auth/login", credentials)
    response.raise_for_status()
    return credentials, response.json()["access_token"]


def _replenish(admin_token: str) -> None:
    while len(admins) < POOL_SIZE:
        credentials, token = _new_user()
        user_id = _claims(token)["sub"]
        response = requests.patch(
            f"{BASE_URL}/v1/admin/users/{user_id}",
            json={"role": "admin"},
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=TIMEOUT,
        )
        if response.status_code != 200:
            return  # the admin lost its role meanwhile; the next case retries
        admins.append(credentials)
        stats["replenished"] += 1


@atexit.register
def _report() -> None:
    print(
        f"schemathesis hooks: {stats['replenished']} admin(s) promoted to keep the pool; "
        f"{stats['as_user']} case(s) ran as an ordinary user for want of any admin",
        file=sys.stderr,
    )


@schemathesis.auth(refresh_interval=None)
class FreshSession:
    def get(self, case, ctx):
        token = _admin_token()
        if token is None:
            stats["as_user"] += 1
            return _new_user()[1]
        _replenish(token)
        return token

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
