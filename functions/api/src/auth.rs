//! Authentication and per-route authorisation. A handler names its permission in its signature
//! (`Authorized<PluginsRead>`), so no route can forget to check one, reads included; the check
//! runs before the body is read.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::problem::ApiError;
use crate::state::AppState;
use crate::tokens::{grants, key_id, verify, Claims, TokenError};

/// A permission a route requires.
pub trait Permission {
    const NAME: &'static str;
}

macro_rules! permissions {
    ($($marker:ident => $name:literal),* $(,)?) => {
        $(
            #[derive(Debug)]
            pub struct $marker;
            impl Permission for $marker {
                const NAME: &'static str = $name;
            }
        )*
        /// Every permission a route checks, for tooling and for minting admin tokens.
        pub const ALL_PERMISSIONS: &[&str] = &[$($name),*];
    };
}

permissions! {
    PluginsRead => "plugins:read",
    PluginsCreate => "plugins:create",
    PluginsPublish => "plugins:publish",
    PluginsUpdate => "plugins:update",
    TokensCreate => "tokens:create",
    TokensStore => "tokens:store",
    TokensRead => "tokens:read",
    TokensRevoke => "tokens:revoke",
    PipelinesRead => "pipelines:read",
    PipelinesCreate => "pipelines:create",
    PipelinesUpdate => "pipelines:update",
    PipelinesDelete => "pipelines:delete",
    PipelinesPublish => "pipelines:publish",
    PipelinesDeploy => "pipelines:deploy",
    PipelinesExecute => "pipelines:execute",
    PipelinesApprove => "pipelines:approve",
    ComplianceRead => "compliance:read",
    ComplianceWrite => "compliance:write",
    ComplianceApprove => "compliance:approve",
    RegistryRead => "registry:read",
    RegistryWrite => "registry:write",
    AuditRead => "audit:read",
    ReportsRead => "reports:read",
    ReportsConfigure => "reports:configure",
    NotificationsRead => "notifications:read",
    NotificationsWrite => "notifications:write",
}

/// The verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: Claims,
}

/// Permissions a machine token never holds, whatever it lists: minting is for people, so a
/// leaked machine token cannot mint itself successors.
pub const NEVER_FOR_MACHINES: &[&str] = &[TokensCreate::NAME];

impl Caller {
    pub fn org(&self) -> &str {
        &self.claims.org
    }

    /// The person who answers for this caller: the root of its chain of minted tokens.
    pub fn principal(&self) -> &str {
        self.claims.principal()
    }

    /// Machine tokens carry the `scope` they were minted for; tokens of people carry none.
    pub fn is_machine(&self) -> bool {
        self.claims.scope.is_some()
    }

    pub fn holds(&self, permission: &str) -> bool {
        if self.is_machine() && NEVER_FOR_MACHINES.contains(&permission) {
            return false;
        }
        self.claims
            .perms
            .iter()
            .any(|held| grants(held, permission))
    }

    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        if self.holds(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(permission.to_string()))
        }
    }
}

/// A caller holding permission `P`.
#[derive(Debug)]
pub struct Authorized<P>(pub Caller, pub PhantomData<P>);

impl<P: Permission + Send> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = authenticate(parts, state).await?;
        caller.require(P::NAME)?;
        Ok(Authorized(caller, PhantomData))
    }
}

/// A caller with any valid token, whatever it may do: for routes that only describe the caller.
#[derive(Debug)]
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Authenticated(authenticate(parts, state).await?))
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let token = bearer_token(parts)?;
    let kid = key_id(token).map_err(ApiError::InvalidToken)?;
    let keys = state.keys.for_kid(&kid).await?;
    let claims = verify(token, &keys, &state.audience).map_err(ApiError::InvalidToken)?;
    if !is_valid_org_id(&claims.org) {
        return Err(ApiError::InvalidToken(TokenError::MissingClaim));
    }
    if state
        .revocations
        .is_revoked(&claims.org, &claims.jti)
        .await?
    {
        return Err(ApiError::InvalidToken(TokenError::Revoked));
    }
    tracing::Span::current().record("org", claims.org.as_str());
    Ok(Caller { claims })
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?
        .to_str()
        .map_err(|_| ApiError::InvalidToken(TokenError::Malformed))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(ApiError::InvalidToken(TokenError::Malformed))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::InvalidToken(TokenError::Malformed));
    }
    Ok(token.trim())
}

/// Secret namespaces under `pipeline-builder/` that belong to no org: `deploy` holds the shared
/// deployment secrets plugins may name, so an org by that name would own them.
pub const RESERVED_ORG_IDS: &[&str] = &["deploy"];

/// Org ids become key prefixes and secret names (`pipeline-builder/{org}/platform`), so they are
/// held to a charset in which no id can reach into another's namespace.
pub fn is_valid_org_id(org: &str) -> bool {
    let mut chars = org.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && org.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !RESERVED_ORG_IDS.contains(&org)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids_cannot_reach_into_shared_or_other_namespaces() {
        assert!(is_valid_org_id("acme"));
        assert!(is_valid_org_id("acme-2_eu"));
        for refused in ["", "deploy", "-acme", "acme/x", "acme#x", &"a".repeat(65)] {
            assert!(!is_valid_org_id(refused), "{refused:?}");
        }
    }
}
