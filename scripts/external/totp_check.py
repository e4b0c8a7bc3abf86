"""The TOTP second factor checked with a TOTP implementation that is not ours (pyotp).

Starts Portcullis with PORTCULLIS_MFA_KEY_FILE and the default lockout (five
failures per account and address). A user registers, enrols, and pyotp reads
the otpauth:// URI the service returns; its code confirms the enrolment.
Then: a login answers 401 mfa_required with an mfa_token, pyotp's code
completes it (amr says pwd and otp), the same code is refused the second
time, a recovery code works once and only once, and wrong codes lock the
account: after them even the right password answers 429.

    python totp_check.py BINARY
"""

import base64
import json
import os
import sys
import tempfile
import time

import pyotp
from checklib import call_json as call
from checklib import checker, serve

PASSWORD = "Totp-external-Check-2024-long"
expect = checker("totp")


def claims(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def mfa_token(base, email):
    status, body = call(base, "POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
    expect(status == 401 and body["code"] == "mfa_required", f"the login answers 401 mfa_required (got {status})")
    return body["mfa_token"]


def next_code(totp):
    """A code for a step after the one used last: pyotp's for the next step."""
    return totp.at(time.time() + totp.interval)


def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp()
    key_file = os.path.join(work, "mfa.key")
    with open(key_file, "w") as f:
        f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    settings = {
        "PORTCULLIS_JWT_KEYS": "totp-external-check-signing-key-0123456789abcdef",
        "PORTCULLIS_MFA_KEY_FILE": key_file,
        "PORTCULLIS_LIMITS__AUTH__PER_MINUTE": "100000",
        "PORTCULLIS_LIMITS__AUTH__BURST": "100000",
    }
    with serve(binary, "totp", settings, work) as (base, _, _):
        email = "totp-check@example.com"
        status, _ = call(base, "POST", "/v1/auth/register", {"email": email, "password": PASSWORD})
        expect(status == 201, f"register answers 201 (got {status})")
        status, body = call(base, "POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
        access = body["access_token"]
        expect(claims(access)["amr"] == ["pwd"], "a password-only token says amr [pwd]")

        status, enrolment = call(base, "POST", "/v1/users/me/mfa/totp", token=access)
        expect(status == 201, f"enrolment answers 201 (got {status})")
        totp = pyotp.parse_uri(enrolment["otpauth_uri"])
        expect(totp.secret == enrolment["secret"], "pyotp reads the otpauth:// URI and its secret")
        expect((totp.digits, totp.interval, totp.issuer) == (6, 30, "portcullis"), "six digits, 30 s, the issuer")

        status, body = call(base, "POST", "/v1/users/me/mfa/totp/confirm", {"code": "000000"}, token=access)
        expect(status == 422 or totp.verify("000000"), "a wrong code does not confirm")
        status, body = call(base, "POST", "/v1/users/me/mfa/totp/confirm", {"code": totp.now()}, token=access)
        expect(status == 200 and len(body["recovery_codes"]) == 10, "pyotp's code confirms; ten recovery codes")
        recovery = body["recovery_codes"]

        token = mfa_token(base, email)
        code = next_code(totp)
        status, body = call(base, "POST", "/v1/auth/mfa", {"mfa_token": token, "code": code})
        expect(status == 200, f"pyotp's code completes the sign-in (got {status})")
        expect(claims(body["access_token"])["amr"] == ["pwd", "otp"], "the token says amr [pwd, otp]")

        token = mfa_token(base, email)
        status, body = call(base, "POST", "/v1/auth/mfa", {"mfa_token": token, "code": code})
        expect(status == 401 and body["code"] == "invalid_mfa_code", "the same code is refused when replayed")

        status, body = call(base, "POST", "/v1/auth/mfa", {"mfa_token": token, "recovery_code": recovery[0]})
        expect(status == 200, "a recovery code signs in")
        token = mfa_token(base, email)
        status, body = call(base, "POST", "/v1/auth/mfa", {"mfa_token": token, "recovery_code": recovery[0]})
        expect(status == 401 and body["code"] == "invalid_mfa_code", "the recovery code does not work twice")

        # That refusal was the first failure; four more reach the default five.
        valid = {totp.at(time.time() + offset * 30) for offset in (-1, 0, 1)}
        wrong = next(c for c in (str(d) * 6 for d in range(10)) if c not in valid)
        for attempt in range(4):
            status, body = call(base, "POST", "/v1/auth/mfa", {"mfa_token": token, "code": wrong})
            expect(status == 401 and body["code"] == "invalid_mfa_code", f"wrong code {attempt + 2} is refused")
        status, body = call(base, "POST", "/v1/auth/mfa", {"mfa_token": token, "code": totp.now()})
        expect(status == 429, f"after five failures even a right code is locked out (got {status})")
        status, body = call(base, "POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
        expect(status == 429 and body["code"] == "rate_limited", "and so is the right password")


if __name__ == "__main__":
    main()
