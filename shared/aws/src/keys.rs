//! The DynamoDB key layout of both tables, shared by every reader and writer (and by the tests
//! that seed items directly).

use pb_domain::execution::{filed_at, ItemState};

pub fn registry_pk(pipeline_id: &str) -> String {
    format!("REG#{pipeline_id}")
}

pub const REGISTRY_SK: &str = "REG";

pub fn execution_pk(pipeline_id: &str) -> String {
    format!("PIPE#{pipeline_id}")
}

pub fn execution_sk(execution_id: &str) -> String {
    format!("EXEC#{execution_id}")
}

/// A pipeline's deployment timeline (DORA's time to restore), beside its executions.
pub const TIMELINE_SK: &str = "DORA#TIMELINE";

pub fn stage_sk(execution_id: &str, stage: &str, attempt: u32) -> String {
    format!("EXEC#{execution_id}#STAGE#{stage}#{attempt:05}")
}

pub fn action_sk(execution_id: &str, stage: &str, action: &str, attempt: u32) -> String {
    format!("EXEC#{execution_id}#ACTION#{stage}#{action}#{attempt:05}")
}

/// Who started which run of an org's pipeline through the platform (CatalogTable, beside the
/// org's other items, so the API writes no raw execution item).
pub fn starter_pk(org_id: &str, pipeline_id: &str) -> String {
    format!("ORG#{org_id}#RUNS#{pipeline_id}")
}

pub fn starter_sk(execution_id: &str) -> String {
    format!("{STARTER_SK_PREFIX}{execution_id}")
}

pub const STARTER_SK_PREFIX: &str = "RUN#";
/// The execution id of an execution item's sort key; `None` for a stage or action item's.
pub fn execution_id_of_sk(sk: &str) -> Option<&str> {
    sk.strip_prefix("EXEC#").filter(|id| !id.contains('#'))
}

/// One of the execution history's sparse, KEYS_ONLY indexes on ExecutionsTable: the executions
/// of one pipeline (and status, branch or both), newest last under [`HISTORY_START`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryIndex {
    pub name: &'static str,
    pub hash: &'static str,
}

pub const HISTORY_BY_START: HistoryIndex = HistoryIndex {
    name: "ExecutionsByStart",
    hash: "histPipeline",
};
pub const HISTORY_BY_STATUS: HistoryIndex = HistoryIndex {
    name: "ExecutionsByStatus",
    hash: "histPipelineStatus",
};
pub const HISTORY_BY_BRANCH: HistoryIndex = HistoryIndex {
    name: "ExecutionsByBranch",
    hash: "histPipelineBranch",
};
pub const HISTORY_BY_BRANCH_STATUS: HistoryIndex = HistoryIndex {
    name: "ExecutionsByBranchStatus",
    hash: "histPipelineBranchStatus",
};
pub const HISTORY_INDEXES: [HistoryIndex; 4] = [
    HISTORY_BY_START,
    HISTORY_BY_STATUS,
    HISTORY_BY_BRANCH,
    HISTORY_BY_BRANCH_STATUS,
];

/// The range key of every history index: `{start_ms:015}#{executionId}`.
pub const HISTORY_START: &str = "histStart";

/// Git allows branch names far longer than a DynamoDB index key (2048 bytes for the partition):
/// an execution on a longer branch is listed, but not under its branch, rather than refused.
pub const MAX_HISTORY_BRANCH_BYTES: usize = 1024;

/// Fixed-width milliseconds sort as numbers do; the execution id breaks ties between executions
/// that started in the same millisecond.
pub fn history_start(start_ms: i64, execution_id: &str) -> String {
    format!("{:015}#{execution_id}", start_ms.max(0))
}

/// The index a listing filtered by status and/or branch reads.
pub fn history_index(branch: bool, status: bool) -> HistoryIndex {
    match (branch, status) {
        (false, false) => HISTORY_BY_START,
        (false, true) => HISTORY_BY_STATUS,
        (true, false) => HISTORY_BY_BRANCH,
        (true, true) => HISTORY_BY_BRANCH_STATUS,
    }
}

/// The partition of [`history_index`]`(branch.is_some(), status.is_some())` that holds the
/// pipeline's executions with that branch and status. Pipeline ids and statuses never contain
/// `#`, so a branch that does cannot make two partitions meet.
pub fn history_partition(pipeline_id: &str, branch: Option<&str>, status: Option<&str>) -> String {
    [Some(pipeline_id), branch, status]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("#")
}

/// The attributes that place an execution item in the history indexes, as the ingest writes them
/// and the backfill restores them. Only execution items with a known start (or, failing that, end)
/// get any, so stage, action and rollup items never enter an index; an unknown (or empty) status
/// or branch leaves out the indexes that need it.
pub fn history_attributes<'a>(item: &'a ItemState) -> Vec<(&'static str, String)> {
    let Some(start) = filed_at(item).filter(|_| item.stage.is_none()) else {
        return Vec::new();
    };
    let usable = |value: &&str| !value.is_empty();
    let status = item.status.as_deref().filter(usable);
    let branch = item
        .trigger
        .as_ref()
        .and_then(|t| t.branch.as_deref())
        .filter(|b| usable(b) && b.len() <= MAX_HISTORY_BRANCH_BYTES);
    let mut attributes = vec![(HISTORY_START, history_start(start, &item.execution_id))];
    // A filter that is not asked for matches anything; one that is needs the value known.
    let part = |by: bool, value: Option<&'a str>| if by { value.map(Some) } else { Some(None) };
    for (by_branch, by_status) in [(false, false), (false, true), (true, false), (true, true)] {
        if let (Some(branch), Some(status)) = (part(by_branch, branch), part(by_status, status)) {
            attributes.push((
                history_index(by_branch, by_status).hash,
                history_partition(&item.pipeline_id, branch, status),
            ));
        }
    }
    attributes
}

pub fn rollup_pk(org_id: &str, day: &str) -> String {
    format!("ORG#{org_id}#DAY#{day}")
}

pub fn rollup_sk(pipeline_id: &str) -> String {
    format!("PIPE#{pipeline_id}")
}

/// The org's partition on GSI2, shared by everything listed per org (registry entries, plugins).
pub fn org_gsi2pk(org_id: &str) -> String {
    format!("ORG#{org_id}")
}

pub fn registry_gsi2sk(pipeline_id: &str) -> String {
    format!("{REGISTRY_GSI2SK_PREFIX}{pipeline_id}")
}

pub const REGISTRY_GSI2SK_PREFIX: &str = "REG#";

/// Every org's registry entries on GSI1, for the platform-wide audit.
pub const REGISTRY_GSI1PK: &str = "REGISTRY";

pub fn plugin_pk(org_id: &str, name: &str) -> String {
    format!("ORG#{org_id}#PLUGIN#{name}")
}

/// `V#` + the version in a form whose string order is semver order for releases (fixed-width
/// numbers; a release sorts after its prereleases because `~` follows every prerelease character).
pub fn plugin_sk(version: &semver::Version) -> String {
    format!("V#{}", sortable_version(version))
}

pub fn plugin_gsi2sk(name: &str, version: &semver::Version) -> String {
    format!("PLUGIN#{name}#{}", sortable_version(version))
}

/// Plugin names are `[a-z0-9-]`, so `#` cannot occur inside one and `PLUGIN#{name}#` prefixes
/// exactly one plugin's versions.
pub fn plugin_gsi2sk_prefix(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("PLUGIN#{name}#"),
        None => "PLUGIN#".to_string(),
    }
}

pub const PUBLIC_PLUGINS_GSI1PK: &str = "PUBLIC#PLUGIN";

pub fn public_plugin_gsi1sk(name: &str, version: &semver::Version, org_id: &str) -> String {
    format!("{name}#{}#{org_id}", sortable_version(version))
}

pub fn public_plugin_gsi1sk_prefix(name: &str) -> String {
    format!("{name}#")
}

/// The owner record of a public plugin name: which org may publish public versions of it.
pub fn public_name_pk(name: &str) -> String {
    format!("PUBLICNAME#{name}")
}

pub const PUBLIC_NAME_OWNER_SK: &str = "OWNER";

/// Beside the name's public versions on GSI1, so one query returns a name's owner with its
/// versions. Versions sort by a zero-padded number there, so `OWNER` never falls among them.
pub fn public_name_owner_gsi1sk(name: &str) -> String {
    format!("{name}#{PUBLIC_NAME_OWNER_SK}")
}

fn sortable_version(version: &semver::Version) -> String {
    let release = format!(
        "{:010}.{:010}.{:010}",
        version.major, version.minor, version.patch
    );
    if version.pre.is_empty() {
        format!("{release}~")
    } else {
        format!("{release}-{}", version.pre)
    }
}

pub fn pipeline_pk(org_id: &str) -> String {
    format!("ORG#{org_id}")
}

pub fn pipeline_sk(pipeline_id: &str) -> String {
    format!("PIPELINE#{pipeline_id}")
}

pub const PIPELINE_SK_PREFIX: &str = "PIPELINE#";

/// The claim on a pipeline name within its org (one pipeline per name: its stack and
/// CodePipeline are named after it). `PIPELINE_NAME#` starts with `PIPELINE` but not with
/// [`PIPELINE_SK_PREFIX`], so listing the org's pipelines never reads a claim as one.
pub fn pipeline_name_sk(name: &str) -> String {
    format!("PIPELINE_NAME#{name}")
}

/// One deployment of a pipeline; deployment ids sort by time, so the newest come first in a
/// descending query of [`deployments_sk_prefix`].
pub fn deployment_sk(pipeline_id: &str, deployment_id: &str) -> String {
    format!("DEPLOYMENT#{pipeline_id}#{deployment_id}")
}

pub fn deployments_sk_prefix(pipeline_id: &str) -> String {
    format!("DEPLOYMENT#{pipeline_id}#")
}

/// Held while a deployment of the pipeline is under way.
pub fn deploying_sk(pipeline_id: &str) -> String {
    format!("DEPLOYING#{pipeline_id}")
}

/// The pipeline's last successful deployment.
pub fn deployed_sk(pipeline_id: &str) -> String {
    format!("DEPLOYED#{pipeline_id}")
}

/// Which deployment a stack's status events belong to.
pub fn stack_pk(region: &str, stack_name: &str) -> String {
    format!("STACK#{region}#{stack_name}")
}

pub const STACK_SK: &str = "STACK";

/// The org's own partition: its rules, exemptions and notification subscriptions.
pub fn org_pk(org_id: &str) -> String {
    format!("ORG#{org_id}")
}

pub fn rule_pk(org_id: &str) -> String {
    org_pk(org_id)
}

/// Notification subscriptions, in the org's partition like its rules.
pub fn notification_sk(subscription_id: &str) -> String {
    format!("{NOTIFICATION_SK_PREFIX}{subscription_id}")
}

pub const NOTIFICATION_SK_PREFIX: &str = "NOTIFY#";

/// The org's DORA settings, in its partition.
pub const DORA_SETTINGS_SK: &str = "SETTINGS#DORA";

pub fn rule_sk(rule_id: &str) -> String {
    format!("RULE#{rule_id}")
}

pub const RULE_SK_PREFIX: &str = "RULE#";

pub const AUDIT_RUN_PK: &str = "AUDIT";

pub fn audit_run_sk(started_at: &str) -> String {
    format!("RUN#{started_at}")
}

/// The sort key of one facet item of a pipeline's daily rollup (`rollup::Facet::sk_prefix`).
pub fn rollup_facet_sk(facet_prefix: &str, pipeline_id: &str) -> String {
    format!("{facet_prefix}{pipeline_id}")
}

// Rules and exemptions live in the org's partition, so no reader can reach another org's
// without naming it.

pub fn exemption_pk(org_id: &str) -> String {
    rule_pk(org_id)
}

pub fn exemption_sk(exemption_id: &str) -> String {
    format!("{EXEMPTION_SK_PREFIX}{exemption_id}")
}

pub const EXEMPTION_SK_PREFIX: &str = "EXEMPTION#";

/// The smallest sort key above every key that starts with `prefix` (`RULE#` → `RULE$`), for
/// `SK BETWEEN :after AND :end` queries that resume a listing inside one kind of item.
pub fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    if let Some(last) = chars.pop() {
        chars.push(char::from_u32(last as u32 + 1).unwrap_or(char::MAX));
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_bounds_exactly_the_prefixed_keys() {
        let end = prefix_end(RULE_SK_PREFIX);
        assert_eq!(end, "RULE$");
        assert!(rule_sk("zzzz-ffff") < end);
        assert!(rule_sk("").as_str() >= RULE_SK_PREFIX);
        assert!("RULEZ" > end.as_str());
        assert_eq!(prefix_end(EXEMPTION_SK_PREFIX), "EXEMPTION$");
        assert_eq!(exemption_sk("e1"), "EXEMPTION#e1");
        assert_eq!(exemption_pk("acme"), "ORG#acme");
    }

    fn execution(status: Option<&str>, branch: Option<&str>) -> ItemState {
        ItemState {
            pipeline_id: "pl-1".into(),
            execution_id: "e-1".into(),
            status: status.map(str::to_string),
            execution_started_at: Some(1_700_000_000_123),
            completed_at: Some(1_700_000_999_000),
            trigger: branch.map(|b| pb_domain::event::Trigger {
                branch: Some(b.to_string()),
                ..Default::default()
            }),
            ..ItemState::default()
        }
    }

    fn named(attributes: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
        let mut attributes = attributes;
        attributes.sort();
        attributes
    }

    #[test]
    fn an_execution_is_listed_under_each_index_its_known_values_allow() {
        let start = "001700000000123#e-1".to_string();
        assert_eq!(
            named(history_attributes(&execution(Some("FAILED"), Some("main")))),
            named(vec![
                ("histStart", start.clone()),
                ("histPipeline", "pl-1".into()),
                ("histPipelineStatus", "pl-1#FAILED".into()),
                ("histPipelineBranch", "pl-1#main".into()),
                ("histPipelineBranchStatus", "pl-1#main#FAILED".into()),
            ])
        );
        assert_eq!(
            named(history_attributes(&execution(None, Some("main")))),
            named(vec![
                ("histStart", start.clone()),
                ("histPipeline", "pl-1".into()),
                ("histPipelineBranch", "pl-1#main".into()),
            ])
        );
        let long = "b".repeat(MAX_HISTORY_BRANCH_BYTES + 1);
        for branch in [None, Some(""), Some(long.as_str())] {
            assert_eq!(
                named(history_attributes(&execution(Some("STARTED"), branch))),
                named(vec![
                    ("histStart", start.clone()),
                    ("histPipeline", "pl-1".into()),
                    ("histPipelineStatus", "pl-1#STARTED".into()),
                ]),
                "{branch:?}"
            );
        }
    }

    #[test]
    fn the_start_is_the_execution_start_else_its_end_and_without_either_nothing() {
        let ended = ItemState {
            execution_started_at: None,
            ..execution(Some("FAILED"), None)
        };
        assert!(history_attributes(&ended).contains(&("histStart", "001700000999000#e-1".into())));
        let unknown = ItemState {
            completed_at: None,
            ..ended
        };
        assert_eq!(history_attributes(&unknown), []);
        let stage = ItemState {
            stage: Some("Build".into()),
            ..execution(Some("FAILED"), Some("main"))
        };
        assert_eq!(history_attributes(&stage), []);
        assert_eq!(history_start(-1, "e"), history_start(0, "e"));
        assert!(history_start(9, "z") < history_start(10, "a"));
    }

    #[test]
    fn only_an_execution_sort_key_names_an_execution() {
        assert_eq!(execution_id_of_sk(&execution_sk("e-1")), Some("e-1"));
        assert_eq!(execution_id_of_sk(&stage_sk("e-1", "Build", 1)), None);
        assert_eq!(
            execution_id_of_sk(&action_sk("e-1", "Build", "Go", 1)),
            None
        );
        assert_eq!(execution_id_of_sk("PIPE#pl-1"), None);
    }

    #[test]
    fn a_name_claim_is_never_read_as_a_pipeline() {
        let claim = pipeline_name_sk("payments");
        assert_eq!(claim, "PIPELINE_NAME#payments");
        assert!(!claim.starts_with(PIPELINE_SK_PREFIX));
        assert!(pipeline_sk("pl-1").starts_with(PIPELINE_SK_PREFIX));
        for other in [RULE_SK_PREFIX, EXEMPTION_SK_PREFIX] {
            assert!(claim.as_str() < other || claim.as_str() >= prefix_end(other).as_str());
        }
    }
}
