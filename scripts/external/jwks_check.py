"""Public-key tokens checked by a JWT library that is not ours (PyJWT).

Starts Portcullis on a key ring read from a file (PORTCULLIS_SECRETS=file):
an EdDSA key active and an ES256 key staged verify-only. It signs in, and
PyJWT's PyJWKClient fetches /.well-known/jwks.json and verifies the EdDSA
access token. Then the ring file promotes the ES256 key, a SIGHUP makes the
service re-read it, and a fresh token, now ES256, verifies the same way.
Last, the EdDSA key is retired: the JWKS no longer lists it, and a token it
signed no longer verifies with PyJWT nor at /v1/auth/verify.

    python jwks_check.py BINARY
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import jwt
from checklib import call, checker, serve

PASSWORD = "Jwks-external-Check-2024-long"
expect = checker("jwks")


def generate(binary, alg, kid, state):
    out = subprocess.run(
        [binary, "keys", "generate", "--alg", alg, "--kid", kid, "--state", state],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def write_ring(path, keys):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"keys": keys}, f)
    os.replace(tmp, path)


def login(base, email):
    status, _, body = call(base, "POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
    expect(status == 200, f"login answers 200 (got {status})")
    return json.loads(body)["access_token"]


def verify_with_pyjwt(base, token, alg):
    client = jwt.PyJWKClient(base + "/.well-known/jwks.json", cache_keys=False, cache_jwk_set=False)
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=[alg], audience="portcullis-api", issuer="portcullis")
    return claims


def wait_for_kid(base, email, kid):
    deadline = time.time() + 10
    while time.time() < deadline:
        token = login(base, email)
        if jwt.get_unverified_header(token).get("kid") == kid:
            return token
        time.sleep(0.2)
    sys.exit(f"jwks: FAILED: the service never signed with {kid} after SIGHUP")


def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp()
    ring = os.path.join(work, "ring.json")
    ed = generate(binary, "eddsa", "ed-1", "active")
    es = generate(binary, "es256", "es-1", "verify-only")
    write_ring(ring, [ed, es])
    settings = {"PORTCULLIS_SECRETS": "file", "PORTCULLIS_JWT_KEYS_FILE": ring}
    with serve(binary, "jwks", settings, work) as (base, server, _):
        status, headers, body = call(base, "GET", "/.well-known/jwks.json")
        published = json.loads(body)["keys"]
        expect(status == 200, "GET /.well-known/jwks.json answers 200")
        expect(
            sorted((k["kid"], k["alg"], k["use"]) for k in published) == [("ed-1", "EdDSA", "sig"), ("es-1", "ES256", "sig")],
            "the JWKS lists the active EdDSA key and the staged ES256 key",
        )
        expect(all("d" not in k for k in published), "the JWKS holds no private part")
        expect("max-age=" in headers.get("Cache-Control", headers.get("cache-control", "")), "the JWKS says how long to cache it")

        email = "jwks-check@example.com"
        status, _, _ = call(base, "POST", "/v1/auth/register", {"email": email, "password": PASSWORD})
        expect(status == 201, f"register answers 201 (got {status})")
        ed_token = login(base, email)
        expect(jwt.get_unverified_header(ed_token)["alg"] == "EdDSA", "the first token is signed with EdDSA")
        claims = verify_with_pyjwt(base, ed_token, "EdDSA")
        expect(claims["aud"] == "portcullis-api", "PyJWT verifies the EdDSA token through the JWKS")

        ed["state"], es["state"] = "verify-only", "active"
        write_ring(ring, [ed, es])
        server.send_signal(signal.SIGHUP)
        es_token = wait_for_kid(base, email, "es-1")
        expect(jwt.get_unverified_header(es_token)["alg"] == "ES256", "after promotion and SIGHUP tokens are ES256")
        claims = verify_with_pyjwt(base, es_token, "ES256")
        expect(claims["aud"] == "portcullis-api", "PyJWT verifies the ES256 token through the JWKS")
        claims = verify_with_pyjwt(base, ed_token, "EdDSA")
        expect(claims["sub"], "the EdDSA token still verifies while its key is verify-only")

        write_ring(ring, [es])
        server.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline:
            kids = [k["kid"] for k in json.loads(call(base, "GET", "/.well-known/jwks.json")[2])["keys"]]
            if kids == ["es-1"]:
                break
            time.sleep(0.2)
        expect(kids == ["es-1"], "after retirement the JWKS lists only the ES256 key")
        try:
            verify_with_pyjwt(base, ed_token, "EdDSA")
            sys.exit("jwks: FAILED: PyJWT still verified a token of the retired key")
        except jwt.exceptions.PyJWKClientError:
            print("jwks: ok: PyJWT finds no key for the retired kid")
        status, _, _ = call(base, "GET", "/v1/auth/verify", token=ed_token)
        expect(status == 401, "the service refuses the retired key's token")


if __name__ == "__main__":
    main()
