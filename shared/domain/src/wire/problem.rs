//! The problem document every refusal and failure answers with.

use serde::{Deserialize, Serialize};

use crate::compliance::Violation;
use crate::plugin::FieldError;

/// The problem document (RFC 9457) plus the members clients rely on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// `urn:pipeline-builder:problem:{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
    pub request_id: String,
    /// The offending fields, for validation problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Every failed `error`/`critical` rule condition, for `compliance_violation`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
}
