//! The one summary line per run, as a log line and as CloudWatch EMF metrics.

use pb_aws::emf::{self, FUNCTION_NAME_DIMENSION};
use pb_domain::drift::{AuditRun, FindingType, RunStatus};

pub const METRIC_NAMESPACE: &str = "PipelineBuilder/Audit";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunMetrics {
    pub registry_entries: u64,
    pub pipeline_stacks: u64,
    pub regions_scanned: u64,
    /// Regions whose stacks could not be listed, plus one when the registry could not be read.
    pub read_failures: u64,
    /// The registry could not be read: nothing was judged.
    pub run_failed: u64,
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
        let read_failures = run.errors.len() as u64;
        RunMetrics {
            registry_entries: run.summary.registry_entries as u64,
            pipeline_stacks: run.summary.pipeline_stacks as u64,
            regions_scanned: (run.regions.len() as u64)
                .saturating_sub(run.errors.iter().filter(|e| e.region.is_some()).count() as u64),
            read_failures,
            run_failed: u64::from(run.status == RunStatus::Failed),
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

    fn metrics(&self) -> [(&'static str, u64); 14] {
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
            "audit run finished"
        );
        emf::emit(self.emf(function_name, timestamp_ms));
    }
}

#[cfg(test)]
mod tests {
    use pb_domain::drift::{DriftReport, Finding, RunError, RunScope};

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
            14
        );
        assert_eq!(
            emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            METRIC_NAMESPACE
        );
    }
}
