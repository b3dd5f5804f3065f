"""Schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS by tests/src/bin/fuzz.rs).

`schema_valid_request_accepted` is schemathesis's `positive_data_acceptance`, except for the
refusals no schema can describe, each recognised by the status and problem the API answers with:

- a `cursor` that is not the `nextCursor` of an earlier page of the same query (cursors are
  signed and bound to their query): 400 `invalid_cursor`;
- an `If-Match` that does not name the resource's current version: 412;
- a report range longer than the API reads or ending before it starts: its limit is relative to
  today and spans two parameters, so `from`/`to` only carry the format: 400 naming `from`;
- a reference to stored data that does not exist: a pipeline step naming no published plugin
  (422 `unresolved_plugins`, a well-formed range that matches nothing), an exemption for a rule
  the org does not have;
- an exemption expiring outside the coming year, a window that moves with the clock;
- a pipeline holding a `{{ … }}` template: whether it expands, and to what, depends on the
  `vars` it names, so the document admits any template and the API judges its expansion;
- a name listed twice where names must be unique (stage and step names of a pipeline, secret
  names of a plugin): JSON Schema's `uniqueItems` compares whole items, not one key of them;
- a tag key the platform or AWS reserves (`PIPELINE_EVENT_ID`, `pipeline-builder*`, `aws:*`, any
  case) and a stage named `Source` (the stage the platform adds): the document's schema model has
  no `not`, and a regex without lookahead cannot exclude a prefix;
- how a pipeline's steps relate to each other and to their plugins: `parallel` on the first step
  of its position, an `inputs` entry naming an unknown or later step or one without an output, a
  `requiredMetadata` key of the resolved plugin missing from the step (422 naming the step);
- what only synthesis refuses (`/api/pipelines/synth`, which takes the same definitions a write
  stores): a GitHub source with only a token secret, a step env key that is no shell variable
  name, approval metadata longer than CodePipeline's CustomData, a secret's variable the step
  already sets, CodePipeline's and CloudFormation's size limits.

A YAML body is not judged when the API reads one of its strings as a number: schemathesis writes
YAML 1.1 and leaves strings such as `0o10` unquoted, which YAML 1.2 (what the API reads) resolves
to numbers; that is the client's serialisation, not the document.

- a rule's regex: the document states its length and that it is a regex, not the regex crate's
  syntax or how large it compiles (64 KB a pattern, 4 MB for the rules of one request or of one
  org's target): 400 `invalid_rule` on a `value` for those reasons only;
- a rule's `effectiveUntil` not after its `effectiveFrom` (two fields): 400 naming
  `effectiveUntil`;
- the org's active rules: 409 `too_many_rules` when it has 200, and 403 `compliance_violation`
  when a pipeline or plugin write breaks a rule (which the run itself may have stored).

Any other refusal of a schema-valid request fails the run. A body is judged only when it really
is valid against its schema: schemathesis's coverage phase sometimes labels a body positive that
is not (it mixes the properties of `oneOf` variants, e.g. an `image` on a manual approval).
"""

import json

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

RULE_REFUSALS = {
    "value": ("not a valid regex", "compiles to more than", "compile to more than"),
    "effectiveUntil": ("must be later than effectiveFrom",),
}
REPORT_RANGE_REFUSALS = ("a report covers at most", "is after the end of the range")
# What a schema cannot say of a notification channel: which hosts and addresses are internal,
# which account a topic is in, and that a subscription filters by pipeline or by project.
CHANNEL_REFUSALS = (
    "must not name",
    "webhook allowlist",
    "has no valid host",
    "the platform's own account",
    "not both",
    "no topic tagged",
)
DUPLICATE_NAME_REFUSALS = ("duplicate stage name", "duplicate step name", "is listed twice", "is declared twice")
STEP_RELATION_REFUSALS = (
    "reserved: PIPELINE_EVENT_ID",
    "must be 'true' or 'false'",
    "is the pipeline's source stage",
    "runs a step beside the one listed before it",
    "no stage named",
    "no step named",
    "is not an earlier stage's step",
    "does not run before this step",
    "produces no output",
    "which requires the metadata key",
)
SYNTH_REFUSALS = (
    "deprecated GitHub",
    "must be a shell variable name",
    "would be the variable",
    "CustomData",
    "CodePipeline allows at most",
    "CloudFormation allows",
)
EXEMPTION_REFUSALS = {
    "ruleId": ("no rule ",),
    "expiresAt": ("must be in the future", "days from now"),
}


@schemathesis.check
def schema_valid_request_accepted(ctx, response, case):
    if refused_by_design(case, response) or not body_is_schema_valid(case):
        return None
    return positive_data_acceptance(ctx, response, case)


def body_is_schema_valid(case):
    if not case.operation.body:
        return True
    validator = case.operation.schema.adapter.jsonschema_validator_cls
    # Not public API; schemathesis is pinned in requirements-fuzz.txt.
    return case._validate_component(ParameterLocation.BODY, case.body, validator)


def refused_by_design(case, response):
    problem = problem_of(response)
    code = problem.get("code")
    if response.status_code == 412:
        return "If-Match" in (case.headers or {})
    if response.status_code == 400 and code == "invalid_cursor":
        return "cursor" in (case.query or {})
    if response.status_code == 400 and code == "malformed_body" and sent_as_yaml(case):
        return mentions(problem.get("detail", ""), ("invalid type: integer", "invalid type: floating point"))
    if response.status_code == 400 and code == "invalid_parameter":
        detail = problem.get("detail", "")
        return detail.startswith("parameter 'from': ") and mentions(detail, REPORT_RANGE_REFUSALS)
    if response.status_code == 422 and code == "unresolved_plugins":
        return not any(mentions(e.get("message", ""), ("invalid version range",)) for e in errors_of(problem))
    if response.status_code == 422 and judges_pipeline(case) and holds_template(case):
        return True
    if response.status_code == 422 and code == "validation_failed" and all_errors(problem, duplicate_name):
        return True
    if response.status_code == 422 and code == "validation_failed" and judges_pipeline(case):
        return all_errors(problem, step_relation_refusal if case.operation.path != "/api/pipelines/synth" else synth_refusal)
    if response.status_code == 422 and case.operation.path == "/api/compliance/exemptions":
        return all_errors(problem, exemption_refusal)
    if response.status_code == 400 and code == "invalid_rule":
        return all_errors(problem, rule_refusal)
    if response.status_code == 422 and code == "validation_failed" and case.operation.path.startswith("/api/notifications"):
        return all_errors(problem, channel_refusal)
    if response.status_code == 409 and code == "too_many_rules":
        return True
    if response.status_code == 403 and code == "compliance_violation":
        return True
    return False


def duplicate_name(error):
    return mentions(error.get("message", ""), DUPLICATE_NAME_REFUSALS)


def step_relation_refusal(error):
    return mentions(error.get("message", ""), STEP_RELATION_REFUSALS)


def synth_refusal(error):
    return step_relation_refusal(error) or duplicate_name(error) or mentions(error.get("message", ""), SYNTH_REFUSALS)


def channel_refusal(error):
    return mentions(error.get("message", ""), CHANNEL_REFUSALS)


def exemption_refusal(error):
    return mentions(error.get("message", ""), EXEMPTION_REFUSALS.get(error.get("field"), ()))


def rule_refusal(error):
    # Inline rules and conditions prefix the field: `rules[0].conditions[2].value`.
    field = error.get("field", "").rsplit(".", 1)[-1]
    return mentions(error.get("message", ""), RULE_REFUSALS.get(field, ()))


def all_errors(problem, refusal):
    errors = errors_of(problem)
    return bool(errors) and all(refusal(error) for error in errors)


def judges_pipeline(case):
    path = case.operation.path
    return path.startswith("/api/pipelines") or (path == "/api/compliance/validate" and "pipeline" in (case.body or {}))


def holds_template(case):
    return "{{" in json.dumps(case.body, default=str)


def sent_as_yaml(case):
    return "yaml" in (case.media_type or "")


def mentions(text, phrases):
    return any(phrase in text for phrase in phrases)


def errors_of(problem):
    errors = problem.get("errors")
    return errors if isinstance(errors, list) else []


def problem_of(response):
    try:
        problem = response.json()
    except ValueError:
        return {}
    return problem if isinstance(problem, dict) else {}
