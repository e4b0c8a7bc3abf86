#!/usr/bin/env python3
"""Times POST /v1/auth/password-reset for a known and an unknown address.

Against a running Portcullis with a mailer (PORTCULLIS_URL, default
http://127.0.0.1:8080), registers one account, then alternates 200
requests for it and 200 for fresh unknown addresses, and fails when the
medians differ by 5 ms or more, or when any answer differs in status or
body. Raise PORTCULLIS_LIMITS__AUTH__* on the service first: 400 requests
from one address exceed the default auth limit. The per-address budget
(3 links an hour) drops most of the known address's requests silently,
which is the point: dropped or sent, the answer is the same.

`bash scripts/external-checks.sh reset-timing` runs it (by default, with
every other check) against the server the external checks start, whose auth
limits are raised and whose mail goes to a real SMTP server.
"""
import json
import os
import statistics
import sys
import time
import urllib.request
import uuid

URL = os.environ.get("PORTCULLIS_URL", "http://127.0.0.1:8080").rstrip("/")
TRIES = 200
LIMIT_MS = 5.0


def post(path, body):
    request = urllib.request.Request(
        URL + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    return status, text, (time.perf_counter() - started) * 1000


def main():
    known = f"timing-{uuid.uuid4().hex[:12]}@example.com"
    status, text, _ = post("/v1/auth/register", {"email": known, "password": "correct-Horse-battery-staple-42"})
    if status != 201:
        sys.exit(f"registration failed: {status} {text!r}")
    answers, times = set(), {"known": [], "unknown": []}
    for _ in range(TRIES):
        for kind, email in (("known", known), ("unknown", f"nobody-{uuid.uuid4().hex[:12]}@example.com")):
            status, text, ms = post("/v1/auth/password-reset", {"email": email})
            answers.add((status, text))
            times[kind].append(ms)
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    gap = abs(medians["known"] - medians["unknown"])
    print(f"median known {medians['known']:.2f} ms, unknown {medians['unknown']:.2f} ms, gap {gap:.2f} ms")
    if len(answers) != 1:
        sys.exit(f"answers differ: {answers}")
    if next(iter(answers))[0] != 202:
        sys.exit(f"expected 202, got {answers}")
    if gap >= LIMIT_MS:
        sys.exit(f"the medians differ by {gap:.2f} ms (limit {LIMIT_MS} ms)")


if __name__ == "__main__":
    main()
