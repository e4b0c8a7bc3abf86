"""What the external checks that start their own Portcullis share
(jwks_check.py, totp_check.py): a free port, a server started from the
binary on a throwaway SQLite database, plain HTTP calls, and the
`name: ok: ...` / `name: FAILED: ...` lines.

    with serve(binary, "totp", {"PORTCULLIS_MFA_KEY_FILE": key_file}) as (base, server, work):
        status, body = call_json(base, "GET", "/readyz")
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base: str, method: str, path: str, body: object = None, token: str | None = None):
    """One request; (status, headers, raw body), whatever the status."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def call_json(base: str, method: str, path: str, body: object = None, token: str | None = None):
    """One request; (status, the JSON body or None)."""
    status, _, raw = call(base, method, path, body, token)
    return status, json.loads(raw or b"null")


def checker(name: str) -> Callable[[object, str], None]:
    """`expect(condition, what)` for the check `name`: prints `name: ok: what`,
    or exits with `name: FAILED: what`."""

    def expect(condition: object, what: str) -> None:
        if not condition:
            sys.exit(f"{name}: FAILED: {what}")
        print(f"{name}: ok: {what}")

    return expect


@contextlib.contextmanager
def serve(binary: str, name: str, settings: dict[str, str], work: str | None = None) -> Iterator[tuple]:
    """Runs `binary` on a free port of 127.0.0.1 with a SQLite database in
    `work` (a new temporary directory by default), cost-4 bcrypt and only
    `settings` beside, until it is ready; yields (base URL, process, work)
    and stops it at the end. Exits with the server's log if it never gets ready."""
    work = work or tempfile.mkdtemp()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PORTCULLIS_BIND": f"127.0.0.1:{port}",
        "DATABASE_URL": f"sqlite://{work}/{name}.db",
        "PORTCULLIS_BCRYPT_COST": "4",
        "RUST_LOG": "warn",
        **settings,
    }
    log_path = os.path.join(work, "server.log")
    with open(log_path, "w") as log:
        server = subprocess.Popen([binary], cwd=work, env=env, stdout=log, stderr=log)
    try:
        for _ in range(100):
            try:
                if call(base, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            with open(log_path) as log:
                sys.exit(f"{name}: FAILED: the server did not become ready:\n" + log.read())
        yield base, server, work
    finally:
        server.terminate()
        server.wait(timeout=10)
