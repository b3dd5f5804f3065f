//! The errors of the plugin module, apart from the code that raises them (validation, range
//! parsing, resolution all share them).

use serde::{Deserialize, Serialize};

/// One problem with one field of a spec.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// JSON path of the field, e.g. `secrets[1].name` or `env.GITHUB_TOKEN`.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("invalid version range '{range}': {reason}")]
    InvalidRange { range: String, reason: String },
    #[error("no active version of plugin '{name}' visible to this org matches '{range}'")]
    NotFound { name: String, range: String },
}

impl LookupError {
    /// Stable machine-readable code for API problems and lookup responses.
    pub fn code(&self) -> &'static str {
        match self {
            LookupError::InvalidRange { .. } => "invalid_range",
            LookupError::NotFound { .. } => "plugin_not_found",
        }
    }
}
