//! Compliance (`/api/compliance/…`): rules, the dry run and exemptions. The check the pipeline
//! and plugin writes run is [`crate::services::compliance::check`].

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pb_aws::rules::{Conditional, Page as StoredPage, RuleRecord};
use pb_domain::compliance::{
    evaluate, ApprovalError, CompileBudget, Exemption, ExemptionRequest, ExemptionStatus, Rule,
    RuleSpec, Target, MAX_ACTIVE_RULES_PER_ORG, MAX_COMPILED_BYTES_PER_REQUEST, MAX_INLINE_RULES,
};
use pb_domain::plugin::FieldError;
use pb_domain::wire::compliance::{
    ExemptionList, ExemptionView, RuleList, RuleView, ValidateRequest, ValidateResponse,
};

use crate::auth::{Authorized, Caller, ComplianceApprove, ComplianceRead, ComplianceWrite};
use crate::body::JsonBody;
use crate::paging::{ListRequest, PageParams};
use crate::params::{PathParams, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::routes::pipelines::{etag, if_match};
use crate::routes::plugins::now_rfc3339;
use crate::services::compliance::evaluate_stored;
use crate::services::definitions::{check_pipeline, check_plugin};
use crate::state::AppState;
use crate::tokens::random_id;

/// Creates a rule. Its fields must be attributes of its target, its values fit its operators.
#[utoipa::path(post, path = "/api/compliance/rules", tag = "compliance",
    request_body = RuleSpec,
    responses(
        (status = 201, body = RuleView, headers(("Location" = String), ("ETag" = String))),
        (status = 400, body = Problem, description = "The rule is invalid; `errors` names each field path (also when the org's active rules of its target would compile to more than 4 MB)"),
        (status = 403, body = Problem, description = "Missing compliance:write"),
        (status = 409, body = Problem, description = "too_many_rules: the org has 200 active rules"),
    ),
    security(("bearer" = ["compliance:write"])))]
pub async fn create_rule(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ComplianceWrite>,
    JsonBody(spec): JsonBody<RuleSpec>,
) -> Result<Response, ApiError> {
    let id = new_id("rule")?;
    check_org_caps(&state, caller.org(), &id, &spec).await?;
    let now = now_rfc3339();
    let record = RuleRecord {
        org: caller.org().to_string(),
        id,
        version: 1,
        spec,
        created_at: now.clone(),
        created_by: caller.claims.sub.clone(),
        updated_at: now,
        updated_by: caller.claims.sub.clone(),
    };
    state.rules.create(&record).await?;
    let location = format!("/api/compliance/rules/{}", record.id);
    Ok(rule_response(StatusCode::CREATED, Some(&location), record))
}

/// Lists the org's rules in id order.
#[utoipa::path(get, path = "/api/compliance/rules", tag = "compliance",
    params(
        ("target" = Option<Target>, Query, description = "pipeline or plugin"),
        ("active" = Option<bool>, Query),
        PageParams,
    ),
    responses((status = 200, body = RuleList), (status = 400, body = Problem)),
    security(("bearer" = ["compliance:read"])))]
pub async fn list_rules(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ComplianceRead>,
    params: QueryParams,
) -> Result<Json<RuleList>, ApiError> {
    let list = ListRequest::read(
        &state,
        caller.org(),
        params,
        "compliance/rules",
        &["target", "active"],
    )
    .await?;
    let target = list.filter("target").map(parse_target).transpose()?;
    let active = list.filter("active").map(parse_active).transpose()?;
    let keep = |r: &RuleRecord| {
        target.is_none_or(|t| r.spec.target == t) && active.is_none_or(|a| r.spec.active == a)
    };
    let found = state
        .rules
        .list(
            caller.org(),
            list.paging.after.as_deref(),
            list.paging.limit,
            keep,
        )
        .await?;
    let next_cursor = next_cursor(&found, &list, |r| &r.id);
    Ok(Json(RuleList {
        items: found.items.into_iter().map(rule_view).collect(),
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/compliance/rules/{id}", tag = "compliance",
    params(("id" = String, Path)),
    responses((status = 200, body = RuleView, headers(("ETag" = String))), (status = 404, body = Problem)),
    security(("bearer" = ["compliance:read"])))]
pub async fn get_rule(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ComplianceRead>,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    let record = own_rule(&state, &caller, &id).await?;
    Ok(rule_response(StatusCode::OK, None, record))
}

/// Replaces a rule with a new version of it. `If-Match` with the current ETag is required.
#[utoipa::path(put, path = "/api/compliance/rules/{id}", tag = "compliance",
    params(("id" = String, Path), ("If-Match" = String, Header, description = "ETag of the version being replaced")),
    request_body = RuleSpec,
    responses(
        (status = 200, body = RuleView, headers(("ETag" = String))),
        (status = 400, body = Problem, description = "The rule is invalid"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "too_many_rules: activating it would exceed 200 active rules"),
        (status = 412, body = Problem, description = "Changed since that ETag"),
        (status = 428, body = Problem, description = "No If-Match"),
    ),
    security(("bearer" = ["compliance:write"])))]
pub async fn update_rule(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ComplianceWrite>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    JsonBody(spec): JsonBody<RuleSpec>,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?.ok_or(ApiError::PreconditionRequired)?;
    let existing = own_rule(&state, &caller, &id).await?;
    let expected = expected.unwrap_or(existing.version);
    if expected != existing.version {
        return Err(ApiError::PreconditionFailed);
    }
    check_org_caps(&state, caller.org(), &id, &spec).await?;
    let record = RuleRecord {
        version: existing.version + 1,
        spec,
        updated_at: now_rfc3339(),
        updated_by: caller.claims.sub.clone(),
        ..existing
    };
    conditional_outcome(&id, state.rules.replace(&record, expected).await?)?;
    Ok(rule_response(StatusCode::OK, None, record))
}

/// Deletes a rule; with `If-Match`, only the version it names.
#[utoipa::path(delete, path = "/api/compliance/rules/{id}", tag = "compliance",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = Problem),
        (status = 412, body = Problem, description = "Changed since that ETag"),
    ),
    security(("bearer" = ["compliance:write"])))]
pub async fn delete_rule(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ComplianceWrite>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let expected = if_match(&headers)?.flatten();
    if !is_id(&id) {
        return Err(rule_not_found(&id));
    }
    conditional_outcome(&id, state.rules.delete(caller.org(), &id, expected).await?)?;
    Ok(StatusCode::NO_CONTENT)
}

fn conditional_outcome(id: &str, outcome: Conditional) -> Result<(), ApiError> {
    match outcome {
        Conditional::Written => Ok(()),
        Conditional::Missing => Err(rule_not_found(id)),
        Conditional::Stale => Err(ApiError::PreconditionFailed),
    }
}

/// Validates a rule about to be stored as `id`, and, when it is active, the caps every write of
/// the org pays for: at most [`MAX_ACTIVE_RULES_PER_ORG`] active rules (counted before anything
/// compiles), and the org's active rules of the rule's target compiled within one request's
/// budget, since every write of that target evaluates them all.
async fn check_org_caps(
    state: &AppState,
    org: &str,
    id: &str,
    spec: &RuleSpec,
) -> Result<(), ApiError> {
    let mut budget = CompileBudget::per_request();
    let rule = Rule::compile_within(id, spec, &mut budget).map_err(ApiError::InvalidRule)?;
    if !spec.active {
        return Ok(());
    }
    let others: Vec<RuleRecord> = state
        .rules
        .active(org)
        .await?
        .into_iter()
        .filter(|r| r.id != id)
        .collect();
    if others.len() >= MAX_ACTIVE_RULES_PER_ORG {
        return Err(ApiError::TooManyRules {
            limit: MAX_ACTIVE_RULES_PER_ORG,
        });
    }
    // Cached rules cost this request nothing but still count towards what evaluations hold.
    let compiled_bytes: usize = others
        .iter()
        .filter(|r| r.spec.target == spec.target)
        .map(|other| {
            state
                .rule_cache
                .compiled(other, &mut budget)
                .compiled_bytes()
        })
        .sum::<usize>()
        + rule.compiled_bytes();
    if budget.is_exhausted() || compiled_bytes > MAX_COMPILED_BYTES_PER_REQUEST {
        return Err(ApiError::InvalidRule(vec![FieldError {
            field: "active".into(),
            message: format!(
                "the org's active {} rules would compile to more than {} MB in all, the cap \
                 per request; deactivate or simplify a rule",
                spec.target.as_str(),
                MAX_COMPILED_BYTES_PER_REQUEST / (1024 * 1024)
            ),
        }]));
    }
    Ok(())
}

/// Dry run: evaluates the org's rules (or the rules given) against a pipeline definition or a
/// plugin spec without storing anything. The definition is checked as a write would check it.
#[utoipa::path(post, path = "/api/compliance/validate", tag = "compliance",
    request_body = ValidateRequest,
    responses(
        (status = 200, body = ValidateResponse),
        (status = 400, body = Problem, description = "A rule given in `rules` is invalid, there are more than 20, or their regexes compile to more than 4 MB"),
        (status = 422, body = Problem, description = "Invalid definition, or unresolved plugins"),
    ),
    security(("bearer" = ["compliance:read"])))]
pub async fn validate(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ComplianceRead>,
    JsonBody(request): JsonBody<ValidateRequest>,
) -> Result<Json<ValidateResponse>, ApiError> {
    let given_rules = request.rules.as_deref().map(compile_given).transpose()?;
    let (target, attributes, entity) = match (request.pipeline, request.plugin) {
        (Some(pipeline), None) => (
            Target::Pipeline,
            check_pipeline(&state, caller.org(), &pipeline)
                .await?
                .attributes,
            request.entity,
        ),
        (None, Some(plugin)) => {
            let attributes = check_plugin(&state, caller.org(), &plugin)?;
            let entity = request.entity.unwrap_or_else(|| plugin.name.clone());
            (Target::Plugin, attributes, Some(entity))
        }
        _ => {
            return Err(ApiError::Validation(vec![FieldError {
                field: "pipeline".into(),
                message: "give exactly one of pipeline and plugin".into(),
            }]))
        }
    };
    let evaluation = match given_rules {
        Some(rules) => {
            let exemptions = match &entity {
                Some(entity) => state.rules.exemptions_for(caller.org(), entity).await?,
                None => Vec::new(),
            };
            evaluate(
                &rules,
                target,
                entity.as_deref().unwrap_or_default(),
                &attributes,
                chrono::Utc::now(),
                &exemptions,
            )
        }
        None => {
            evaluate_stored(&state, caller.org(), target, entity.as_deref(), &attributes).await?
        }
    };
    Ok(Json(ValidateResponse {
        target,
        compliant: !evaluation.blocks(),
        attributes,
        warnings: evaluation.warnings,
        violations: evaluation.violations,
        exempted: evaluation.exempted,
    }))
}

/// Requests an exemption of one rule for one entity; it takes effect once someone else with
/// compliance:approve approves it.
#[utoipa::path(post, path = "/api/compliance/exemptions", tag = "compliance",
    request_body = ExemptionRequest,
    responses(
        (status = 201, body = ExemptionView),
        (status = 422, body = Problem, description = "Invalid fields, or no such rule"),
    ),
    security(("bearer" = ["compliance:write"])))]
pub async fn create_exemption(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ComplianceWrite>,
    JsonBody(request): JsonBody<ExemptionRequest>,
) -> Result<(StatusCode, Json<ExemptionView>), ApiError> {
    let now = chrono::Utc::now();
    let rule_id = request.rule_id.clone();
    let exemption = Exemption::requested(new_id("exm")?, request, caller.principal(), now)
        .map_err(ApiError::Validation)?;
    if !is_id(&rule_id) || state.rules.get(caller.org(), &rule_id).await?.is_none() {
        return Err(ApiError::Validation(vec![FieldError {
            field: "ruleId".into(),
            message: format!("no rule '{rule_id}' in this org"),
        }]));
    }
    state
        .rules
        .create_exemption(caller.org(), &exemption)
        .await?;
    Ok((StatusCode::CREATED, Json(exemption_view(exemption, now))))
}

/// Lists the org's exemptions in id order.
#[utoipa::path(get, path = "/api/compliance/exemptions", tag = "compliance",
    params(
        ("ruleId" = Option<String>, Query),
        ("entity" = Option<String>, Query),
        ("status" = Option<ExemptionStatus>, Query, description = "pending, approved or expired"),
        PageParams,
    ),
    responses((status = 200, body = ExemptionList), (status = 400, body = Problem)),
    security(("bearer" = ["compliance:read"])))]
pub async fn list_exemptions(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ComplianceRead>,
    params: QueryParams,
) -> Result<Json<ExemptionList>, ApiError> {
    let list = ListRequest::read(
        &state,
        caller.org(),
        params,
        "compliance/exemptions",
        &["ruleId", "entity", "status"],
    )
    .await?;
    let rule_id = list.filter("ruleId");
    let entity = list.filter("entity");
    let status = list
        .filter("status")
        .map(|s| {
            ExemptionStatus::parse(s).ok_or_else(|| ApiError::InvalidParameter {
                name: "status".into(),
                message: "must be pending, approved or expired".into(),
            })
        })
        .transpose()?;
    let now = chrono::Utc::now();
    let keep = |e: &Exemption| {
        rule_id.is_none_or(|r| e.rule_id == r)
            && entity.is_none_or(|n| e.entity == n)
            && status.is_none_or(|s| e.status(now) == s)
    };
    let found = state
        .rules
        .list_exemptions(
            caller.org(),
            list.paging.after.as_deref(),
            list.paging.limit,
            keep,
        )
        .await?;
    let next_cursor = next_cursor(&found, &list, |e| &e.id);
    Ok(Json(ExemptionList {
        items: found
            .items
            .into_iter()
            .map(|e| exemption_view(e, now))
            .collect(),
        next_cursor,
    }))
}

/// Approves an exemption. The requester cannot approve their own.
#[utoipa::path(post, path = "/api/compliance/exemptions/{id}/approve", tag = "compliance",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = ExemptionView),
        (status = 403, body = Problem, description = "Missing compliance:approve, or the caller requested it"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Already approved, or expired"),
    ),
    security(("bearer" = ["compliance:approve"])))]
pub async fn approve_exemption(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ComplianceApprove>,
    PathParams(id): PathParams<String>,
) -> Result<Json<ExemptionView>, ApiError> {
    let not_found = || ApiError::NotFound(format!("exemption '{id}'"));
    if !is_id(&id) {
        return Err(not_found());
    }
    let exemption = state
        .rules
        .get_exemption(caller.org(), &id)
        .await?
        .ok_or_else(not_found)?;
    let now = chrono::Utc::now();
    let approved = exemption
        .approve(caller.principal(), now)
        .map_err(|error| match error {
            ApprovalError::SelfApproval => ApiError::SelfApproval(
                "an exemption cannot be approved by the one who requested it",
            ),
            other => ApiError::Conflict(other.to_string()),
        })?;
    match state.rules.record_approval(caller.org(), &approved).await? {
        Some(stored) => Ok(Json(exemption_view(stored, now))),
        // Approved (or deleted) between the read and the write.
        None => Err(ApiError::Conflict(format!(
            "exemption '{id}' changed while it was being approved; read it again"
        ))),
    }
}

/// Rules given inline to the dry run, validated like stored ones; errors carry `rules[i].`. Too
/// many are refused before any compiles; all compile within one request's budget.
fn compile_given(specs: &[RuleSpec]) -> Result<Vec<Rule>, ApiError> {
    if specs.len() > MAX_INLINE_RULES {
        return Err(ApiError::InvalidRule(vec![FieldError {
            field: "rules".into(),
            message: format!(
                "at most {MAX_INLINE_RULES} rules per request, the cap; {} given",
                specs.len()
            ),
        }]));
    }
    let mut budget = CompileBudget::per_request();
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        match Rule::compile_within(format!("rules[{index}]"), spec, &mut budget) {
            Ok(rule) => rules.push(rule),
            Err(errors) => problems.extend(errors.into_iter().map(|e| FieldError {
                field: format!("rules[{index}].{}", e.field),
                message: e.message,
            })),
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(ApiError::InvalidRule(problems))
    }
}

/// The caller org's rule; another org's answers exactly like a missing one.
async fn own_rule(state: &AppState, caller: &Caller, id: &str) -> Result<RuleRecord, ApiError> {
    if !is_id(id) {
        return Err(rule_not_found(id));
    }
    state
        .rules
        .get(caller.org(), id)
        .await?
        .ok_or_else(|| rule_not_found(id))
}

fn rule_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("rule '{id}'"))
}

/// Ids this API issues: `{kind}-{hex}`. Anything else cannot name a stored item.
fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub fn new_id(kind: &str) -> Result<String, ApiError> {
    random_id()
        .map(|id| format!("{kind}-{id}"))
        .ok_or(ApiError::Internal)
}

fn next_cursor<T>(
    page: &StoredPage<T>,
    list: &ListRequest,
    id: impl Fn(&T) -> &String,
) -> Option<String> {
    match (page.more, page.items.last()) {
        (true, Some(last)) => Some(list.cursor_after(id(last))),
        _ => None,
    }
}

fn parse_target(text: &str) -> Result<Target, ApiError> {
    match text {
        "pipeline" => Ok(Target::Pipeline),
        "plugin" => Ok(Target::Plugin),
        _ => Err(ApiError::InvalidParameter {
            name: "target".into(),
            message: "must be pipeline or plugin".into(),
        }),
    }
}

fn parse_active(text: &str) -> Result<bool, ApiError> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::InvalidParameter {
            name: "active".into(),
            message: "must be true or false".into(),
        }),
    }
}

/// A rule with its `ETag` (and `Location` when created).
fn rule_response(status: StatusCode, location: Option<&str>, record: RuleRecord) -> Response {
    let tag = etag(record.version);
    let mut response = (status, Json(rule_view(record))).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    if let Some(value) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(header::LOCATION, value);
    }
    response
}

fn rule_view(record: RuleRecord) -> RuleView {
    RuleView {
        id: record.id,
        version: record.version,
        spec: record.spec,
        created_at: record.created_at,
        created_by: record.created_by,
        updated_at: record.updated_at,
        updated_by: record.updated_by,
    }
}

fn exemption_view(exemption: Exemption, now: chrono::DateTime<chrono::Utc>) -> ExemptionView {
    ExemptionView {
        status: exemption.status(now),
        exemption,
    }
}
