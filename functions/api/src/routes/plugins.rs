//! The plugin catalog routes (`/api/plugins…`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::Json;
use pb_aws::plugins::{PluginRecord, PublishError, StatusChange};
use pb_domain::compliance::Target;
use pb_domain::plugin::{
    names_to_load, resolve_batch, AccessModifier, FieldError, LookupOutcome, PluginSpec,
    RequestedPlugin, MAX_LOOKUP_REFERENCES,
};
use pb_domain::wire::plugins::{PluginList, PluginSummary, PluginVersion, Source, VersionList};
use semver::Version;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Authorized, Caller, PluginsCreate, PluginsPublish, PluginsRead, PluginsUpdate};
use crate::body::{JsonBody, JsonOrYaml};
use crate::paging::{ListRequest, Order, Page, PageParams};
use crate::params::{PathParams, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::services::compliance;
use crate::services::definitions::check_plugin;
use crate::state::AppState;

pub(crate) const MAX_DEPRECATION_MESSAGE_CHARS: usize = 1024;

/// Lifecycle flags of a version; at least one must be given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusPatch {
    /// Inactive versions are skipped by lookup.
    pub active: Option<bool>,
    /// Deprecated versions still resolve; the flag warns their users.
    pub deprecated: Option<bool>,
    pub deprecation_message: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    pub plugins: Vec<RequestedPlugin>,
}

/// Publishes a new plugin version (JSON, or `plugin-spec.yaml` as `application/yaml`).
#[utoipa::path(post, path = "/api/plugins", tag = "plugins",
    request_body(content((PluginSpec = "application/json"), (PluginSpec = "application/yaml"))),
    responses(
        (status = 201, body = PluginVersion, description = "Published"),
        (status = 403, body = Problem, description = "Missing plugins:create, or plugins:publish for a public plugin, or a compliance rule blocks it"),
        (status = 409, body = Problem, description = "This version already exists, or another org owns this public name"),
        (status = 422, body = Problem, description = "Invalid fields"),
    ),
    security(("bearer" = ["plugins:create"])))]
pub async fn publish(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PluginsCreate>,
    JsonOrYaml(spec): JsonOrYaml<PluginSpec>,
) -> Result<(StatusCode, HeaderMap, Json<PluginVersion>), ApiError> {
    if spec.access_modifier == AccessModifier::Public {
        caller.require(<PluginsPublish as crate::auth::Permission>::NAME)?;
    }
    let attributes = check_plugin(&state, caller.org(), &spec)?;
    let warnings = compliance::check(
        &state,
        caller.org(),
        Target::Plugin,
        &spec.name,
        &attributes,
    )
    .await?;
    let record = PluginRecord {
        org: caller.org().to_string(),
        spec,
        deprecated: false,
        deprecation_message: None,
        published_at: now_rfc3339(),
        published_by: caller.claims.sub.clone(),
    };
    state.catalog.publish(&record).await.map_err(|e| match e {
        PublishError::AlreadyExists { .. } | PublishError::PublicNameTaken { .. } => {
            ApiError::Conflict(e.to_string())
        }
        PublishError::Aws(aws) => ApiError::Aws(aws),
    })?;
    let mut headers = HeaderMap::new();
    let location = format!("/api/plugins/{}/{}", record.spec.name, record.spec.version);
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    let view = PluginVersion {
        compliance_warnings: warnings,
        ..version_view(&caller, record)
    };
    Ok((StatusCode::CREATED, headers, Json(view)))
}

/// Lists the latest version of each plugin visible to the caller: its own, then the public
/// catalog (an own plugin hides a public one of the same name, as in lookup).
#[utoipa::path(get, path = "/api/plugins", tag = "plugins",
    params(
        ("category" = Option<String>, Query, description = "Exact category, case-insensitive"),
        ("keyword" = Option<String>, Query, description = "A keyword the plugin lists, case-insensitive"),
        PageParams,
    ),
    responses((status = 200, body = PluginList), (status = 400, body = Problem)),
    security(("bearer" = ["plugins:read"])))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PluginsRead>,
    params: QueryParams,
) -> Result<Json<PluginList>, ApiError> {
    let list = ListRequest::read(
        &state,
        caller.org(),
        params,
        "plugins",
        &["category", "keyword"],
    )
    .await?;
    let category = list.filter("category").map(str::to_lowercase);
    let keyword = list.filter("keyword").map(str::to_lowercase);
    let own = state.catalog.org_plugins(caller.org()).await?;
    let public = state.catalog.public_plugins().await?;
    let summaries: Vec<PluginSummary> = visible_by_name(caller.org(), own, public)
        .into_values()
        .filter_map(|(source, versions)| latest(&versions).map(|r| summary(source, r)))
        .filter(|s| {
            category
                .as_ref()
                .is_none_or(|c| s.category.to_lowercase() == *c)
        })
        .filter(|s| {
            keyword
                .as_ref()
                .is_none_or(|k| s.keywords.iter().any(|w| w.to_lowercase() == *k))
        })
        .collect();
    let order = Order {
        key: |s: &PluginSummary| s.name.clone(),
        is_after: |s: &PluginSummary, after: &str| s.name.as_str() > after,
    };
    let Page { items, next_cursor } = list.page(summaries, order);
    Ok(Json(PluginList { items, next_cursor }))
}

/// Lists the versions of one plugin, newest first.
#[utoipa::path(get, path = "/api/plugins/{name}", tag = "plugins",
    params(
        ("name" = String, Path),
        PageParams,
    ),
    responses((status = 200, body = VersionList), (status = 404, body = Problem)),
    security(("bearer" = ["plugins:read"])))]
pub async fn versions(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PluginsRead>,
    PathParams(name): PathParams<String>,
    params: QueryParams,
) -> Result<Json<VersionList>, ApiError> {
    let list = ListRequest::read(
        &state,
        caller.org(),
        params,
        &format!("plugins/{name}"),
        &[],
    )
    .await?;
    let mut records = visible_versions(&state, &caller, &name).await?;
    if records.is_empty() {
        return Err(ApiError::NotFound(format!("plugin '{name}'")));
    }
    records.sort_by_key(|r| std::cmp::Reverse(version_of(r)));
    let views: Vec<PluginVersion> = records
        .into_iter()
        .map(|r| version_view(&caller, r))
        .collect();
    let order = Order {
        key: |v: &PluginVersion| v.spec.version.clone(),
        is_after: |v: &PluginVersion, after: &str| {
            Version::parse(after).is_ok_and(|after| parse_or_zero(&v.spec.version) < after)
        },
    };
    let Page { items, next_cursor } = list.page(views, order);
    Ok(Json(VersionList {
        name,
        items,
        next_cursor,
    }))
}

/// One version: the caller's own, else the public one of the name's owner.
#[utoipa::path(get, path = "/api/plugins/{name}/{version}", tag = "plugins",
    params(("name" = String, Path), ("version" = String, Path, description = "Exact semver")),
    responses((status = 200, body = PluginVersion), (status = 404, body = Problem)),
    security(("bearer" = ["plugins:read"])))]
pub async fn get_version(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PluginsRead>,
    PathParams((name, version)): PathParams<(String, String)>,
) -> Result<Json<PluginVersion>, ApiError> {
    let parsed = parse_version_param(&version)?;
    let own = state.catalog.get(caller.org(), &name, &parsed).await?;
    let found = match own {
        Some(record) => Some(record),
        None => state
            .catalog
            .public_versions(&name)
            .await?
            .into_iter()
            .find(|r| r.org != caller.org() && version_of(r) == parsed),
    };
    found
        .map(|record| Json(version_view(&caller, record)))
        .ok_or_else(|| ApiError::NotFound(format!("plugin '{name}' version {version}")))
}

/// Activates, deactivates or deprecates one of the org's own versions. The spec itself is
/// immutable.
#[utoipa::path(patch, path = "/api/plugins/{name}/{version}", tag = "plugins",
    params(("name" = String, Path), ("version" = String, Path)),
    request_body = StatusPatch,
    responses((status = 200, body = PluginVersion), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = ["plugins:update"])))]
pub async fn update_status(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PluginsUpdate>,
    PathParams((name, version)): PathParams<(String, String)>,
    JsonBody(patch): JsonBody<StatusPatch>,
) -> Result<Json<PluginVersion>, ApiError> {
    let parsed = parse_version_param(&version)?;
    let change = status_change(patch)?;
    state
        .catalog
        .set_status(caller.org(), &name, &parsed, &change)
        .await?
        .map(|record| Json(version_view(&caller, record)))
        .ok_or_else(|| ApiError::NotFound(format!("plugin '{name}' version {version}")))
}

/// Resolves a batch of references the way plugin-lookup does; every reference gets an answer.
#[utoipa::path(post, path = "/api/plugins/lookup", tag = "plugins",
    request_body = LookupRequest,
    responses((status = 200, body = LookupOutcome), (status = 422, body = Problem)),
    security(("bearer" = ["plugins:read"])))]
pub async fn lookup(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PluginsRead>,
    JsonBody(request): JsonBody<LookupRequest>,
) -> Result<Json<LookupOutcome>, ApiError> {
    let count = request.plugins.len();
    if count == 0 || count > MAX_LOOKUP_REFERENCES {
        return Err(ApiError::Validation(vec![FieldError {
            field: "plugins".into(),
            message: format!("must list 1 to {MAX_LOOKUP_REFERENCES} references, got {count}"),
        }]));
    }
    let candidates = state
        .catalog
        .candidates(caller.org(), &names_to_load(&request.plugins))
        .await?;
    Ok(Json(resolve_batch(
        &request.plugins,
        caller.org(),
        &candidates,
    )))
}

/// Visible records grouped by name, each name from one tier: the caller's own versions when it
/// has any, otherwise the other orgs' public ones.
fn visible_by_name(
    org: &str,
    own: Vec<PluginRecord>,
    public: Vec<PluginRecord>,
) -> BTreeMap<String, (Source, Vec<PluginRecord>)> {
    let mut by_name: BTreeMap<String, (Source, Vec<PluginRecord>)> = BTreeMap::new();
    for record in own {
        by_name
            .entry(record.spec.name.clone())
            .or_insert((Source::Org, Vec::new()))
            .1
            .push(record);
    }
    for record in public.into_iter().filter(|r| r.org != org) {
        let (source, records) = by_name
            .entry(record.spec.name.clone())
            .or_insert((Source::Public, Vec::new()));
        if *source == Source::Public {
            records.push(record);
        }
    }
    by_name
}

async fn visible_versions(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<Vec<PluginRecord>, ApiError> {
    let own = state.catalog.own_versions(caller.org(), name).await?;
    if !own.is_empty() {
        return Ok(own);
    }
    // Only the name's owner's versions: one org, so no version appears twice.
    Ok(state
        .catalog
        .public_versions(name)
        .await?
        .into_iter()
        .filter(|r| r.org != caller.org())
        .collect())
}

/// The version `latest` would resolve to (active, not a prerelease), or else the highest one, so
/// that a plugin whose versions are all inactive still shows up, marked inactive.
fn latest(records: &[PluginRecord]) -> Option<&PluginRecord> {
    records.iter().max_by_key(|r| {
        let version = version_of(r);
        (r.spec.active && version.pre.is_empty(), version)
    })
}

fn summary(source: Source, record: &PluginRecord) -> PluginSummary {
    let spec = &record.spec;
    PluginSummary {
        name: spec.name.clone(),
        latest_version: spec.version.clone(),
        description: spec.description.clone(),
        category: spec.category.clone(),
        keywords: spec.keywords.clone(),
        plugin_type: spec.plugin_type,
        compute_type: spec.compute_type,
        access_modifier: spec.access_modifier,
        active: spec.active,
        deprecated: record.deprecated,
        source,
        published_at: record.published_at.clone(),
    }
}

fn version_view(caller: &Caller, record: PluginRecord) -> PluginVersion {
    let own = record.org == caller.org();
    PluginVersion {
        source: if own { Source::Org } else { Source::Public },
        published_by: own.then_some(record.published_by),
        spec: record.spec,
        deprecated: record.deprecated,
        deprecation_message: record.deprecation_message,
        published_at: record.published_at,
        compliance_warnings: Vec::new(),
    }
}

fn status_change(patch: StatusPatch) -> Result<StatusChange, ApiError> {
    let mut problems = Vec::new();
    if patch.active.is_none() && patch.deprecated.is_none() && patch.deprecation_message.is_none() {
        problems.push(FieldError {
            field: String::new(),
            message: "give at least one of active, deprecated, deprecationMessage".into(),
        });
    }
    if let Some(message) = &patch.deprecation_message {
        if message.chars().count() > MAX_DEPRECATION_MESSAGE_CHARS {
            problems.push(FieldError {
                field: "deprecationMessage".into(),
                message: format!("at most {MAX_DEPRECATION_MESSAGE_CHARS} characters"),
            });
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    Ok(StatusChange {
        active: patch.active,
        deprecated: patch.deprecated,
        deprecation_message: patch.deprecation_message,
    })
}

fn parse_version_param(version: &str) -> Result<Version, ApiError> {
    Version::parse(version).map_err(|e| ApiError::InvalidParameter {
        name: "version".into(),
        message: format!("'{version}' is not a semver version: {e}"),
    })
}

/// Stored versions were validated on publish; one that does not parse sorts lowest.
fn version_of(record: &PluginRecord) -> Version {
    parse_or_zero(&record.spec.version)
}

fn parse_or_zero(version: &str) -> Version {
    Version::parse(version).unwrap_or(Version::new(0, 0, 0))
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
