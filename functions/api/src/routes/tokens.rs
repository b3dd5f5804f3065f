//! Machine tokens for the caller's org (`/api/tokens…`): minting, optionally storing one in
//! Secrets Manager where the platform's pipeline stacks read it (the seed's `store-token`),
//! listing what was minted and revoking it.
//!
//! A minted token answers to its minter's principal, never outlives its minter, never carries
//! more than its minter holds and never carries `tokens:create`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pb_aws::tokens::TokenRecord;
use pb_domain::plugin::FieldError;
use pb_domain::wire::tokens::{StoredSecret, TokenRequest, TokenResponse};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::{
    Authorized, Caller, Permission, TokensCreate, TokensRead, TokensRevoke, TokensStore,
    NEVER_FOR_MACHINES,
};
use crate::body::JsonBody;
use crate::paging::{ListRequest, Order, Page, PageParams};
use crate::params::{PathParams, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::tokens::{grants, mint_delegated, Grant, Minted, MAX_LIFETIME_DAYS};

const DEFAULT_LIFETIME_DAYS: u32 = 30;
pub(crate) const MAX_SCOPE_CHARS: usize = 64;
pub(crate) const MAX_TOKEN_PERMISSIONS: usize = 50;

/// The scope of every token stored for the platform, whatever the request says.
pub const PLATFORM_SCOPE: &str = "events:ingest";
/// The permissions of every token stored for the platform: a pipeline stack resolves its plugins
/// with it. Its executions reach the platform through EventBridge and ingest reads the registry
/// itself, so reporting events needs no API permission.
pub const PLATFORM_PERMS: &[&str] = &["plugins:read"];

/// A minted token as listed: what it may do and who minted it, never the token.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub jti: String,
    pub subject: String,
    pub principal: String,
    pub scope: Option<String>,
    pub perms: Vec<String>,
    pub issued_at: String,
    pub expires_at: String,
    pub minted_by: String,
    pub stored: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenList {
    /// Newest first.
    pub items: Vec<TokenView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What a checked request mints.
struct Checked {
    scope: String,
    perms: Vec<String>,
    lifetime_days: u32,
}

/// Mints a machine token for the caller's org.
#[utoipa::path(post, path = "/api/tokens", tag = "tokens",
    request_body = TokenRequest,
    responses(
        (status = 201, body = TokenResponse),
        (status = 403, body = Problem, description = "Missing tokens:create (or tokens:store to store), a requested permission the caller lacks, or one no machine token may carry"),
        (status = 422, body = Problem),
    ),
    security(("bearer" = ["tokens:create"])))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<TokensCreate>,
    JsonBody(request): JsonBody<TokenRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    if request.store {
        caller.require(TokensStore::NAME)?;
    }
    let checked = check_request(&request)?;
    refuse_escalation(&caller, &checked.perms)?;
    refuse_minting_power(&checked.perms)?;
    let keys = state.keys.current().await?;
    let grant = Grant {
        sub: format!("machine:{}", checked.scope),
        org: caller.org().to_string(),
        perms: checked.perms,
        scope: Some(checked.scope),
        lifetime_days: checked.lifetime_days,
    };
    let now = chrono::Utc::now().timestamp();
    let minted = mint_delegated(&keys, &state.audience, grant, &caller.claims, now)
        .map_err(|_| ApiError::Internal)?;
    // Recorded before it is handed out or stored, so every token in circulation can be revoked.
    state
        .token_records
        .record(&record_of(&minted, &caller, request.store))
        .await?;
    let stored = if request.store {
        Some(store(&state, &caller, &minted).await?)
    } else {
        None
    };
    tracing::info!(
        jti = %minted.claims.jti,
        scope = minted.claims.scope.as_deref().unwrap_or_default(),
        principal = %caller.principal(),
        minted_by = %caller.claims.sub,
        stored = request.store,
        "token minted"
    );
    Ok((StatusCode::CREATED, Json(response(minted, stored))))
}

/// Pages through the tokens minted for the caller's org, newest first.
#[utoipa::path(get, path = "/api/tokens", tag = "tokens",
    params(PageParams),
    responses((status = 200, body = TokenList), (status = 400, body = Problem)),
    security(("bearer" = ["tokens:read"])))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<TokensRead>,
    params: QueryParams,
) -> Result<Json<TokenList>, ApiError> {
    let list = ListRequest::read(&state, caller.org(), params, "tokens", &[]).await?;
    let mut records = state.token_records.org_tokens(caller.org()).await?;
    records.sort_by_cached_key(|record| std::cmp::Reverse(listing_key(record)));
    let order = Order {
        key: listing_key,
        is_after: |record: &TokenRecord, after: &str| listing_key(record).as_str() < after,
    };
    let Page { items, next_cursor } = list.page(records, order);
    Ok(Json(TokenList {
        items: items.into_iter().map(view).collect(),
        next_cursor,
    }))
}

/// Revokes one of the org's minted tokens: it is refused from its next request on (in other
/// warm containers once their revocation cache expires).
#[utoipa::path(delete, path = "/api/tokens/{jti}", tag = "tokens",
    params(("jti" = String, Path)),
    responses((status = 204, description = "Revoked (also when it already was)"), (status = 404, body = Problem)),
    security(("bearer" = ["tokens:revoke"])))]
pub async fn revoke(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<TokensRevoke>,
    PathParams(jti): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::NotFound(format!("token '{jti}'"));
    if !is_jti(&jti) {
        return Err(not_found());
    }
    let now = chrono::Utc::now().timestamp();
    state
        .token_records
        .revoke(caller.org(), &jti, caller.principal(), now)
        .await?
        .ok_or_else(not_found)?;
    state.revocations.revoked(caller.org(), &jti);
    tracing::info!(jti = %jti, principal = %caller.principal(), by = %caller.claims.sub, "token revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// Issuance time, then jti: unique, and ordered as the list is.
fn listing_key(record: &TokenRecord) -> String {
    format!("{:020}#{}", record.issued_at, record.jti)
}

/// Token ids are 128 random bits in hex; anything else names no token.
fn is_jti(text: &str) -> bool {
    text.len() == 32 && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// Every problem with the request at once; what to mint when there is none.
fn check_request(request: &TokenRequest) -> Result<Checked, ApiError> {
    let mut problems = Vec::new();
    let (scope, perms) = if request.store {
        platform_grant(request, &mut problems)
    } else {
        requested_grant(request, &mut problems)
    };
    let days = request.expires_in_days.unwrap_or(DEFAULT_LIFETIME_DAYS);
    if days == 0 || days > MAX_LIFETIME_DAYS {
        problems.push(field(
            "expiresInDays",
            format!("must be 1 to {MAX_LIFETIME_DAYS}"),
        ));
    }
    if problems.is_empty() {
        Ok(Checked {
            scope,
            perms,
            lifetime_days: days,
        })
    } else {
        Err(ApiError::Validation(problems))
    }
}

/// The fixed scope and permissions of a stored token; a request may restate them, not change them.
fn platform_grant(request: &TokenRequest, problems: &mut Vec<FieldError>) -> (String, Vec<String>) {
    if request
        .scope
        .as_deref()
        .is_some_and(|s| s != PLATFORM_SCOPE)
    {
        problems.push(field(
            "scope",
            format!("a stored token's scope is always {PLATFORM_SCOPE}"),
        ));
    }
    let platform: Vec<String> = PLATFORM_PERMS.iter().map(|p| p.to_string()).collect();
    if let Some(requested) = &request.perms {
        if as_set(requested) != as_set(&platform) {
            problems.push(field(
                "perms",
                format!(
                    "a stored token's permissions are always {}",
                    PLATFORM_PERMS.join(", ")
                ),
            ));
        }
    }
    (PLATFORM_SCOPE.to_string(), platform)
}

fn as_set(perms: &[String]) -> std::collections::BTreeSet<&str> {
    perms.iter().map(String::as_str).collect()
}

fn requested_grant(
    request: &TokenRequest,
    problems: &mut Vec<FieldError>,
) -> (String, Vec<String>) {
    let scope = request.scope.clone().unwrap_or_default();
    let scope_ok = |c: char| c.is_ascii_alphanumeric() || ":-_.".contains(c);
    let scope_chars = scope.chars().count();
    if scope_chars == 0 || scope_chars > MAX_SCOPE_CHARS || !scope.chars().all(scope_ok) {
        problems.push(field(
            "scope",
            format!("1-{MAX_SCOPE_CHARS} characters of letters, digits and ':-_.'"),
        ));
    }
    let perms = request.perms.clone().unwrap_or_default();
    if perms.is_empty() || perms.len() > MAX_TOKEN_PERMISSIONS {
        problems.push(field(
            "perms",
            format!("list 1 to {MAX_TOKEN_PERMISSIONS} permissions"),
        ));
    }
    for (i, perm) in perms.iter().enumerate() {
        if !is_permission_shape(perm) {
            problems.push(field(
                &format!("perms[{i}]"),
                "must be resource:action, resource:* or *".into(),
            ));
        }
    }
    (scope, perms)
}

fn field(name: &str, message: String) -> FieldError {
    FieldError {
        field: name.to_string(),
        message,
    }
}

/// [`is_permission_shape`] as a regular expression, for the API document.
pub(crate) const PERMISSION_PATTERN: &str = "^(?:\\*|[a-z-]+:(?:\\*|[a-z-]+))$";

fn is_permission_shape(perm: &str) -> bool {
    let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-');
    perm == "*"
        || perm
            .split_once(':')
            .is_some_and(|(resource, action)| word(resource) && (action == "*" || word(action)))
}

/// A token can carry only what its minter holds.
fn refuse_escalation(caller: &Caller, perms: &[String]) -> Result<(), ApiError> {
    match perms.iter().find(|perm| !caller.holds(perm)) {
        Some(perm) => Err(ApiError::Forbidden(perm.clone())),
        None => Ok(()),
    }
}

/// Machine tokens never mint: a permission that grants `tokens:create` (`*`, `tokens:*`) is
/// refused, not trimmed, so the caller sees what the token will not hold.
fn refuse_minting_power(perms: &[String]) -> Result<(), ApiError> {
    for perm in perms {
        if let Some(power) = NEVER_FOR_MACHINES.iter().find(|never| grants(perm, never)) {
            return Err(ApiError::NotForMachines {
                requested: perm.clone(),
                permission: power.to_string(),
            });
        }
    }
    Ok(())
}

/// Writes the platform token to the org's secret; every write is logged with who and the jti.
async fn store(
    state: &AppState,
    caller: &Caller,
    minted: &Minted,
) -> Result<StoredSecret, ApiError> {
    let claims = &minted.claims;
    let secret_name = format!(
        "{}/{}/platform",
        state.config.platform_secret_prefix, claims.org
    );
    let value = json!({
        "username": claims.org,
        "password": minted.token,
        "jti": claims.jti,
        "scope": claims.scope,
        "createdAt": rfc3339(claims.iat),
        "expiresAt": rfc3339(claims.exp),
    });
    let result = state
        .secrets
        .write(&secret_name, &value.to_string())
        .await?;
    tracing::info!(
        jti = %claims.jti,
        secret = %secret_name,
        principal = %caller.principal(),
        by = %caller.claims.sub,
        by_jti = %caller.claims.jti,
        result = result.as_str(),
        "platform token stored"
    );
    Ok(StoredSecret {
        secret_name,
        result: result.as_str().to_string(),
    })
}

fn record_of(minted: &Minted, caller: &Caller, stored: bool) -> TokenRecord {
    let claims = &minted.claims;
    TokenRecord {
        org: claims.org.clone(),
        jti: claims.jti.clone(),
        sub: claims.sub.clone(),
        principal: claims.principal().to_string(),
        scope: claims.scope.clone(),
        perms: claims.perms.clone(),
        issued_at: claims.iat,
        expires_at: claims.exp,
        minted_by: caller.claims.sub.clone(),
        stored,
        revoked_at: None,
        revoked_by: None,
    }
}

fn response(minted: Minted, stored: Option<StoredSecret>) -> TokenResponse {
    let claims = minted.claims;
    TokenResponse {
        token: minted.token,
        token_type: "Bearer".into(),
        principal: claims.principal().to_string(),
        jti: claims.jti,
        subject: claims.sub,
        scope: claims.scope.unwrap_or_default(),
        perms: claims.perms,
        issued_at: rfc3339(claims.iat),
        expires_at: rfc3339(claims.exp),
        stored,
    }
}

fn view(record: TokenRecord) -> TokenView {
    TokenView {
        jti: record.jti,
        subject: record.sub,
        principal: record.principal,
        scope: record.scope,
        perms: record.perms,
        issued_at: rfc3339(record.issued_at),
        expires_at: rfc3339(record.expires_at),
        minted_by: record.minted_by,
        stored: record.stored,
        revoked_at: record.revoked_at.map(rfc3339),
        revoked_by: record.revoked_by,
    }
}

pub fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_permission_pattern_agrees_with_the_check() {
        let pattern = regex::Regex::new(PERMISSION_PATTERN).unwrap();
        let cases = [
            "*",
            "plugins:read",
            "plugins:*",
            "audit-runs:read-all",
            "",
            ":",
            "plugins",
            "plugins:",
            ":read",
            "*:read",
            "Plugins:read",
            "plugins:read:x",
            "plugins:read ",
            "**",
        ];
        for perm in cases {
            assert_eq!(
                pattern.is_match(perm),
                is_permission_shape(perm),
                "{perm:?}"
            );
        }
    }
}
