//! The audit's check of the platform tokens stored for the orgs (`POST /api/tokens` with
//! `store`): a pipeline stack resolves its plugins with its org's stored token, so one that
//! expires breaks every deployment of the org until someone stores a new one.

use std::collections::BTreeMap;

use chrono::DateTime;
use serde::{Deserialize, Serialize};

/// A stored token is reported from this many days before it expires.
pub const TOKEN_EXPIRY_WARNING_DAYS: i64 = 14;
const SECONDS_PER_DAY: i64 = 86_400;

/// A token record that says its token was written to the org's platform secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub org: String,
    pub jti: String,
    /// Seconds since the epoch, like the token's `iat` and `exp`.
    pub issued_at: i64,
    pub expires_at: i64,
}

/// An org's stored token that expires within [`TOKEN_EXPIRY_WARNING_DAYS`] of the run, or has.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiringToken {
    pub org: String,
    /// The token's id (`jti`), as `GET /api/tokens` lists it.
    pub jti: String,
    /// RFC 3339, whole seconds.
    pub expires_at: String,
    /// Already expired when the run started.
    pub expired: bool,
}

/// The stored-token records of an org that could not be read: its check is missing from the run.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReadError {
    pub org: String,
    /// `access-denied`, `throttled`, `timeout`, `network`, `unavailable` or `rejected`.
    pub kind: String,
    pub message: String,
}

/// What the run learnt about the orgs' stored tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenCheck {
    /// Sorted by org.
    pub expiring: Vec<ExpiringToken>,
    pub errors: Vec<TokenReadError>,
}

/// Each org's current stored token, when it expires before `now` (seconds since the epoch) plus
/// the warning window. Only the newest stored token of an org counts: every store writes the
/// org's one secret, so an older stored token is no longer in it, and warning about it would
/// keep the alarm up after the token was replaced.
pub fn expiring_tokens(stored: &[StoredToken], now: i64) -> Vec<ExpiringToken> {
    let mut current: BTreeMap<&str, &StoredToken> = BTreeMap::new();
    for token in stored {
        let newest = current.entry(&token.org).or_insert(token);
        if (token.issued_at, &token.jti) > (newest.issued_at, &newest.jti) {
            *newest = token;
        }
    }
    let horizon = now.saturating_add(TOKEN_EXPIRY_WARNING_DAYS * SECONDS_PER_DAY);
    current
        .into_values()
        .filter(|token| token.expires_at <= horizon)
        .map(|token| ExpiringToken {
            org: token.org.clone(),
            jti: token.jti.clone(),
            expires_at: rfc3339_seconds(token.expires_at),
            expired: token.expires_at <= now,
        })
        .collect()
}

fn rfc3339_seconds(seconds: i64) -> String {
    DateTime::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| seconds.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000;
    const DAY: i64 = SECONDS_PER_DAY;

    fn stored(org: &str, jti: &str, issued_at: i64, expires_at: i64) -> StoredToken {
        StoredToken {
            org: org.into(),
            jti: jti.into(),
            issued_at,
            expires_at,
        }
    }

    fn reported(tokens: &[ExpiringToken]) -> Vec<(&str, &str, bool)> {
        tokens
            .iter()
            .map(|t| (t.org.as_str(), t.jti.as_str(), t.expired))
            .collect()
    }

    #[test]
    fn a_token_is_reported_from_fourteen_days_before_its_expiry_and_after_it() {
        let tokens = [
            stored("inside", "a", NOW - 300 * DAY, NOW + 14 * DAY),
            stored("outside", "b", NOW - 300 * DAY, NOW + 14 * DAY + 1),
            stored("expired", "c", NOW - 300 * DAY, NOW - 1),
            stored("now", "d", NOW - 300 * DAY, NOW),
        ];
        assert_eq!(
            reported(&expiring_tokens(&tokens, NOW)),
            [
                ("expired", "c", true),
                ("inside", "a", false),
                ("now", "d", true)
            ]
        );
    }

    #[test]
    fn only_the_newest_stored_token_of_an_org_counts() {
        let replaced = [
            stored("acme", "old", NOW - 350 * DAY, NOW + DAY),
            stored("acme", "new", NOW - DAY, NOW + 364 * DAY),
        ];
        assert!(expiring_tokens(&replaced, NOW).is_empty());
        let newest_expiring = [
            stored("acme", "long", NOW - 30 * DAY, NOW + 300 * DAY),
            stored("acme", "short", NOW - DAY, NOW + 2 * DAY),
        ];
        assert_eq!(
            reported(&expiring_tokens(&newest_expiring, NOW)),
            [("acme", "short", false)]
        );
    }

    #[test]
    fn the_expiry_is_shown_in_rfc3339() {
        let tokens = [stored("acme", "a", 0, 1_795_000_000)];
        assert_eq!(
            expiring_tokens(&tokens, NOW)[0].expires_at,
            "2026-11-18T11:06:40Z"
        );
    }
}
