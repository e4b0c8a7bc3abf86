"""Drives Portcullis through the client openapi-python-client generates from
the committed OpenAPI document: register -> login -> me -> a second login ->
list sessions -> end the second one (its refresh answers 401) -> refresh ->
logout -> me answers 401. Exits non-zero on the first mismatch.

Generate the client first (it is never committed), then run:

    openapi-python-client generate --path openapi/openapi.json \
        --output-path target/python-client/portcullis_client --meta none
    PYTHONPATH=target/python-client PORTCULLIS_URL=http://127.0.0.1:8080 \
        python clients/python/flow.py
"""

from __future__ import annotations

import os
import secrets
import sys
import time

from portcullis_client import AuthenticatedClient, Client
from portcullis_client.api.auth import login, logout, refresh, register
from portcullis_client.api.users import end_my_session, get_me, list_my_sessions
from portcullis_client.models import (
    Credentials,
    LogoutRequest,
    Problem,
    RefreshRequest,
    SessionPage,
    TokenPair,
    User,
)


class Mismatch(Exception):
    pass


def check(condition: object, what: str) -> None:
    if not condition:
        raise Mismatch(what)


def main() -> None:
    base_url = os.environ.get("PORTCULLIS_URL", "http://127.0.0.1:8080")
    email = f"py-client-{int(time.time())}-{secrets.token_hex(4)}@example.com"
    password = "Harbor-thistle-copper-5820"
    # Any status the document does not list raises UnexpectedStatus.
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)

    created = register.sync_detailed(client=anonymous, body=Credentials(email=email, password=password))
    check(created.status_code == 201, f"register: status {created.status_code}, want 201")
    user = created.parsed
    check(isinstance(user, User), f"register: body {user!r} is not a User")
    assert isinstance(user, User)
    check(user.email == email, f"register: email {user.email}")
    check(user.role.value == "user" and user.status.value == "active", "register: role/status")
    print(f"register: 201 {user.id}")

    signed_in = login.sync_detailed(client=anonymous, body=Credentials(email=email, password=password))
    check(signed_in.status_code == 200, f"login: status {signed_in.status_code}, want 200")
    pair = signed_in.parsed
    check(isinstance(pair, TokenPair), f"login: body {pair!r} is not a TokenPair")
    assert isinstance(pair, TokenPair)
    check(pair.token_type == "Bearer" and pair.expires_in > 0, "login: token_type/expires_in")
    print("login: 200")

    def as_user(token: str) -> AuthenticatedClient:
        return AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)

    me = get_me.sync_detailed(client=as_user(pair.access_token))
    check(me.status_code == 200, f"me: status {me.status_code}, want 200")
    check(isinstance(me.parsed, User) and me.parsed.id == user.id, f"me: body {me.parsed!r}")
    print("me: 200")

    other = login.sync_detailed(client=anonymous, body=Credentials(email=email, password=password)).parsed
    check(isinstance(other, TokenPair), f"second login: body {other!r} is not a TokenPair")
    assert isinstance(other, TokenPair)
    listed = list_my_sessions.sync_detailed(client=as_user(pair.access_token))
    check(listed.status_code == 200, f"sessions: status {listed.status_code}, want 200")
    page = listed.parsed
    check(isinstance(page, SessionPage), f"sessions: body {page!r} is not a SessionPage")
    assert isinstance(page, SessionPage)
    check(len(page.items) == 2, f"sessions: {len(page.items)} items, want 2")
    current = [session for session in page.items if session.current]
    check(len(current) == 1, "sessions: exactly one is current")
    ended = next(session for session in page.items if not session.current)
    print(f"sessions: 200, {len(page.items)} sessions, current {current[0].id}")

    gone = end_my_session.sync_detailed(id=ended.id, client=as_user(pair.access_token))
    check(gone.status_code == 204, f"end session: status {gone.status_code}, want 204")
    print("end session: 204")
    stale = refresh.sync_detailed(client=anonymous, body=RefreshRequest(refresh_token=other.refresh_token))
    check(stale.status_code == 401, f"refresh of the ended session: status {stale.status_code}, want 401")
    check(isinstance(stale.parsed, Problem) and stale.parsed.code == "token_revoked", f"ended: {stale.parsed!r}")
    print("refresh of the ended session: 401 token_revoked")
    again = end_my_session.sync_detailed(id=ended.id, client=as_user(pair.access_token))
    check(again.status_code == 404, f"end the ended session again: status {again.status_code}, want 404")

    renewed = refresh.sync_detailed(client=anonymous, body=RefreshRequest(refresh_token=pair.refresh_token))
    check(renewed.status_code == 200, f"refresh: status {renewed.status_code}, want 200")
    new_pair = renewed.parsed
    check(isinstance(new_pair, TokenPair), f"refresh: body {new_pair!r} is not a TokenPair")
    assert isinstance(new_pair, TokenPair)
    check(new_pair.refresh_token != pair.refresh_token, "refresh: the refresh token was not rotated")
    print("refresh: 200")

    bye = logout.sync_detailed(
        client=as_user(new_pair.access_token), body=LogoutRequest(refresh_token=new_pair.refresh_token)
    )
    check(bye.status_code == 204, f"logout: status {bye.status_code}, want 204")
    print("logout: 204")

    after = get_me.sync_detailed(client=as_user(new_pair.access_token))
    check(after.status_code == 401, f"me after logout: status {after.status_code}, want 401")
    content_type = after.headers.get("content-type", "")
    check(content_type.startswith("application/problem+json"), f"me after logout: content-type {content_type}")
    problem = after.parsed
    check(isinstance(problem, Problem), f"me after logout: body {problem!r} is not a Problem")
    assert isinstance(problem, Problem)
    check(problem.status == 401 and problem.request_id, f"me after logout: problem {problem!r}")
    print(f"me after logout: 401 {problem.code}")
    print("python client: every step answered as documented")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - any failure is a failed check
        print(f"mismatch: {type(error).__name__}: {error}", file=sys.stderr)
        print("python client: FAILED", file=sys.stderr)
        sys.exit(1)
