"""The rest of the account life cycle through the generated Python client,
run by flow.py after its own steps:

- a TOTP second factor: enrol, confirm with a code pyotp computes from the
  otpauth:// URI (an implementation that is not ours), then a login answers
  401 mfa_required with an mfa_token, and completeMfa with the next code
  gives tokens whose `amr` says pwd and otp; a replayed code is refused and
  a recovery code works once;
- an invitation: the admin (PORTCULLIS_ADMIN_EMAIL / _PASSWORD, as
  scripts/external-checks.sh starts the service) creates an account with
  `invite: true`; the invited person reads the mail, sets a password through
  confirmPasswordReset, and signs in with the address already verified.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time

import pyotp
from mailbox_links import wait_for_token
from portcullis_client import AuthenticatedClient, Client
from portcullis_client.api.admin import create_user
from portcullis_client.api.auth import complete_mfa, confirm_password_reset, login, register
from portcullis_client.api.users import confirm_totp, enrol_totp, get_me
from portcullis_client.models import (
    Credentials,
    LoginRequest,
    MfaLoginRequest,
    NewUser,
    PasswordResetConfirm,
    Problem,
    RecoveryCodes,
    TokenPair,
    TotpCode,
    TotpEnrolment,
    User,
)


class Mismatch(Exception):
    pass


def check(condition: object, what: str) -> None:
    if not condition:
        raise Mismatch(what)


def claims(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def step_up(anonymous: Client, email: str, password: str) -> str:
    """The mfa_token a login with the right password answers with."""
    answer = login.sync_detailed(client=anonymous, body=LoginRequest(email=email, password=password))
    check(answer.status_code == 401, f"login with TOTP on: status {answer.status_code}, want 401")
    problem = answer.parsed
    check(isinstance(problem, Problem) and problem.code == "mfa_required", f"login with TOTP on: {problem!r}")
    assert isinstance(problem, Problem)
    check(isinstance(problem.mfa_token, str) and problem.mfa_token, "mfa_required carries an mfa_token")
    return problem.mfa_token


def second_factor(base_url: str, anonymous: Client) -> None:
    email = f"py-totp-{int(time.time())}-{secrets.token_hex(4)}@example.com"
    password = "Lantern-harbor-quartz-6093"
    created = register.sync_detailed(client=anonymous, body=Credentials(email=email, password=password))
    check(created.status_code == 201, f"register for TOTP: status {created.status_code}")
    pair = login.sync_detailed(client=anonymous, body=LoginRequest(email=email, password=password)).parsed
    check(isinstance(pair, TokenPair), f"login before TOTP: {pair!r}")
    assert isinstance(pair, TokenPair)
    user = AuthenticatedClient(base_url=base_url, token=pair.access_token, raise_on_unexpected_status=True)

    enrolled = enrol_totp.sync_detailed(client=user)
    check(enrolled.status_code == 201 and isinstance(enrolled.parsed, TotpEnrolment), f"enrol: {enrolled.status_code}")
    assert isinstance(enrolled.parsed, TotpEnrolment)
    totp = pyotp.parse_uri(enrolled.parsed.otpauth_uri)
    check(totp.secret == enrolled.parsed.secret, "pyotp reads the same secret from the otpauth:// URI")
    confirmed = confirm_totp.sync_detailed(client=user, body=TotpCode(code=totp.now()))
    check(confirmed.status_code == 200, f"confirm with pyotp's code: status {confirmed.status_code}, want 200")
    codes = confirmed.parsed
    check(isinstance(codes, RecoveryCodes) and len(codes.recovery_codes) == 10, "ten recovery codes")
    assert isinstance(codes, RecoveryCodes)
    print("totp: enrolled, confirmed with pyotp's code, 10 recovery codes")

    # The confirming code's step is spent: the next step's code signs in.
    code = totp.at(time.time() + totp.interval)
    body = MfaLoginRequest(mfa_token=step_up(anonymous, email, password), code=code)
    done = complete_mfa.sync_detailed(client=anonymous, body=body)
    check(done.status_code == 200 and isinstance(done.parsed, TokenPair), f"mfa with pyotp: {done.status_code}")
    assert isinstance(done.parsed, TokenPair)
    amr = claims(done.parsed.access_token).get("amr")
    check(amr == ["pwd", "otp"], f"the access token's amr is {amr!r}, want pwd and otp")
    print("totp: login answered 401 mfa_required; pyotp's code completes it, amr pwd+otp")

    body = MfaLoginRequest(mfa_token=step_up(anonymous, email, password), code=code)
    replayed = complete_mfa.sync_detailed(client=anonymous, body=body)
    check(replayed.status_code == 401, f"a replayed code: status {replayed.status_code}, want 401")
    check(isinstance(replayed.parsed, Problem) and replayed.parsed.code == "invalid_mfa_code", f"{replayed.parsed!r}")
    print("totp: the same code again is refused (401 invalid_mfa_code)")

    recovery = codes.recovery_codes[0]
    body = MfaLoginRequest(mfa_token=step_up(anonymous, email, password), recovery_code=recovery)
    rescued = complete_mfa.sync_detailed(client=anonymous, body=body)
    check(rescued.status_code == 200, f"a recovery code: status {rescued.status_code}, want 200")
    body = MfaLoginRequest(mfa_token=step_up(anonymous, email, password), recovery_code=recovery)
    spent = complete_mfa.sync_detailed(client=anonymous, body=body)
    check(spent.status_code == 401, f"the same recovery code again: status {spent.status_code}, want 401")
    print("totp: a recovery code works once")


def invitation(base_url: str, anonymous: Client, maildir: str, public_url: str) -> None:
    admin_email = os.environ["PORTCULLIS_ADMIN_EMAIL"]
    admin_password = os.environ["PORTCULLIS_ADMIN_PASSWORD"]
    pair = login.sync_detailed(client=anonymous, body=LoginRequest(email=admin_email, password=admin_password)).parsed
    check(isinstance(pair, TokenPair), f"admin login: {pair!r}")
    assert isinstance(pair, TokenPair)
    admin = AuthenticatedClient(base_url=base_url, token=pair.access_token, raise_on_unexpected_status=True)

    email = f"py-invited-{int(time.time())}-{secrets.token_hex(4)}@example.com"
    invited = create_user.sync_detailed(client=admin, body=NewUser(email=email, invite=True))
    check(invited.status_code == 201 and isinstance(invited.parsed, User), f"invite: status {invited.status_code}")
    assert isinstance(invited.parsed, User)
    check(invited.parsed.email_verified is False, "an invited address is not verified before the link is used")
    both = create_user.sync_detailed(
        client=admin, body=NewUser(email=f"x-{email}", invite=True, password="Lantern-harbor-quartz-6093")
    )
    check(both.status_code == 422, f"a password and an invitation together: status {both.status_code}, want 422")
    print("invite: 201, and 422 for a password with invite")

    token = wait_for_token(maildir, email, "You are invited: choose your password", f"{public_url}/reset-password")
    password = "Osprey-copper-meadow-2218"
    chosen = confirm_password_reset.sync_detailed(
        client=anonymous, body=PasswordResetConfirm(token=token, new_password=password)
    )
    check(chosen.status_code == 204, f"invitation link: status {chosen.status_code}, want 204")
    signed_in = login.sync_detailed(client=anonymous, body=LoginRequest(email=email, password=password)).parsed
    check(isinstance(signed_in, TokenPair), f"the invited user signs in: {signed_in!r}")
    assert isinstance(signed_in, TokenPair)
    me = get_me.sync_detailed(client=AuthenticatedClient(base_url=base_url, token=signed_in.access_token))
    check(isinstance(me.parsed, User) and me.parsed.email_verified is True, f"invited me: {me.parsed!r}")
    print("invite: the mailed link sets the password; the invited user signs in, address verified")
