//! The drift audit's comparison: the registry's entries against the platform's live
//! CloudFormation stacks, and the audit run that records it. Pure: the registry read and the
//! stack scan happen in pb-aws.
//!
//! Matching goes by pipeline id (the stack's `PIPELINE_EVENT_ID` tag) first and by stack name
//! second, exact region before any region, so one entry claims at most one stack and a leftover
//! copy of a stack is reported rather than silently paired. A stack matched by name pairs only
//! with an entry of the org its `pipeline-builder:org` tag names: anyone can name a stack like
//! another org's entry, which would otherwise hide that entry's missing stack.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

mod run;
mod tokens;

pub use run::{
    drift_event, AuditRun, DriftEvent, RunError, RunScope, RunStatus, DRIFT_DETECTED,
    DRIFT_EVENT_SOURCE, MAX_EVENT_ENTRY_BYTES,
};
pub use tokens::{
    expiring_tokens, ExpiringToken, StoredToken, TokenCheck, TokenReadError,
    TOKEN_EXPIRY_WARNING_DAYS,
};

/// What the registry says is deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredPipeline {
    pub pipeline_id: String,
    pub org_id: String,
    pub stack_name: String,
    pub region: String,
}

/// A live stack with the stack-level `pipeline-builder` tag, and what its other tags say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedStack {
    pub name: String,
    pub region: String,
    pub status: String,
    /// The `PIPELINE_EVENT_ID` tag.
    pub pipeline_id: Option<String>,
    /// The `pipeline-builder:org` tag.
    pub org_id: Option<String>,
    /// The `pipeline-builder:component` tag, set on the platform's EC2/EKS workload stacks.
    pub component: Option<String>,
}

impl DeployedStack {
    /// The platform's own infrastructure rather than a deployed pipeline: never in the registry,
    /// so never orphaned.
    fn is_infrastructure(&self) -> bool {
        self.component.is_some() && self.pipeline_id.is_none()
    }
}

/// How a stack status reads for the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackHealth {
    Healthy,
    /// An operation is under way; the stack is judged by the next run, never called missing.
    InProgress,
    /// ROLLBACK_COMPLETE, UPDATE_ROLLBACK_COMPLETE, IMPORT_ROLLBACK_COMPLETE or any `*_FAILED`.
    Unhealthy,
    /// DELETE_COMPLETE: the stack no longer exists.
    Deleted,
}

/// Classifies by suffix so statuses CloudFormation adds later still land somewhere sensible.
pub fn stack_health(status: &str) -> StackHealth {
    if status == "DELETE_COMPLETE" {
        StackHealth::Deleted
    } else if status.ends_with("_IN_PROGRESS") {
        StackHealth::InProgress
    } else if status.ends_with("_FAILED") || status.ends_with("ROLLBACK_COMPLETE") {
        StackHealth::Unhealthy
    } else {
        StackHealth::Healthy
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingType {
    /// A platform stack that no registry entry claims.
    OrphanedStack,
    /// A registry entry whose stack exists in none of the scanned regions.
    MissingStack,
    RegionMismatch,
    NameMismatch,
    UnhealthyStack,
    /// Listed apart from the findings: not drift, and not counted for the exit code.
    InProgress,
}

impl FindingType {
    pub const DRIFT: [FindingType; 5] = [
        FindingType::OrphanedStack,
        FindingType::MissingStack,
        FindingType::RegionMismatch,
        FindingType::NameMismatch,
        FindingType::UnhealthyStack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingType::OrphanedStack => "orphaned-stack",
            FindingType::MissingStack => "missing-stack",
            FindingType::RegionMismatch => "region-mismatch",
            FindingType::NameMismatch => "name-mismatch",
            FindingType::UnhealthyStack => "unhealthy-stack",
            FindingType::InProgress => "in-progress",
        }
    }
}

/// One reported difference. Findings are reported, never fixed automatically.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    #[serde(rename = "type")]
    pub kind: FindingType,
    /// The registry entry's org, or the stack's `pipeline-builder:org` tag when unregistered.
    pub org: Option<String>,
    pub pipeline_id: Option<String>,
    pub stack_name: String,
    /// Where the stack is (or, for a missing stack, where the registry says it should be).
    pub region: String,
    /// The CloudFormation stack status; `None` for a missing stack.
    pub status: Option<String>,
    pub detail: String,
    pub remediation: String,
}

/// Counts of one comparison, restricted to the run's org when it has one.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftSummary {
    pub registry_entries: usize,
    /// Platform stacks that are pipelines (infrastructure stacks excluded).
    pub pipeline_stacks: usize,
    /// EC2/EKS workload stacks (`pipeline-builder:component`), seen and skipped.
    pub infrastructure_stacks: usize,
    /// Registry entries paired with a live stack.
    pub matched: usize,
    /// Entries registered in a region that could not be scanned: not judged in this run.
    pub unchecked_entries: usize,
    pub findings: usize,
    pub in_progress: usize,
    /// Every drift finding type, zeros included.
    pub by_type: BTreeMap<FindingType, usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftReport {
    pub summary: DriftSummary,
    /// Sorted by type, org, pipeline id, region and stack name.
    pub findings: Vec<Finding>,
    pub in_progress: Vec<Finding>,
}

/// What a comparison may conclude from: the org it is restricted to, and the regions whose
/// stacks are unknown because their scan failed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Coverage<'a> {
    pub org: Option<&'a str>,
    pub unscanned_regions: &'a [String],
}

/// Compares the registry with the live platform stacks. `stacks` must hold only stacks with the
/// stack-level `pipeline-builder` tag; `entries` may hold other orgs' entries, which then still
/// claim their stacks but are left out of the report.
pub fn detect(
    entries: &[RegisteredPipeline],
    stacks: &[DeployedStack],
    coverage: Coverage<'_>,
) -> DriftReport {
    let (infrastructure, mut pipelines): (Vec<&DeployedStack>, Vec<&DeployedStack>) = stacks
        .iter()
        .filter(|s| stack_health(&s.status) != StackHealth::Deleted)
        .partition(|s| s.is_infrastructure());
    pipelines.sort_by(|a, b| (&a.region, &a.name).cmp(&(&b.region, &b.name)));
    let mut entries: Vec<&RegisteredPipeline> = entries.iter().collect();
    entries.sort_by(|a, b| a.pipeline_id.cmp(&b.pipeline_id));
    let pairing = pair(&entries, &pipelines);
    let in_scope = |org: Option<&str>| coverage.org.is_none() || org == coverage.org;

    let mut summary = DriftSummary {
        infrastructure_stacks: infrastructure
            .iter()
            .filter(|s| in_scope(s.org_id.as_deref()))
            .count(),
        ..DriftSummary::default()
    };
    let mut found = Vec::new();
    for (e, entry) in entries.iter().enumerate() {
        if !in_scope(Some(&entry.org_id)) {
            continue;
        }
        summary.registry_entries += 1;
        match pairing.stack_of_entry[e] {
            Some(s) => {
                summary.matched += 1;
                summary.pipeline_stacks += 1;
                found.extend(judge_pair(entry, pipelines[s]));
            }
            None if coverage.unscanned_regions.contains(&entry.region) => {
                summary.unchecked_entries += 1;
            }
            None => found.push(missing(entry)),
        }
    }
    let entry_by_id: HashMap<&str, usize> = entries
        .iter()
        .enumerate()
        .map(|(e, entry)| (entry.pipeline_id.as_str(), e))
        .collect();
    for (s, stack) in pipelines.iter().enumerate() {
        if pairing.entry_of_stack[s].is_some() || !in_scope(stack.org_id.as_deref()) {
            continue;
        }
        summary.pipeline_stacks += 1;
        let claimed_by = stack
            .pipeline_id
            .as_deref()
            .and_then(|id| entry_by_id.get(id))
            .map(|&e| (entries[e], pairing.stack_of_entry[e].map(|s| pipelines[s])));
        found.push(unclaimed(stack, claimed_by));
    }
    found.sort_by(|a, b| finding_order(a).cmp(&finding_order(b)));
    let (in_progress, findings): (Vec<Finding>, Vec<Finding>) = found
        .into_iter()
        .partition(|f| f.kind == FindingType::InProgress);
    summary.by_type = count_by_type(&findings);
    summary.findings = findings.len();
    summary.in_progress = in_progress.len();
    DriftReport {
        summary,
        findings,
        in_progress,
    }
}

fn count_by_type(findings: &[Finding]) -> BTreeMap<FindingType, usize> {
    let mut counts: BTreeMap<FindingType, usize> =
        FindingType::DRIFT.iter().map(|t| (*t, 0)).collect();
    for finding in findings {
        *counts.entry(finding.kind).or_default() += 1;
    }
    counts
}

fn finding_order(f: &Finding) -> (FindingType, &Option<String>, &Option<String>, &str, &str) {
    (f.kind, &f.org, &f.pipeline_id, &f.region, &f.stack_name)
}

/// Which entry claims which stack (indexes into the sorted lists).
struct Pairing {
    stack_of_entry: Vec<Option<usize>>,
    entry_of_stack: Vec<Option<usize>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MatchKey {
    PipelineId,
    /// Only stacks without a pipeline id tag: a stack tagged with another id belongs to that id.
    StackName,
}

struct Pass {
    key: MatchKey,
    same_region: bool,
    same_name: bool,
}

/// Strictest first, each over every entry, so an entry never takes a stack that another entry
/// matches more exactly.
const PASSES: [Pass; 5] = [
    Pass {
        key: MatchKey::PipelineId,
        same_region: true,
        same_name: true,
    },
    Pass {
        key: MatchKey::PipelineId,
        same_region: true,
        same_name: false,
    },
    Pass {
        key: MatchKey::PipelineId,
        same_region: false,
        same_name: false,
    },
    Pass {
        key: MatchKey::StackName,
        same_region: true,
        same_name: true,
    },
    Pass {
        key: MatchKey::StackName,
        same_region: false,
        same_name: true,
    },
];

fn pair(entries: &[&RegisteredPipeline], stacks: &[&DeployedStack]) -> Pairing {
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (s, stack) in stacks.iter().enumerate() {
        match stack.pipeline_id.as_deref() {
            Some(id) => by_id.entry(id).or_default().push(s),
            None => by_name.entry(stack.name.as_str()).or_default().push(s),
        }
    }
    let mut pairing = Pairing {
        stack_of_entry: vec![None; entries.len()],
        entry_of_stack: vec![None; stacks.len()],
    };
    for pass in &PASSES {
        for (e, entry) in entries.iter().enumerate() {
            if pairing.stack_of_entry[e].is_some() {
                continue;
            }
            let candidates = match pass.key {
                MatchKey::PipelineId => by_id.get(entry.pipeline_id.as_str()),
                MatchKey::StackName => by_name.get(entry.stack_name.as_str()),
            };
            let chosen = candidates.into_iter().flatten().copied().find(|&s| {
                pairing.entry_of_stack[s].is_none()
                    && same_org(pass.key, entry, stacks[s])
                    && (!pass.same_region || stacks[s].region == entry.region)
                    && (!pass.same_name || stacks[s].name == entry.stack_name)
            });
            if let Some(s) = chosen {
                pairing.stack_of_entry[e] = Some(s);
                pairing.entry_of_stack[s] = Some(e);
            }
        }
    }
    pairing
}

/// The pipeline id ties a stack to its entry whatever its org tag says; a name proves nothing,
/// so a stack matched by name must carry the entry's org tag.
fn same_org(key: MatchKey, entry: &RegisteredPipeline, stack: &DeployedStack) -> bool {
    match key {
        MatchKey::PipelineId => true,
        MatchKey::StackName => stack.org_id.as_deref() == Some(entry.org_id.as_str()),
    }
}

fn finding(
    kind: FindingType,
    org: Option<&str>,
    pipeline_id: Option<&str>,
    stack: &DeployedStack,
    detail: String,
    remediation: String,
) -> Finding {
    Finding {
        kind,
        org: org.map(str::to_string),
        pipeline_id: pipeline_id.map(str::to_string),
        stack_name: stack.name.clone(),
        region: stack.region.clone(),
        status: Some(stack.status.clone()),
        detail,
        remediation,
    }
}

/// Findings about an entry and the stack it claimed: where and what it is, then its health.
fn judge_pair(entry: &RegisteredPipeline, stack: &DeployedStack) -> Vec<Finding> {
    let org = Some(entry.org_id.as_str());
    let id = Some(entry.pipeline_id.as_str());
    let mut found = Vec::new();
    if stack.region != entry.region {
        found.push(finding(
            FindingType::RegionMismatch,
            org,
            id,
            stack,
            format!(
                "the registry places stack {} in {}, but the stack is in {}",
                entry.stack_name, entry.region, stack.region
            ),
            format!(
                "Update the registry entry's region to {}, or redeploy the pipeline in {} and delete this stack.",
                stack.region, entry.region
            ),
        ));
    }
    if stack.name != entry.stack_name {
        found.push(finding(
            FindingType::NameMismatch,
            org,
            id,
            stack,
            format!(
                "the registry names stack {}, but the stack tagged with this pipeline id is {}",
                entry.stack_name, stack.name
            ),
            format!(
                "Update the registry entry's stack name to {}, or redeploy the pipeline as {} and delete this stack.",
                stack.name, entry.stack_name
            ),
        ));
    }
    match stack_health(&stack.status) {
        StackHealth::Unhealthy => found.push(unhealthy(org, id, stack)),
        StackHealth::InProgress => found.push(in_progress(org, id, stack)),
        StackHealth::Healthy | StackHealth::Deleted => {}
    }
    found
}

fn missing(entry: &RegisteredPipeline) -> Finding {
    Finding {
        kind: FindingType::MissingStack,
        org: Some(entry.org_id.clone()),
        pipeline_id: Some(entry.pipeline_id.clone()),
        stack_name: entry.stack_name.clone(),
        region: entry.region.clone(),
        status: None,
        detail: format!(
            "the registry names stack {} in {}, but no stack with this pipeline id or name exists in the scanned regions",
            entry.stack_name, entry.region
        ),
        remediation:
            "Redeploy the pipeline, or remove its registry entry if the pipeline was retired."
                .to_string(),
    }
}

/// A stack no entry claimed. A stack still being created may precede its registration, so it
/// is listed as in progress rather than orphaned.
fn unclaimed(
    stack: &DeployedStack,
    claimed_by: Option<(&RegisteredPipeline, Option<&DeployedStack>)>,
) -> Finding {
    let org = stack.org_id.as_deref();
    let id = stack.pipeline_id.as_deref();
    if stack_health(&stack.status) == StackHealth::InProgress {
        return in_progress(org, id, stack);
    }
    let (detail, remediation) = match (id, claimed_by) {
        (Some(id), Some((entry, Some(registered)))) => (
            format!(
                "the stack carries pipeline id {id}, whose registry entry claims stack {} in {}",
                registered.name, registered.region
            ),
            format!(
                "Delete this leftover copy once stack {} in {} is confirmed to be the live one (registry: {} in {}).",
                registered.name, registered.region, entry.stack_name, entry.region
            ),
        ),
        (Some(id), _) => (
            format!("the stack carries pipeline id {id}, which has no registry entry"),
            "Register the pipeline if it is still in use; otherwise delete the stack.".to_string(),
        ),
        (None, _) => (
            "the stack has no PIPELINE_EVENT_ID tag and no registry entry names it".to_string(),
            "Register the pipeline (and tag the stack with its pipeline id) if it is still in use; otherwise delete the stack.".to_string(),
        ),
    };
    finding(
        FindingType::OrphanedStack,
        org,
        id,
        stack,
        detail,
        remediation,
    )
}

fn unhealthy(org: Option<&str>, pipeline_id: Option<&str>, stack: &DeployedStack) -> Finding {
    let (detail, remediation) = match stack.status.as_str() {
        "ROLLBACK_COMPLETE" => (
            "the stack's creation failed and was rolled back; it holds no resources",
            "Read the stack events for the failed resource, then delete the stack and redeploy (a stack in ROLLBACK_COMPLETE cannot be updated).",
        ),
        "UPDATE_ROLLBACK_COMPLETE" | "IMPORT_ROLLBACK_COMPLETE" => (
            "the last update failed and was rolled back; the stack runs the previous version",
            "Read the stack events for the failed resource, fix the cause and redeploy.",
        ),
        "UPDATE_ROLLBACK_FAILED" => (
            "an update failed and so did its rollback; the stack cannot be updated",
            "Fix what blocks the rollback, run continue-update-rollback (skipping resources if needed), then redeploy.",
        ),
        "DELETE_FAILED" => (
            "the stack's deletion failed; some of its resources still exist",
            "Remove or retain the resources that block deletion, then delete the stack again.",
        ),
        _ => (
            "the stack's last operation failed",
            "Read the stack events for the failed resource, fix the cause and redeploy.",
        ),
    };
    finding(
        FindingType::UnhealthyStack,
        org,
        pipeline_id,
        stack,
        format!("{detail} ({})", stack.status),
        remediation.to_string(),
    )
}

fn in_progress(org: Option<&str>, pipeline_id: Option<&str>, stack: &DeployedStack) -> Finding {
    finding(
        FindingType::InProgress,
        org,
        pipeline_id,
        stack,
        format!(
            "an operation is under way ({}); the stack is judged once it completes",
            stack.status
        ),
        "None now; the next audit judges the stack.".to_string(),
    )
}

#[cfg(test)]
mod tests;
