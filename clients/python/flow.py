"""Drives Portcullis through the client openapi-python-client generates from
the committed OpenAPI document: register -> verify the address with the token
of the mailed link (the user shows `email_verified`) -> login -> me -> a
second login -> list sessions -> end the second one (its refresh answers 401)
-> refresh -> logout -> me answers 401; then a password reset: an unknown
address gets the same 202, the mailed link's token with a new password ends
the old session, the old password is refused and the new one works, and the
link works once; then a TOTP second factor and an admin's invitation
(account_flow.py). Exits non-zero on the first mismatch.

The service must mail through SMTP into a maildir (CHECKS_MAILDIR, read
by mailbox_links.py) with CHECKS_PUBLIC_URL the base of the links (its PORTCULLIS_PUBLIC_URL), as
scripts/external-checks.sh sets it up. Generate the client first (it is
never committed), then run:

    openapi-python-client generate --path openapi/openapi.json \
        --output-path target/python-client/portcullis_client --meta none
    PYTHONPATH=target/python-client PORTCULLIS_URL=http://127.0.0.1:8080 \
        CHECKS_MAILDIR=target/external-mail CHECKS_PUBLIC_URL=https://app.example.com \
        python clients/python/flow.py
"""

from __future__ import annotations

import os
import secrets
import sys
import time

import account_flow
from account_flow import check
from mailbox_links import wait_for_token
from portcullis_client import AuthenticatedClient, Client
from portcullis_client.api.auth import (
    confirm_password_reset,
    login,
    logout,
    refresh,
    register,
    request_password_reset,
    verify_email,
)
from portcullis_client.api.users import end_my_session, get_me, list_my_sessions
from portcullis_client.models import (
    Credentials,
    LinkRequest,
    LinkRequested,
    LogoutRequest,
    PasswordResetConfirm,
    Problem,
    RefreshRequest,
    SessionPage,
    TokenPair,
    User,
    VerifyEmailRequest,
)


def main() -> None:
    base_url = os.environ.get("PORTCULLIS_URL", "http://127.0.0.1:8080")
    maildir = os.environ["CHECKS_MAILDIR"]
    public_url = os.environ["CHECKS_PUBLIC_URL"].rstrip("/")
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
    check(user.email_verified is False, "register: the address is not verified yet")
    print(f"register: 201 {user.id}")

    token = wait_for_token(maildir, email, "Confirm your e-mail address", f"{public_url}/verify-email")
    verified = verify_email.sync_detailed(client=anonymous, body=VerifyEmailRequest(token=token))
    check(verified.status_code == 204, f"verify-email: status {verified.status_code}, want 204")
    print("verify-email: 204 with the token of the mailed link")

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
    assert isinstance(me.parsed, User)
    check(me.parsed.email_verified is True, "me: email_verified is not true after verify-email")
    print("me: 200, email_verified")

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

    reset_password(base_url, anonymous, email, password, maildir, public_url)
    account_flow.second_factor(base_url, anonymous)
    account_flow.invitation(base_url, anonymous, maildir, public_url)
    print("python client: every step answered as documented")


def reset_password(base_url: str, anonymous: Client, email: str, password: str, maildir: str, public_url: str) -> None:
    """A reset through the mailed link ends the session that was open, changes
    the password, and works once; an unknown address is answered alike."""
    before = login.sync_detailed(client=anonymous, body=Credentials(email=email, password=password)).parsed
    check(isinstance(before, TokenPair), f"login before the reset: body {before!r} is not a TokenPair")
    assert isinstance(before, TokenPair)

    asked = request_password_reset.sync_detailed(client=anonymous, body=LinkRequest(email=email))
    check(asked.status_code == 202, f"password-reset: status {asked.status_code}, want 202")
    check(isinstance(asked.parsed, LinkRequested), f"password-reset: body {asked.parsed!r}")
    unknown = f"nobody-{secrets.token_hex(6)}@example.com"
    stranger = request_password_reset.sync_detailed(client=anonymous, body=LinkRequest(email=unknown))
    check(
        (stranger.status_code, stranger.content) == (asked.status_code, asked.content),
        f"password-reset of an unknown address: {stranger.status_code} {stranger.content!r}, "
        f"the known one got {asked.status_code} {asked.content!r}",
    )
    print("password-reset: 202, the same answer for an unknown address")

    token = wait_for_token(maildir, email, "Reset your password", f"{public_url}/reset-password")
    new_password = "Quarry-lantern-osprey-4417"
    body = PasswordResetConfirm(token=token, new_password=new_password)
    confirmed = confirm_password_reset.sync_detailed(client=anonymous, body=body)
    check(confirmed.status_code == 204, f"password-reset/confirm: status {confirmed.status_code}, want 204")
    print("password-reset/confirm: 204 with the token of the mailed link")

    old_refresh = refresh.sync_detailed(client=anonymous, body=RefreshRequest(refresh_token=before.refresh_token))
    check(old_refresh.status_code == 401, f"refresh after the reset: status {old_refresh.status_code}, want 401")
    old_me = get_me.sync_detailed(client=AuthenticatedClient(base_url=base_url, token=before.access_token))
    check(old_me.status_code == 401, f"me with the old access token: status {old_me.status_code}, want 401")
    old = login.sync_detailed(client=anonymous, body=Credentials(email=email, password=password))
    check(old.status_code == 401, f"login with the old password: status {old.status_code}, want 401")
    check(isinstance(old.parsed, Problem) and old.parsed.code == "invalid_credentials", f"old: {old.parsed!r}")
    print("after the reset: the old refresh token, access token and password are refused (401)")
    new = login.sync_detailed(client=anonymous, body=Credentials(email=email, password=new_password))
    check(new.status_code == 200 and isinstance(new.parsed, TokenPair), f"login, new password: {new.status_code}")
    print("login with the new password: 200")

    body = PasswordResetConfirm(token=token, new_password="Another-thistle-harbor-9051")
    again = confirm_password_reset.sync_detailed(client=anonymous, body=body)
    check(again.status_code == 400, f"the same reset token again: status {again.status_code}, want 400")
    check(isinstance(again.parsed, Problem) and again.parsed.code == "invalid_token", f"again: {again.parsed!r}")
    print("the same reset token again: 400 invalid_token")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - any failure is a failed check
        print(f"mismatch: {type(error).__name__}: {error}", file=sys.stderr)
        print("python client: FAILED", file=sys.stderr)
        sys.exit(1)
