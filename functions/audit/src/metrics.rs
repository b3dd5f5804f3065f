//! The one summary line per run, as a log line and as CloudWatch EMF metrics.

use pb_aws::emf::{self, FUNCTION_NAME_DIMENSION};
use pb_domain::drift::{AuditRun, FindingType, RunStatus};

pub const METRIC_NAMESPACE: &str = "PipelineBuilder/Audit";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunMetrics {
    pub registry_entries: u64,
    pub pipeline_stacks: u64,
    pub regions_scanned: u64,
    /// Regions whose stacks could not be listed, plus one when the registry could not be read,
    /// plus one per org whose stored tokens could not be read.
    pub read_failures: u64,
    /// The registry could not be read: nothing was judged.
    pub run_failed: u64,
    /// 1 when the run judged the registry and was stored and published, else 0: a night
    /// without a 1 is a night without a usable run.
    pub run_succeeded: u64,
    /// Orgs whose stored platform token expires within the warning window, or has expired.
    pub stored_tokens_expiring_soon: u64,
    /// Orgs with entries in a region that could not be scanned.
    pub org_parts_failed: u64,
    pub findings: u64,
    pub orphaned: u64,
    pub missing: u64,
    pub region_mismatches: u64,
    pub name_mismatches: u64,
    pub unhealthy: u64,
    pub in_progress: u64,
    pub event_findings_trimmed: u64,
}

impl RunMetrics {
    pub fn of(run: &AuditRun, event_findings_trimmed: usize) -> Self {
        let count =
            |kind: FindingType| run.summary.by_type.get(&kind).copied().unwrap_or_default() as u64;
        let read_failures = (run.errors.len() + run.token_errors.len()) as u64;
        RunMetrics {
            registry_entries: run.summary.registry_entries as u64,
            pipeline_stacks: run.summary.pipeline_stacks as u64,
            regions_scanned: (run.regions.len() as u64)
                .saturating_sub(run.errors.iter().filter(|e| e.region.is_some()).count() as u64),
            read_failures,
            run_failed: u64::from(run.status == RunStatus::Failed),
            run_succeeded: u64::from(run.status != RunStatus::Failed),
            stored_tokens_expiring_soon: run.expiring_tokens.len() as u64,
            org_parts_failed: run
                .errors
                .iter()
                .flat_map(|e| &e.orgs)
                .collect::<std::collections::BTreeSet<_>>()
                .len() as u64,
            findings: run.summary.findings as u64,
            orphaned: count(FindingType::OrphanedStack),
            missing: count(FindingType::MissingStack),
            region_mismatches: count(FindingType::RegionMismatch),
            name_mismatches: count(FindingType::NameMismatch),
            unhealthy: count(FindingType::UnhealthyStack),
            in_progress: run.summary.in_progress as u64,
            event_findings_trimmed: event_findings_trimmed as u64,
        }
    }

    /// The run could not be stored or its event published: it did not succeed, whatever it found.
    pub fn not_recorded(self) -> Self {
        RunMetrics {
            run_succeeded: 0,
            ..self
        }
    }

    fn metrics(&self) -> [(&'static str, u64); 16] {
        [
            ("RegistryEntries", self.registry_entries),
            ("PipelineStacks", self.pipeline_stacks),
            ("RegionsScanned", self.regions_scanned),
            ("ReadFailures", self.read_failures),
            ("RunFailed", self.run_failed),
            ("OrgPartsFailed", self.org_parts_failed),
            ("Findings", self.findings),
            ("OrphanedStacks", self.orphaned),
            ("MissingStacks", self.missing),
            ("RegionMismatches", self.region_mismatches),
            ("NameMismatches", self.name_mismatches),
            ("UnhealthyStacks", self.unhealthy),
            ("StacksInProgress", self.in_progress),
            ("EventFindingsTrimmed", self.event_findings_trimmed),
            ("RunSucceeded", self.run_succeeded),
            ("StoredTokensExpiringSoon", self.stored_tokens_expiring_soon),
        ]
    }

    /// A CloudWatch Embedded Metric Format document: CloudWatch turns this log line into metrics.
    pub fn emf(&self, function_name: &str, timestamp_ms: i64) -> serde_json::Value {
        emf::document(
            METRIC_NAMESPACE,
            &[(FUNCTION_NAME_DIMENSION, function_name)],
            &self.metrics(),
            timestamp_ms,
        )
    }

    /// Logs the summary line and prints the EMF document on stdout, where Lambda collects it.
    pub fn report(&self, function_name: &str, timestamp_ms: i64) {
        tracing::info!(
            registry_entries = self.registry_entries,
            pipeline_stacks = self.pipeline_stacks,
            regions_scanned = self.regions_scanned,
            read_failures = self.read_failures,
            findings = self.findings,
            in_progress = self.in_progress,
            event_findings_trimmed = self.event_findings_trimmed,
            run_succeeded = self.run_succeeded,
            stored_tokens_expiring_soon = self.stored_tokens_expiring_soon,
            "audit run finished"
        );
        emf::emit(self.emf(function_name, timestamp_ms));
    }
}

#[cfg(test)]
mod tests {
    use pb_domain::drift::{
        DriftReport, ExpiringToken, Finding, RunError, RunScope, TokenCheck, TokenReadError,
    };

    use super::*;

    #[test]
    fn a_failed_region_and_the_findings_become_metrics() {
        let finding = |kind| Finding {
            kind,
            org: Some("acme".into()),
            pipeline_id: Some("pl-1".into()),
            stack_name: "pay".into(),
            region: "us-east-1".into(),
            status: None,
            detail: String::new(),
            remediation: String::new(),
        };
        let report = DriftReport {
            summary: pb_domain::drift::DriftSummary {
                registry_entries: 3,
                findings: 2,
                by_type: [(FindingType::MissingStack, 2)].into_iter().collect(),
                ..Default::default()
            },
            findings: vec![finding(FindingType::MissingStack); 2],
            in_progress: vec![],
        };
        let run = AuditRun::new(
            "2026-11-20T02:00:00.000Z".into(),
            "2026-11-20T02:00:01.000Z".into(),
            RunScope {
                trigger: "nightly".into(),
                org: None,
                regions: vec!["eu-west-1".into(), "us-east-1".into()],
            },
            report,
            vec![RunError {
                region: Some("eu-west-1".into()),
                kind: "access-denied".into(),
                message: "DescribeStacks was denied".into(),
                orgs: vec!["acme".into(), "globex".into()],
            }],
        );
        let emf = RunMetrics::of(&run, 0).emf("audit", 1_700_000_000_000);
        assert_eq!(emf["RunFailed"], 0);
        assert_eq!(emf["RunSucceeded"], 1, "a partial run still succeeds");
        assert_eq!(emf["OrgPartsFailed"], 2);
        assert_eq!(emf["ReadFailures"], 1);
        assert_eq!(emf["RegionsScanned"], 1);
        assert_eq!(emf["MissingStacks"], 2);
        assert_eq!(emf["Findings"], 2);
        assert_eq!(emf["RegistryEntries"], 3);
        assert_eq!(
            emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            16
        );
        assert_eq!(
            emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            METRIC_NAMESPACE
        );
    }

    fn run_with(errors: Vec<RunError>, tokens: TokenCheck) -> AuditRun {
        AuditRun::new(
            "2026-11-20T02:00:00.000Z".into(),
            "2026-11-20T02:00:01.000Z".into(),
            RunScope::default(),
            DriftReport::default(),
            errors,
        )
        .with_token_check(tokens)
    }

    fn expiring(org: &str) -> ExpiringToken {
        ExpiringToken {
            org: org.into(),
            jti: format!("{org}-jti"),
            expires_at: "2026-11-25T00:00:00Z".into(),
            expired: false,
        }
    }

    #[test]
    fn expiring_tokens_and_unread_ones_become_metrics_under_the_alarmed_names() {
        let tokens = TokenCheck {
            expiring: vec![expiring("acme"), expiring("globex")],
            errors: vec![TokenReadError {
                org: "initech".into(),
                kind: "access-denied".into(),
                message: "Query was denied".into(),
            }],
        };
        let emf = RunMetrics::of(&run_with(vec![], tokens), 0).emf("nightly-audit", 0);
        assert_eq!(emf["StoredTokensExpiringSoon"], 2);
        assert_eq!(emf["ReadFailures"], 1);
        assert_eq!(emf["RunSucceeded"], 1);
        // The alarms name these exactly: namespace, metric names and the one dimension.
        let declared = &emf["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "PipelineBuilder/Audit");
        assert_eq!(
            declared["Dimensions"],
            serde_json::json!([["FunctionName"]])
        );
        assert_eq!(emf["FunctionName"], "nightly-audit");
        let names: Vec<&str> = declared["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"RunSucceeded"), "{names:?}");
        assert!(names.contains(&"StoredTokensExpiringSoon"), "{names:?}");
    }

    #[test]
    fn a_run_without_the_registry_or_left_unrecorded_did_not_succeed() {
        let registry = RunError {
            region: None,
            kind: "network".into(),
            message: "Query could not reach the service".into(),
            orgs: vec![],
        };
        let failed = RunMetrics::of(&run_with(vec![registry], TokenCheck::default()), 0);
        assert_eq!((failed.run_failed, failed.run_succeeded), (1, 0));
        let clean = RunMetrics::of(&run_with(vec![], TokenCheck::default()), 0);
        assert_eq!(clean.run_succeeded, 1);
        assert_eq!(clean.clone().not_recorded().run_succeeded, 0);
        assert_eq!(clean.not_recorded().run_failed, 0);
    }
}
