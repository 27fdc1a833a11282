"""Hooks for scripts/schemathesis.

Each hook fixes up a schema-valid request where the document states a rule in words that
OpenAPI 3.0 cannot express, so the positive checks stay strict everywhere else. Requests
generated to break the schema are left as drawn.

- An Idempotency-Key names one request (SPEC section 5): reusing a key with another body is
  a client error (422 /problems/idempotency-key-reused), and a fuzzer reuses keys from a
  small space, so every schema-valid request gets a key of its own.
- Tag keys match ^[a-z0-9_.-]{1,64}$; OpenAPI 3.0 has no `propertyNames`.
- PUT /v1/data-products/{name} may repeat the name only if it equals the one in the path.
- POST /v1/uploads/{id}/complete lists each part number once.
"""
import re
import uuid

import schemathesis
from schemathesis.generation import GenerationMode

TAG_KEY = re.compile(r"[a-z0-9_.-]{1,64}")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return
    for name in list(case.headers or {}):
        if name.lower() == "idempotency-key":
            case.headers[name] = uuid.uuid4().hex
    body = case.body
    if not isinstance(body, dict):
        return
    tags = body.get("tags")
    if isinstance(tags, dict):
        body["tags"] = {
            key if TAG_KEY.fullmatch(key) else f"tag{i}": value for i, (key, value) in enumerate(tags.items())
        }
    if case.method.upper() == "PUT" and case.path == "/v1/data-products/{name}" and "name" in body:
        body["name"] = (case.path_parameters or {}).get("name")
    parts = body.get("parts")
    if case.path == "/v1/uploads/{id}/complete" and isinstance(parts, list):
        for number, part in enumerate(parts, start=1):
            if isinstance(part, dict):
                part["partNumber"] = number
