use serde_json::json;

use super::*;

const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";

fn entry(id: &str, org: &str, stack: &str, region: &str) -> RegisteredPipeline {
    RegisteredPipeline {
        pipeline_id: id.into(),
        org_id: org.into(),
        stack_name: stack.into(),
        region: region.into(),
    }
}

fn stack(
    name: &str,
    region: &str,
    status: &str,
    id: Option<&str>,
    org: Option<&str>,
) -> DeployedStack {
    DeployedStack {
        name: name.into(),
        region: region.into(),
        status: status.into(),
        pipeline_id: id.map(str::to_string),
        org_id: org.map(str::to_string),
        component: None,
    }
}

fn healthy(name: &str, region: &str, id: &str, org: &str) -> DeployedStack {
    stack(name, region, "CREATE_COMPLETE", Some(id), Some(org))
}

fn all(entries: &[RegisteredPipeline], stacks: &[DeployedStack]) -> DriftReport {
    detect(entries, stacks, Coverage::default())
}

/// (type, pipeline id, stack name, region) of every finding, in report order.
fn kinds(findings: &[Finding]) -> Vec<(&'static str, Option<&str>, &str, &str)> {
    findings
        .iter()
        .map(|f| {
            (
                f.kind.as_str(),
                f.pipeline_id.as_deref(),
                f.stack_name.as_str(),
                f.region.as_str(),
            )
        })
        .collect()
}

#[test]
fn a_registered_healthy_stack_is_clean() {
    let report = all(
        &[entry("pl-1", "acme", "pay", EAST)],
        &[healthy("pay", EAST, "pl-1", "acme")],
    );
    assert!(report.findings.is_empty());
    assert!(report.in_progress.is_empty());
    assert_eq!(report.summary.matched, 1);
    assert_eq!(report.summary.registry_entries, 1);
    assert_eq!(report.summary.pipeline_stacks, 1);
    assert_eq!(report.summary.findings, 0);
    assert_eq!(
        report.summary.by_type.values().copied().collect::<Vec<_>>(),
        [0, 0, 0, 0, 0]
    );
}

#[test]
fn each_kind_of_drift_is_found_once_and_sorted_by_type() {
    let entries = [
        entry("pl-missing", "acme", "gone", EAST),
        entry("pl-moved", "acme", "moved", EAST),
        entry("pl-renamed", "acme", "old-name", EAST),
        entry("pl-broken", "acme", "broken", WEST),
    ];
    let stacks = [
        healthy("moved", WEST, "pl-moved", "acme"),
        healthy("new-name", EAST, "pl-renamed", "acme"),
        stack(
            "broken",
            WEST,
            "ROLLBACK_COMPLETE",
            Some("pl-broken"),
            Some("acme"),
        ),
        healthy("stray", EAST, "pl-unknown", "acme"),
    ];
    let report = all(&entries, &stacks);
    assert_eq!(
        kinds(&report.findings),
        [
            ("orphaned-stack", Some("pl-unknown"), "stray", EAST),
            ("missing-stack", Some("pl-missing"), "gone", EAST),
            ("region-mismatch", Some("pl-moved"), "moved", WEST),
            ("name-mismatch", Some("pl-renamed"), "new-name", EAST),
            ("unhealthy-stack", Some("pl-broken"), "broken", WEST),
        ]
    );
    let by_type: Vec<(&str, usize)> = report
        .summary
        .by_type
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        by_type,
        [
            ("orphaned-stack", 1),
            ("missing-stack", 1),
            ("region-mismatch", 1),
            ("name-mismatch", 1),
            ("unhealthy-stack", 1),
        ]
    );
    assert_eq!(report.summary.matched, 3);
    assert_eq!(report.summary.pipeline_stacks, 4);
    assert_eq!(report.summary.findings, 5);
}

#[test]
fn a_missing_stack_names_where_the_registry_expects_it() {
    let report = all(&[entry("pl-1", "acme", "pay", WEST)], &[]);
    assert_eq!(
        serde_json::to_value(&report.findings[0]).unwrap(),
        json!({
            "type": "missing-stack",
            "org": "acme",
            "pipelineId": "pl-1",
            "stackName": "pay",
            "region": WEST,
            "status": null,
            "detail": "the registry names stack pay in eu-west-1, but no stack with this pipeline id or name exists in the scanned regions",
            "remediation": "Redeploy the pipeline, or remove its registry entry if the pipeline was retired."
        })
    );
}

#[test]
fn a_stack_without_a_pipeline_id_tag_is_matched_by_name() {
    let report = all(
        &[entry("pl-1", "acme", "pay", EAST)],
        &[stack("pay", EAST, "UPDATE_COMPLETE", None, Some("acme"))],
    );
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.summary.matched, 1);
}

#[test]
fn a_stack_tagged_with_another_id_is_not_claimed_by_name() {
    let report = all(
        &[entry("pl-1", "acme", "pay", EAST)],
        &[healthy("pay", EAST, "pl-2", "acme")],
    );
    assert_eq!(
        kinds(&report.findings),
        [
            ("orphaned-stack", Some("pl-2"), "pay", EAST),
            ("missing-stack", Some("pl-1"), "pay", EAST),
        ]
    );
}

#[test]
fn an_exact_match_wins_over_a_looser_one_whatever_the_entry_order() {
    // "pl-a" sorts first and could take the us-east-1 stack by name alone; "pl-b" names it exactly.
    let entries = [
        entry("pl-a", "acme", "shared", WEST),
        entry("pl-b", "acme", "shared", EAST),
    ];
    let stacks = [stack("shared", EAST, "CREATE_COMPLETE", None, Some("acme"))];
    let report = all(&entries, &stacks);
    assert_eq!(
        kinds(&report.findings),
        [("missing-stack", Some("pl-a"), "shared", WEST)]
    );
}

#[test]
fn a_second_stack_with_a_registered_id_is_a_leftover_copy() {
    let report = all(
        &[entry("pl-1", "acme", "pay", EAST)],
        &[
            healthy("pay", WEST, "pl-1", "acme"),
            healthy("pay", EAST, "pl-1", "acme"),
        ],
    );
    assert_eq!(
        kinds(&report.findings),
        [("orphaned-stack", Some("pl-1"), "pay", WEST)]
    );
    assert_eq!(
        report.findings[0].detail,
        "the stack carries pipeline id pl-1, whose registry entry claims stack pay in us-east-1"
    );
}

#[test]
fn failed_and_rolled_back_statuses_are_unhealthy_with_their_own_advice() {
    let statuses = [
        "ROLLBACK_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
        "CREATE_FAILED",
        "ROLLBACK_FAILED",
        "DELETE_FAILED",
        "UPDATE_FAILED",
        "UPDATE_ROLLBACK_FAILED",
        "IMPORT_ROLLBACK_FAILED",
    ];
    for status in statuses {
        let report = all(
            &[entry("pl-1", "acme", "pay", EAST)],
            &[stack("pay", EAST, status, Some("pl-1"), Some("acme"))],
        );
        assert_eq!(
            kinds(&report.findings),
            [("unhealthy-stack", Some("pl-1"), "pay", EAST)],
            "{status}"
        );
        let finding = &report.findings[0];
        assert_eq!(finding.status.as_deref(), Some(status));
        assert!(finding.detail.ends_with(&format!("({status})")), "{status}");
    }
    let rollback = all(
        &[entry("pl-1", "acme", "pay", EAST)],
        &[stack(
            "pay",
            EAST,
            "ROLLBACK_COMPLETE",
            Some("pl-1"),
            Some("acme"),
        )],
    );
    assert_eq!(
        rollback.findings[0].remediation,
        "Read the stack events for the failed resource, then delete the stack and redeploy (a stack in ROLLBACK_COMPLETE cannot be updated)."
    );
}

#[test]
fn stack_statuses_classify_by_suffix() {
    let cases = [
        ("CREATE_COMPLETE", StackHealth::Healthy),
        ("UPDATE_COMPLETE", StackHealth::Healthy),
        ("IMPORT_COMPLETE", StackHealth::Healthy),
        ("CREATE_IN_PROGRESS", StackHealth::InProgress),
        ("REVIEW_IN_PROGRESS", StackHealth::InProgress),
        ("ROLLBACK_IN_PROGRESS", StackHealth::InProgress),
        (
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            StackHealth::InProgress,
        ),
        (
            "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
            StackHealth::InProgress,
        ),
        ("DELETE_IN_PROGRESS", StackHealth::InProgress),
        ("ROLLBACK_COMPLETE", StackHealth::Unhealthy),
        ("UPDATE_ROLLBACK_COMPLETE", StackHealth::Unhealthy),
        ("CREATE_FAILED", StackHealth::Unhealthy),
        ("DELETE_FAILED", StackHealth::Unhealthy),
        ("DELETE_COMPLETE", StackHealth::Deleted),
    ];
    for (status, expected) in cases {
        assert_eq!(stack_health(status), expected, "{status}");
    }
}

#[test]
fn stacks_in_progress_are_listed_apart_never_missing_or_orphaned() {
    let entries = [entry("pl-1", "acme", "pay", EAST)];
    let stacks = [
        stack(
            "pay",
            EAST,
            "UPDATE_IN_PROGRESS",
            Some("pl-1"),
            Some("acme"),
        ),
        stack(
            "new",
            EAST,
            "CREATE_IN_PROGRESS",
            Some("pl-2"),
            Some("acme"),
        ),
    ];
    let report = all(&entries, &stacks);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(
        kinds(&report.in_progress),
        [
            ("in-progress", Some("pl-1"), "pay", EAST),
            ("in-progress", Some("pl-2"), "new", EAST),
        ]
    );
    assert_eq!(report.summary.in_progress, 2);
    assert_eq!(report.summary.findings, 0);
}

#[test]
fn a_deleted_stack_does_not_count_as_present() {
    let report = all(
        &[entry("pl-1", "acme", "pay", EAST)],
        &[stack(
            "pay",
            EAST,
            "DELETE_COMPLETE",
            Some("pl-1"),
            Some("acme"),
        )],
    );
    assert_eq!(
        kinds(&report.findings),
        [("missing-stack", Some("pl-1"), "pay", EAST)]
    );
    assert_eq!(report.summary.pipeline_stacks, 0);
}

#[test]
fn infrastructure_stacks_are_counted_but_never_orphaned() {
    let mut eks = stack(
        "acme-eks-network",
        EAST,
        "CREATE_COMPLETE",
        None,
        Some("acme"),
    );
    eks.component = Some("eks".into());
    let mut ec2 = stack(
        "acme-ec2",
        WEST,
        "UPDATE_ROLLBACK_FAILED",
        None,
        Some("acme"),
    );
    ec2.component = Some("ec2".into());
    let report = all(&[], &[eks, ec2]);
    assert!(report.findings.is_empty());
    assert_eq!(report.summary.infrastructure_stacks, 2);
    assert_eq!(report.summary.pipeline_stacks, 0);
}

#[test]
fn an_org_scope_filters_entries_and_stacks_alike() {
    let entries = [
        entry("pl-acme", "acme", "acme-pay", EAST),
        entry("pl-globex", "globex", "globex-pay", EAST),
    ];
    let stacks = [
        healthy("acme-stray", EAST, "pl-acme-2", "acme"),
        healthy("globex-stray", WEST, "pl-globex-2", "globex"),
        stack("nobody", EAST, "CREATE_COMPLETE", None, None),
        // Claimed by globex's entry: in globex's scope whatever its tag says.
        healthy("globex-pay", EAST, "pl-globex", "acme"),
    ];
    let acme = detect(
        &entries,
        &stacks,
        Coverage {
            org: Some("acme"),
            ..Coverage::default()
        },
    );
    assert_eq!(
        kinds(&acme.findings),
        [
            ("orphaned-stack", Some("pl-acme-2"), "acme-stray", EAST),
            ("missing-stack", Some("pl-acme"), "acme-pay", EAST),
        ]
    );
    assert_eq!(acme.summary.registry_entries, 1);
    assert_eq!(acme.summary.pipeline_stacks, 1);
    let everyone = all(&entries, &stacks);
    assert_eq!(
        kinds(&everyone.findings),
        [
            ("orphaned-stack", None, "nobody", EAST),
            ("orphaned-stack", Some("pl-acme-2"), "acme-stray", EAST),
            ("orphaned-stack", Some("pl-globex-2"), "globex-stray", WEST),
            ("missing-stack", Some("pl-acme"), "acme-pay", EAST),
        ]
    );
    assert_eq!(everyone.findings[0].org, None);
    assert_eq!(everyone.summary.registry_entries, 2);
}

#[test]
fn entries_in_an_unscanned_region_are_unchecked_not_missing() {
    let unscanned = [WEST.to_string()];
    let report = detect(
        &[
            entry("pl-1", "acme", "pay", WEST),
            entry("pl-2", "acme", "web", EAST),
        ],
        &[],
        Coverage {
            org: None,
            unscanned_regions: &unscanned,
        },
    );
    assert_eq!(
        kinds(&report.findings),
        [("missing-stack", Some("pl-2"), "web", EAST)]
    );
    assert_eq!(report.summary.unchecked_entries, 1);
}

#[test]
fn an_untagged_stack_of_another_org_never_stands_in_for_an_entry() {
    // globex deploys a stack named like acme's registered one, where acme's stack is gone.
    let report = all(
        &[entry("pl-1", "acme", "pay", EAST)],
        &[
            stack("pay", EAST, "CREATE_COMPLETE", None, Some("globex")),
            stack("pay", WEST, "CREATE_COMPLETE", None, None),
        ],
    );
    assert_eq!(
        kinds(&report.findings),
        [
            ("orphaned-stack", None, "pay", WEST),
            ("orphaned-stack", None, "pay", EAST),
            ("missing-stack", Some("pl-1"), "pay", EAST),
        ]
    );
    assert_eq!(report.findings[1].org.as_deref(), Some("globex"));
    assert_eq!(report.summary.matched, 0);
}
