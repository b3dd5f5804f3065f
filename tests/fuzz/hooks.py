"""Schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS by tests/src/bin/fuzz.rs).

`schema_valid_request_accepted` is schemathesis's `positive_data_acceptance`, except for the
refusals no schema can describe, each recognised by the request value that causes it and the
problem the API answers with:

- a `cursor` that is not the `nextCursor` of an earlier page of the same query (cursors are
  signed and bound to their query): 400 `invalid_cursor`;
- an `If-Match` that does not name the resource's current version: 412;
- a report range longer than the API reads or ending before it starts: its limit is relative to
  today and spans two parameters, so `from`/`to` only carry the format: 400 naming `from`.

Any other refusal of a schema-valid request still fails the run. A body is judged only when it
really is valid against its schema: schemathesis's coverage phase sometimes labels a body positive
that is not (it mixes the properties of `oneOf` variants, e.g. an `image` on a manual approval).
"""

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

REPORT_RANGE_REFUSALS = ("a report covers at most", "is after the end of the range")


@schemathesis.check
def schema_valid_request_accepted(ctx, response, case):
    if refused_by_design(case, response) or not body_is_schema_valid(case):
        return None
    return positive_data_acceptance(ctx, response, case)


def body_is_schema_valid(case):
    if not case.operation.body:
        return True
    validator = case.operation.schema.adapter.jsonschema_validator_cls
    # The check is pinned with schemathesis in requirements-fuzz.txt: this is not public API.
    return case._validate_component(ParameterLocation.BODY, case.body, validator)


def refused_by_design(case, response):
    problem = problem_of(response)
    query = case.query or {}
    headers = case.headers or {}
    if response.status_code == 412:
        return "If-Match" in headers
    if response.status_code != 400:
        return False
    if problem.get("code") == "invalid_cursor":
        return "cursor" in query
    detail = problem.get("detail", "")
    return (
        problem.get("code") == "invalid_parameter"
        and detail.startswith("parameter 'from': ")
        and any(refusal in detail for refusal in REPORT_RANGE_REFUSALS)
    )


def problem_of(response):
    try:
        problem = response.json()
    except ValueError:
        return {}
    return problem if isinstance(problem, dict) else {}
