"""Checks the OpenAPI document beyond what a validator can: the house rules
of issue 6 for a spec that clients are generated from.

    python scripts/external/check_spec.py openapi/openapi.json

Asserts:
- every operation has a unique operationId, a summary and at least one tag;
- every 4xx/5xx response is documented as `application/problem+json` whose
  schema is a `$ref` to the one `Problem` schema (and nothing else);
- the bearer security scheme says `bearerFormat: JWT`;
- every request body carries an example, and that example is valid against
  its own schema (an example missing the password is no example of a login);
- the `Problem` schema does not call a field required that the server omits
  (`errors` is sent only for validation failures).
Prints one line per failure and exits 1 if there is any.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from openapi_schema_validator import OAS30WriteValidator

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PROBLEM_REF = "#/components/schemas/Problem"


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"external $ref {ref}")
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def main(path: str) -> int:
    with open(path, encoding="utf-8") as handle:
        spec = json.load(handle)
    failures: list[str] = []
    counts = {"operations": 0, "error_responses": 0, "request_bodies": 0}
    seen_ids: dict[str, str] = {}

    for route, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            counts["operations"] += 1
            where = f"{method.upper()} {route}"
            operation_id = operation.get("operationId")
            if not operation_id:
                failures.append(f"{where}: no operationId")
            elif operation_id in seen_ids:
                failures.append(f"{where}: operationId {operation_id!r} also used by {seen_ids[operation_id]}")
            else:
                seen_ids[operation_id] = where
            if not str(operation.get("summary", "")).strip():
                failures.append(f"{where}: no summary")
            if not operation.get("tags"):
                failures.append(f"{where}: no tags")

            for status, response in operation.get("responses", {}).items():
                if status[:1] not in {"4", "5"}:
                    continue
                if where == "GET /readyz" and status == "503":
                    # Readiness answers 503 with its documented Readiness
                    # body (which check fails), not with a problem: load
                    # balancers read it. Checked to be exactly that.
                    content = resolve(spec, response).get("content", {})
                    schema = next(iter(content.values()), {}).get("schema", {})
                    if schema.get("$ref") != "#/components/schemas/Readiness":
                        failures.append(f"{where} {status}: expected the Readiness schema")
                    continue
                counts["error_responses"] += 1
                content = resolve(spec, response).get("content", {})
                media = list(content)
                if media != ["application/problem+json"]:
                    failures.append(f"{where} {status}: media types {media}, want only application/problem+json")
                    continue
                schema = content["application/problem+json"].get("schema", {})
                if schema.get("$ref") != PROBLEM_REF:
                    failures.append(f"{where} {status}: schema {schema}, want $ref {PROBLEM_REF}")

            if "requestBody" in operation:
                counts["request_bodies"] += 1
                body = resolve(spec, operation["requestBody"])
                for media_type, media in body.get("content", {}).items():
                    schema = resolve(spec, media.get("schema", {}))
                    example = media.get("example", schema.get("example"))
                    if example is None and media.get("examples"):
                        example = next(iter(media["examples"].values())).get("value")
                    if example is None:
                        failures.append(f"{where} {media_type}: request body has no example")
                        continue
                    # The components travel along, so `#/components/...` resolves.
                    root = {"components": spec.get("components", {}), "allOf": [media.get("schema", {})]}
                    validator = OAS30WriteValidator(root)
                    for error in validator.iter_errors(example):
                        failures.append(f"{where} {media_type}: example {example} breaks its schema: {error.message}")
                    if isinstance(example, dict) and not any(example.values()):
                        failures.append(f"{where} {media_type}: example {example} is empty")

    problem = spec.get("components", {}).get("schemas", {}).get("Problem")
    if problem is None:
        failures.append("components.schemas.Problem is missing")
    elif "errors" in problem.get("required", []):
        failures.append("Problem: `errors` is required, but the server sends it only for validation failures")

    schemes = spec.get("components", {}).get("securitySchemes", {})
    bearer = [s for s in schemes.values() if s.get("type") == "http" and s.get("scheme", "").lower() == "bearer"]
    if not bearer:
        failures.append("no http bearer security scheme")
    for scheme in bearer:
        if scheme.get("bearerFormat") != "JWT":
            failures.append(f"bearer scheme has bearerFormat {scheme.get('bearerFormat')!r}, want 'JWT'")

    for failure in failures:
        print(f"spec: {failure}")
    print(
        f"spec: {counts['operations']} operations, {counts['error_responses']} error responses, "
        f"{counts['request_bodies']} request bodies checked; {len(failures)} problem(s)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "openapi/openapi.json"))
