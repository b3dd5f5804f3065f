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
    /// The person at the root of a chain of minted tokens, who answers for what they do.
    /// Absent on the roots themselves (and on tokens older than the claim): then it is `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
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
    #[error("the token has been revoked")]
    Revoked,
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

impl Claims {
    /// Who answers for this token: the person at the root of its chain.
    pub fn principal(&self) -> &str {
        self.principal.as_deref().unwrap_or(&self.sub)
    }
}

/// A root token: one of a person (or the CLI's admin), answering for itself.
pub fn mint(
    keys: &KeySet,
    audience: &Audience,
    grant: Grant,
    now: i64,
) -> Result<Minted, TokenError> {
    sign(keys, audience, grant, None, now)
}

/// A token minted with another: it answers to the minter's principal and never outlives the
/// minter, so a short-lived token cannot launder itself into a long-lived one.
pub fn mint_delegated(
    keys: &KeySet,
    audience: &Audience,
    grant: Grant,
    minter: &Claims,
    now: i64,
) -> Result<Minted, TokenError> {
    sign(keys, audience, grant, Some(minter), now)
}

fn sign(
    keys: &KeySet,
    audience: &Audience,
    grant: Grant,
    minter: Option<&Claims>,
    now: i64,
) -> Result<Minted, TokenError> {
    if grant.lifetime_days == 0 || grant.lifetime_days > MAX_LIFETIME_DAYS {
        return Err(TokenError::BadLifetime);
    }
    let requested_exp = now + i64::from(grant.lifetime_days) * 86_400;
    let claims = Claims {
        sub: grant.sub,
        org: grant.org,
        perms: grant.perms,
        scope: grant.scope,
        principal: minter.map(|m| m.principal().to_string()),
        jti: random_id().ok_or(TokenError::Signing)?,
        iss: audience.issuer.clone(),
        aud: audience.audience.clone(),
        iat: now,
        nbf: now,
        exp: minter.map_or(requested_exp, |m| requested_exp.min(m.exp)),
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
    let claims = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key), &validation)
        .map(|data| data.claims)
        .map_err(|e| classify(e.kind()))?;
    // A blank subject or principal would make every such token one and the same person to the
    // four-eyes check.
    if is_blank(&claims.sub) || claims.principal.as_deref().is_some_and(is_blank) {
        return Err(TokenError::MissingClaim);
    }
    Ok(claims)
}

fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
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

    fn keys() -> KeySet {
        KeySet::parse(r#"{"active":"k1","k1":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#).unwrap()
    }

    fn audience() -> Audience {
        Audience {
            issuer: "iss".into(),
            audience: "aud".into(),
        }
    }

    fn grant(sub: &str, lifetime_days: u32) -> Grant {
        Grant {
            sub: sub.into(),
            org: "acme".into(),
            perms: vec!["plugins:read".into()],
            scope: None,
            lifetime_days,
        }
    }

    #[test]
    fn a_chain_answers_to_its_root_and_never_outlives_its_minter() {
        let now = 1_800_000_000;
        let root = mint(&keys(), &audience(), grant("alice", 1), now).unwrap();
        assert_eq!(root.claims.principal, None);
        assert_eq!(root.claims.principal(), "alice");
        let machine = mint_delegated(
            &keys(),
            &audience(),
            grant("machine:ci", 365),
            &root.claims,
            now + 60,
        )
        .unwrap();
        assert_eq!(machine.claims.principal.as_deref(), Some("alice"));
        assert_eq!(machine.claims.exp, now + 86_400);
        let grandchild = mint_delegated(
            &keys(),
            &audience(),
            grant("machine:deploy", 30),
            &machine.claims,
            now + 120,
        )
        .unwrap();
        assert_eq!(grandchild.claims.principal(), "alice");
        assert_eq!(grandchild.claims.exp, now + 86_400);
    }

    #[test]
    fn blank_subjects_and_principals_are_refused() {
        let now = chrono::Utc::now().timestamp();
        for sub in ["", "  "] {
            let minted = mint(&keys(), &audience(), grant(sub, 1), now).unwrap();
            assert_eq!(
                verify(&minted.token, &keys(), &audience()),
                Err(TokenError::MissingClaim),
                "sub {sub:?}"
            );
        }
        let mut root = mint(&keys(), &audience(), grant("alice", 1), now)
            .unwrap()
            .claims;
        root.principal = Some(String::new());
        let blank_principal =
            mint_delegated(&keys(), &audience(), grant("machine:x", 1), &root, now).unwrap();
        assert_eq!(
            verify(&blank_principal.token, &keys(), &audience()),
            Err(TokenError::MissingClaim)
        );
    }

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
