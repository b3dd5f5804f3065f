//! Bearer tokens: HS256 JWTs signed with the key set's active key and verified against any key
//! still in the set. The algorithm is pinned, so a token declaring `none` or an asymmetric
//! algorithm (the classic confusion attack) is rejected before its signature is looked at.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::keys::KeySet;

pub const ALGORITHM: Algorithm = Algorithm::HS256;
/// Tolerated clock skew between the minting and the verifying host.
const LEEWAY_SECONDS: u64 = 30;
pub const MAX_LIFETIME_DAYS: u32 = 365;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub org: String,
    /// `resource:action`; `resource:*` and `*` grant every action of a resource / everything.
    pub perms: Vec<String>,
    /// What a machine token is for; absent on tokens of people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub jti: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Who the token is for and what it may do; the rest of the claims are derived when minting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub sub: String,
    pub org: String,
    pub perms: Vec<String>,
    pub scope: Option<String>,
    pub lifetime_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub token: String,
    pub claims: Claims,
    pub kid: String,
}

/// Why a token was not accepted. The messages are safe to return to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token must be signed with {ALGORITHM:?}")]
    WrongAlgorithm,
    #[error("the token names no key id")]
    NoKeyId,
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued for another issuer or audience")]
    WrongIssuerOrAudience,
    #[error("the token lacks a required claim")]
    MissingClaim,
    #[error("token lifetime must be 1 to {MAX_LIFETIME_DAYS} days")]
    BadLifetime,
    #[error("the token could not be signed")]
    Signing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub issuer: String,
    pub audience: String,
}

/// Whether a held permission covers the wanted `resource:action`.
pub fn grants(held: &str, wanted: &str) -> bool {
    if held == "*" || held == wanted {
        return true;
    }
    match (held.strip_suffix(":*"), wanted.split_once(':')) {
        (Some(resource), Some((wanted_resource, _))) => resource == wanted_resource,
        _ => false,
    }
}

pub fn mint(
    keys: &KeySet,
    audience: &Audience,
    grant: Grant,
    now: i64,
) -> Result<Minted, TokenError> {
    if grant.lifetime_days == 0 || grant.lifetime_days > MAX_LIFETIME_DAYS {
        return Err(TokenError::BadLifetime);
    }
    let claims = Claims {
        sub: grant.sub,
        org: grant.org,
        perms: grant.perms,
        scope: grant.scope,
        jti: random_id().ok_or(TokenError::Signing)?,
        iss: audience.issuer.clone(),
        aud: audience.audience.clone(),
        iat: now,
        nbf: now,
        exp: now + i64::from(grant.lifetime_days) * 86_400,
    };
    let mut header = Header::new(ALGORITHM);
    header.kid = Some(keys.active_kid().to_string());
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(keys.active_key()),
    )
    .map_err(|_| TokenError::Signing)?;
    Ok(Minted {
        token,
        claims,
        kid: keys.active_kid().to_string(),
    })
}

/// The key id a token claims to be signed with, read before verification to pick the key.
pub fn key_id(token: &str) -> Result<String, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.alg != ALGORITHM {
        return Err(TokenError::WrongAlgorithm);
    }
    header.kid.ok_or(TokenError::NoKeyId)
}

pub fn verify(token: &str, keys: &KeySet, audience: &Audience) -> Result<Claims, TokenError> {
    let kid = key_id(token)?;
    let key = keys.key(&kid).ok_or(TokenError::UnknownKey)?;
    let mut validation = Validation::new(ALGORITHM);
    validation.set_issuer(&[&audience.issuer]);
    validation.set_audience(&[&audience.audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECONDS;
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key), &validation)
        .map(|data| data.claims)
        .map_err(|e| classify(e.kind()))
}

fn classify(kind: &jsonwebtoken::errors::ErrorKind) -> TokenError {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => TokenError::WrongIssuerOrAudience,
        ErrorKind::MissingRequiredClaim(_) => TokenError::MissingClaim,
        ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
        _ => TokenError::Malformed,
    }
}

/// 128 random bits as hex, for token ids and request ids.
pub fn random_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_their_resource_only() {
        assert!(grants("plugins:read", "plugins:read"));
        assert!(grants("plugins:*", "plugins:publish"));
        assert!(grants("*", "tokens:create"));
        assert!(!grants("plugins:*", "pipelines:read"));
        assert!(!grants("plugins:read", "plugins:create"));
        assert!(!grants("plugins", "plugins:read"));
        assert!(!grants("plugins:re*", "plugins:read"));
    }
}
