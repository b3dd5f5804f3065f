//! `POST /api/tokens`: machine tokens for the caller's org, optionally stored in Secrets Manager
//! where the platform's event ingestion reads them (the seed's `store-token`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pb_domain::plugin::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::auth::{Authorized, Caller, TokensCreate};
use crate::body::JsonBody;
use crate::problem::{ApiError, Problem};
use crate::tokens::{mint, Grant, Minted, MAX_LIFETIME_DAYS};

const DEFAULT_LIFETIME_DAYS: u32 = 30;
const MAX_SCOPE_CHARS: usize = 64;
const MAX_TOKEN_PERMISSIONS: usize = 50;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    /// What the token is for, e.g. `events:ingest`; becomes the `scope` claim.
    pub scope: String,
    /// Permissions of the token; each must be held by the caller.
    pub perms: Vec<String>,
    /// 1-365, default 30.
    pub expires_in_days: Option<u32>,
    /// Also write the token to Secrets Manager at `pipeline-builder/{orgId}/platform`.
    #[serde(default)]
    pub store: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredSecret {
    pub secret_name: String,
    /// `created` or `newVersion`.
    pub result: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub token: String,
    pub token_type: String,
    pub jti: String,
    pub subject: String,
    pub scope: String,
    pub perms: Vec<String>,
    pub issued_at: String,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredSecret>,
}

/// Mints a machine token for the caller's org.
#[utoipa::path(post, path = "/api/tokens", tag = "tokens",
    request_body = TokenRequest,
    responses(
        (status = 201, body = TokenResponse),
        (status = 403, body = Problem, description = "Missing tokens:create, or a requested permission the caller lacks"),
        (status = 422, body = Problem),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<TokensCreate>,
    JsonBody(request): JsonBody<TokenRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let lifetime_days = check_request(&request)?;
    refuse_escalation(&caller, &request.perms)?;
    let keys = state.keys.current().await?;
    let grant = Grant {
        sub: format!("machine:{}", request.scope),
        org: caller.org().to_string(),
        perms: request.perms.clone(),
        scope: Some(request.scope.clone()),
        lifetime_days,
    };
    let minted = mint(
        &keys,
        &state.audience,
        grant,
        chrono::Utc::now().timestamp(),
    )
    .map_err(|_| ApiError::Internal)?;
    let stored = if request.store {
        Some(store(&state, &minted).await?)
    } else {
        None
    };
    tracing::info!(jti = %minted.claims.jti, scope = %request.scope, stored = request.store, "token minted");
    Ok((StatusCode::CREATED, Json(response(minted, stored))))
}

/// Every problem with the request at once; the lifetime in days when there is none.
fn check_request(request: &TokenRequest) -> Result<u32, ApiError> {
    let mut problems = Vec::new();
    let scope_ok = |c: char| c.is_ascii_alphanumeric() || ":-_.".contains(c);
    let scope_chars = request.scope.chars().count();
    if scope_chars == 0 || scope_chars > MAX_SCOPE_CHARS || !request.scope.chars().all(scope_ok) {
        problems.push(field(
            "scope",
            format!("1-{MAX_SCOPE_CHARS} characters of letters, digits and ':-_.'"),
        ));
    }
    if request.perms.is_empty() || request.perms.len() > MAX_TOKEN_PERMISSIONS {
        problems.push(field(
            "perms",
            format!("list 1 to {MAX_TOKEN_PERMISSIONS} permissions"),
        ));
    }
    for (i, perm) in request.perms.iter().enumerate() {
        if !is_permission_shape(perm) {
            problems.push(field(
                &format!("perms[{i}]"),
                "must be resource:action, resource:* or *".into(),
            ));
        }
    }
    let days = request.expires_in_days.unwrap_or(DEFAULT_LIFETIME_DAYS);
    if days == 0 || days > MAX_LIFETIME_DAYS {
        problems.push(field(
            "expiresInDays",
            format!("must be 1 to {MAX_LIFETIME_DAYS}"),
        ));
    }
    if problems.is_empty() {
        Ok(days)
    } else {
        Err(ApiError::Validation(problems))
    }
}

fn field(name: &str, message: String) -> FieldError {
    FieldError {
        field: name.to_string(),
        message,
    }
}

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

async fn store(state: &AppState, minted: &Minted) -> Result<StoredSecret, ApiError> {
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
    Ok(StoredSecret {
        secret_name,
        result: result.as_str().to_string(),
    })
}

fn response(minted: Minted, stored: Option<StoredSecret>) -> TokenResponse {
    let claims = minted.claims;
    TokenResponse {
        token: minted.token,
        token_type: "Bearer".into(),
        jti: claims.jti,
        subject: claims.sub,
        scope: claims.scope.unwrap_or_default(),
        perms: claims.perms,
        issued_at: rfc3339(claims.iat),
        expires_at: rfc3339(claims.exp),
        stored,
    }
}

pub fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
