//! Exemptions: one rule waived for one entity, with a reason and an expiry, effective only once
//! someone other than the requester has approved it.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::rule::parse_instant;
use crate::plugin::FieldError;

pub const MAX_REASON_CHARS: usize = 1024;
/// Longest an exemption may run: a waiver is a debt, and debts get reviewed.
pub const MAX_EXEMPTION_DAYS: i64 = 365;
pub const MAX_ENTITY_CHARS: usize = 128;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExemptionRequest {
    pub rule_id: String,
    /// The pipeline id or plugin name the rule is waived for.
    pub entity: String,
    pub reason: String,
    /// RFC 3339, in the future and at most a year away.
    pub expires_at: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exemption {
    pub id: String,
    pub rule_id: String,
    pub entity: String,
    pub reason: String,
    pub expires_at: String,
    pub requested_by: String,
    pub requested_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExemptionStatus {
    /// Waiting for approval; not in effect.
    Pending,
    Approved,
    Expired,
}

impl ExemptionStatus {
    pub fn parse(text: &str) -> Option<ExemptionStatus> {
        match text {
            "pending" => Some(ExemptionStatus::Pending),
            "approved" => Some(ExemptionStatus::Approved),
            "expired" => Some(ExemptionStatus::Expired),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("an exemption cannot be approved by the one who requested it")]
    SelfApproval,
    #[error("the exemption was already approved by {0}")]
    AlreadyApproved(String),
    #[error("the exemption expired at {0}")]
    Expired(String),
}

impl Exemption {
    /// A new, pending exemption. The rule's existence is the caller's to check.
    pub fn requested(
        id: impl Into<String>,
        request: ExemptionRequest,
        requested_by: &str,
        now: DateTime<Utc>,
    ) -> Result<Exemption, Vec<FieldError>> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(FieldError {
                field: field.into(),
                message,
            })
        };
        if request.rule_id.trim().is_empty() {
            problem("ruleId", "required".into());
        }
        if !is_entity(&request.entity) {
            problem(
                "entity",
                format!("1-{MAX_ENTITY_CHARS} characters of letters, digits and '._@-' (a pipeline id or plugin name)"),
            );
        }
        if request.reason.trim().is_empty() || request.reason.chars().count() > MAX_REASON_CHARS {
            problem("reason", format!("must be 1-{MAX_REASON_CHARS} characters"));
        }
        let expires_at = parse_instant(Some(&request.expires_at));
        match expires_at {
            None => problem("expiresAt", "must be an RFC 3339 timestamp".into()),
            Some(at) if at <= now => problem("expiresAt", "must be in the future".into()),
            Some(at) if at > now + Duration::days(MAX_EXEMPTION_DAYS) => problem(
                "expiresAt",
                format!("at most {MAX_EXEMPTION_DAYS} days from now"),
            ),
            Some(_) => {}
        }
        match expires_at {
            Some(at) if problems.is_empty() => Ok(Exemption {
                id: id.into(),
                rule_id: request.rule_id,
                entity: request.entity,
                reason: request.reason,
                expires_at: timestamp(at),
                requested_by: requested_by.to_string(),
                requested_at: timestamp(now),
                approved_by: None,
                approved_at: None,
            }),
            _ => Err(problems),
        }
    }

    pub fn status(&self, now: DateTime<Utc>) -> ExemptionStatus {
        if self.has_expired(now) {
            ExemptionStatus::Expired
        } else if self.approved_by.is_some() {
            ExemptionStatus::Approved
        } else {
            ExemptionStatus::Pending
        }
    }

    /// The exemption approved by `approver`, who must not be its requester.
    pub fn approve(&self, approver: &str, now: DateTime<Utc>) -> Result<Exemption, ApprovalError> {
        if let Some(by) = &self.approved_by {
            return Err(ApprovalError::AlreadyApproved(by.clone()));
        }
        if self.has_expired(now) {
            return Err(ApprovalError::Expired(self.expires_at.clone()));
        }
        if approver == self.requested_by {
            return Err(ApprovalError::SelfApproval);
        }
        Ok(Exemption {
            approved_by: Some(approver.to_string()),
            approved_at: Some(timestamp(now)),
            ..self.clone()
        })
    }

    /// Whether this exemption waives `rule_id` for `entity` at `now`.
    pub fn covers(&self, rule_id: &str, entity: &str, now: DateTime<Utc>) -> bool {
        self.rule_id == rule_id
            && self.entity == entity
            && self.status(now) == ExemptionStatus::Approved
    }

    /// An expiry that does not parse counts as expired: a waiver must never outlive its date.
    fn has_expired(&self, now: DateTime<Utc>) -> bool {
        parse_instant(Some(&self.expires_at)).is_none_or(|at| at <= now)
    }
}

fn is_entity(entity: &str) -> bool {
    !entity.is_empty()
        && entity.chars().count() <= MAX_ENTITY_CHARS
        && entity
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}
