//! Error categorisation for failed actions.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorCategory {
    Source,
    Build,
    Test,
    Deploy,
    Approval,
    Permissions,
    Throttling,
    Timeout,
    Other,
}

impl ErrorCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Source => "source",
            ErrorCategory::Build => "build",
            ErrorCategory::Test => "test",
            ErrorCategory::Deploy => "deploy",
            ErrorCategory::Approval => "approval",
            ErrorCategory::Permissions => "permissions",
            ErrorCategory::Throttling => "throttling",
            ErrorCategory::Timeout => "timeout",
            ErrorCategory::Other => "other",
        }
    }
}

/// Categorises a failure: what went wrong (permissions, throttling, timeout) beats where it went
/// wrong (the action category), because that is what the on-call engineer fixes.
pub fn categorize(
    action_category: Option<&str>,
    error_code: Option<&str>,
    message: Option<&str>,
) -> ErrorCategory {
    let message = message.unwrap_or_default().to_ascii_lowercase();
    let mentions = |needles: &[&str]| needles.iter().any(|n| message.contains(n));
    if error_code == Some("PermissionError")
        || mentions(&[
            "accessdenied",
            "access denied",
            "not authorized",
            "unauthorized",
            "forbidden",
        ])
    {
        return ErrorCategory::Permissions;
    }
    if mentions(&[
        "throttl",
        "rate exceeded",
        "too many requests",
        "toomanyrequests",
    ]) {
        return ErrorCategory::Throttling;
    }
    if mentions(&["timed out", "timeout", "time out"]) {
        return ErrorCategory::Timeout;
    }
    if matches!(
        error_code,
        Some("RevisionOutOfSync" | "RevisionUnavailable")
    ) {
        return ErrorCategory::Source;
    }
    match action_category.map(str::to_ascii_lowercase).as_deref() {
        Some("source") => ErrorCategory::Source,
        Some("build") => ErrorCategory::Build,
        Some("test") => ErrorCategory::Test,
        Some("deploy") => ErrorCategory::Deploy,
        Some("approval") => ErrorCategory::Approval,
        _ => ErrorCategory::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_beats_action_category() {
        assert_eq!(
            categorize(Some("Deploy"), Some("PermissionError"), None),
            ErrorCategory::Permissions
        );
        assert_eq!(
            categorize(
                Some("Build"),
                Some("JobFailed"),
                Some("Rate exceeded on ECR")
            ),
            ErrorCategory::Throttling
        );
        assert_eq!(
            categorize(
                Some("Test"),
                Some("JobFailed"),
                Some("Build timed out after 60 minutes")
            ),
            ErrorCategory::Timeout
        );
        assert_eq!(
            categorize(Some("Build"), Some("RevisionUnavailable"), None),
            ErrorCategory::Source
        );
    }

    #[test]
    fn falls_back_to_the_action_category() {
        assert_eq!(
            categorize(Some("Test"), Some("JobFailed"), Some("3 tests failed")),
            ErrorCategory::Test
        );
        assert_eq!(
            categorize(Some("Approval"), None, Some("rejected")),
            ErrorCategory::Approval
        );
        assert_eq!(
            categorize(Some("Invoke"), Some("JobFailed"), None),
            ErrorCategory::Other
        );
        assert_eq!(categorize(None, None, None), ErrorCategory::Other);
    }
}
