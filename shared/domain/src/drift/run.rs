//! One audit run: what the Lambda stores, the CLI prints with `--json`, and the platform bus
//! receives as a `Stack Drift Detected` event.

use serde::{Deserialize, Serialize};

use super::{DriftReport, DriftSummary, ExpiringToken, Finding, TokenCheck, TokenReadError};

pub const DRIFT_EVENT_SOURCE: &str = "pipeline-builder.audit";
pub const DRIFT_DETECTED: &str = "Stack Drift Detected";
/// EventBridge's limit on one entry, counting source, detail-type, detail and time together.
pub const MAX_EVENT_ENTRY_BYTES: usize = 256 * 1024;
/// What EventBridge counts for an entry's `Time` (set by the service when absent).
const EVENT_TIME_BYTES: usize = 14;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every region scanned, no drift.
    Clean,
    /// Every region scanned, at least one finding.
    Drift,
    /// Some regions could not be scanned: the orgs with entries there (each error's `orgs`)
    /// have a failed part; every other org's part is complete.
    Partial,
    /// The registry could not be read: nothing was judged.
    Failed,
}

/// Something the run could not read.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunError {
    /// The region whose stacks could not be listed; `None` when the registry could not be read.
    pub region: Option<String>,
    /// `access-denied`, `throttled`, `timeout`, `network`, `unavailable` or `rejected`.
    pub kind: String,
    pub message: String,
    /// The orgs with registry entries in the region: their part of the run failed.
    #[serde(default)]
    pub orgs: Vec<String>,
}

impl RunError {
    /// Whether this error leaves part of `org`'s audit unjudged.
    pub fn concerns(&self, org: &str) -> bool {
        self.region.is_none() || self.orgs.iter().any(|o| o == org)
    }
}

/// What was asked of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunScope {
    /// `nightly` for the schedule, `cli` for the command line.
    pub trigger: String,
    pub org: Option<String>,
    /// Every region scanned or attempted, sorted.
    pub regions: Vec<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRun {
    /// RFC 3339 with milliseconds; also the run's id.
    pub started_at: String,
    pub finished_at: String,
    pub status: RunStatus,
    pub trigger: String,
    pub org: Option<String>,
    pub regions: Vec<String>,
    pub errors: Vec<RunError>,
    pub summary: DriftSummary,
    pub findings: Vec<Finding>,
    pub in_progress: Vec<Finding>,
    /// Stored platform tokens, one per org at most, that expire within
    /// [`super::TOKEN_EXPIRY_WARNING_DAYS`] of the run or have expired. Not drift: they leave
    /// the status alone. Absent from runs stored before the check existed.
    #[serde(default)]
    pub expiring_tokens: Vec<ExpiringToken>,
    /// Orgs whose stored tokens could not be checked.
    #[serde(default)]
    pub token_errors: Vec<TokenReadError>,
}

impl AuditRun {
    pub fn new(
        started_at: String,
        finished_at: String,
        scope: RunScope,
        report: DriftReport,
        errors: Vec<RunError>,
    ) -> Self {
        let status = if errors.iter().any(|e| e.region.is_none()) {
            RunStatus::Failed
        } else if !errors.is_empty() {
            RunStatus::Partial
        } else if report.findings.is_empty() {
            RunStatus::Clean
        } else {
            RunStatus::Drift
        };
        AuditRun {
            started_at,
            finished_at,
            status,
            trigger: scope.trigger,
            org: scope.org,
            regions: scope.regions,
            errors,
            summary: report.summary,
            findings: report.findings,
            in_progress: report.in_progress,
            expiring_tokens: Vec::new(),
            token_errors: Vec::new(),
        }
    }

    pub fn with_token_check(mut self, check: TokenCheck) -> Self {
        self.expiring_tokens = check.expiring;
        self.token_errors = check.errors;
        self
    }
}

/// The detail of a run's `Stack Drift Detected` event: the run without its in-progress list,
/// and with as many findings as fit in one EventBridge entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct DriftEventDetail<'a> {
    started_at: &'a str,
    finished_at: &'a str,
    status: RunStatus,
    trigger: &'a str,
    org: Option<&'a str>,
    regions: &'a [String],
    errors: &'a [RunError],
    summary: &'a DriftSummary,
    findings: &'a [Finding],
    /// Findings left out to respect the entry limit; the stored run has them all.
    findings_trimmed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftEvent {
    /// The JSON detail, at most [`MAX_EVENT_ENTRY_BYTES`] with source and detail-type.
    pub detail: String,
    pub findings_trimmed: usize,
}

pub fn drift_event(run: &AuditRun) -> Result<DriftEvent, serde_json::Error> {
    trimmed_event(run, MAX_EVENT_ENTRY_BYTES)
}

/// Keeps the longest prefix of the (sorted) findings that fits in `entry_limit` bytes.
fn trimmed_event(run: &AuditRun, entry_limit: usize) -> Result<DriftEvent, serde_json::Error> {
    let budget = entry_limit
        .saturating_sub(DRIFT_EVENT_SOURCE.len() + DRIFT_DETECTED.len() + EVENT_TIME_BYTES);
    let detail = |kept: usize, trimmed: usize| {
        serde_json::to_string(&DriftEventDetail {
            started_at: &run.started_at,
            finished_at: &run.finished_at,
            status: run.status,
            trigger: &run.trigger,
            org: run.org.as_deref(),
            regions: &run.regions,
            errors: &run.errors,
            summary: &run.summary,
            findings: &run.findings[..kept],
            findings_trimmed: trimmed,
        })
    };
    // With every finding counted as trimmed the skeleton is as wide as it can get.
    let mut size = detail(0, run.findings.len())?.len();
    let mut kept = 0;
    for finding in &run.findings {
        let separator = usize::from(kept > 0);
        let added = serde_json::to_string(finding)?.len() + separator;
        if size + added > budget {
            break;
        }
        size += added;
        kept += 1;
    }
    let findings_trimmed = run.findings.len() - kept;
    Ok(DriftEvent {
        detail: detail(kept, findings_trimmed)?,
        findings_trimmed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::{DriftReport, FindingType};

    fn finding(n: usize) -> Finding {
        Finding {
            kind: FindingType::OrphanedStack,
            org: Some("acme".into()),
            pipeline_id: Some(format!("pl-{n:05}")),
            stack_name: format!("stack-{n:05}"),
            region: "us-east-1".into(),
            status: Some("CREATE_COMPLETE".into()),
            detail: "the stack carries pipeline id pl-x, which has no registry entry".into(),
            remediation: "Register the pipeline if it is still in use; otherwise delete the stack."
                .into(),
        }
    }

    fn run_with(findings: usize, errors: Vec<RunError>) -> AuditRun {
        let report = DriftReport {
            findings: (0..findings).map(finding).collect(),
            ..DriftReport::default()
        };
        AuditRun::new(
            "2026-11-20T02:00:00.000Z".into(),
            "2026-11-20T02:00:04.250Z".into(),
            RunScope {
                trigger: "nightly".into(),
                org: None,
                regions: vec!["us-east-1".into()],
            },
            report,
            errors,
        )
    }

    #[test]
    fn status_is_failed_without_the_registry_partial_without_a_region() {
        assert_eq!(run_with(0, vec![]).status, RunStatus::Clean);
        assert_eq!(run_with(2, vec![]).status, RunStatus::Drift);
        let denied = RunError {
            region: Some("eu-west-1".into()),
            kind: "access-denied".into(),
            message: "DescribeStacks was denied".into(),
            orgs: vec!["globex".into()],
        };
        assert_eq!(run_with(2, vec![denied.clone()]).status, RunStatus::Partial);
        assert!(denied.concerns("globex"));
        assert!(!denied.concerns("acme"));
        let registry = RunError {
            region: None,
            kind: "network".into(),
            message: "Query could not reach the service".into(),
            orgs: Vec::new(),
        };
        assert!(registry.concerns("acme"));
        assert_eq!(
            run_with(0, vec![denied, registry]).status,
            RunStatus::Failed
        );
    }

    #[test]
    fn a_small_run_goes_into_the_event_whole() {
        let run = run_with(3, vec![]);
        let event = drift_event(&run).unwrap();
        assert_eq!(event.findings_trimmed, 0);
        let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap();
        assert_eq!(detail["findings"].as_array().unwrap().len(), 3);
        assert_eq!(detail["findingsTrimmed"], 0);
        assert_eq!(detail["status"], "drift");
        assert!(detail.get("inProgress").is_none());
    }

    #[test]
    fn a_large_run_is_trimmed_to_the_entry_limit_and_says_by_how_much() {
        let run = run_with(2_000, vec![]);
        let event = drift_event(&run).unwrap();
        let entry_size = event.detail.len() + DRIFT_EVENT_SOURCE.len() + DRIFT_DETECTED.len() + 14;
        assert!(entry_size <= MAX_EVENT_ENTRY_BYTES, "{entry_size} bytes");
        let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap();
        let kept = detail["findings"].as_array().unwrap().len();
        assert!(kept > 500 && kept < 2_000, "kept {kept}");
        assert_eq!(event.findings_trimmed, 2_000 - kept);
        assert_eq!(detail["findingsTrimmed"], 2_000 - kept);
        // One more finding would not have fitted.
        let one_more = serde_json::to_string(&run.findings[kept]).unwrap().len() + 1;
        assert!(entry_size + one_more > MAX_EVENT_ENTRY_BYTES);
    }

    #[test]
    fn one_byte_too_many_drops_the_last_finding_only() {
        let run = run_with(10, vec![]);
        let whole = drift_event(&run).unwrap();
        let whole_entry = whole.detail.len() + DRIFT_EVENT_SOURCE.len() + DRIFT_DETECTED.len() + 14;
        let event = trimmed_event(&run, whole_entry - 1).unwrap();
        let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap();
        let ids: Vec<&str> = detail["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["pipelineId"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (0..9).map(|n| format!("pl-{n:05}")).collect();
        assert_eq!(ids, expected);
        assert_eq!(event.findings_trimmed, 1);
        assert_eq!(whole.findings_trimmed, 0);
    }
}
