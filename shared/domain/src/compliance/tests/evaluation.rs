//! Evaluation: severities, modes, effective windows, exemptions and what a violation reports.

use serde_json::{json, Value};

use super::*;

fn attributes() -> Value {
    pipeline_attrs(&compliant_pipeline())
}

fn with(rule: Value, changes: Value) -> RuleSpec {
    let mut rule = rule;
    merge(&mut rule, changes);
    rule_spec(rule)
}

fn stage_cap() -> Value {
    json!({"name": "Cap stages", "target": "pipeline", "severity": "error",
           "field": "stageCount", "operator": "lte", "value": 2})
}

fn approved_exemption(rule_id: &str, entity: &str, expires_at: &str) -> Exemption {
    let request = ExemptionRequest {
        rule_id: rule_id.into(),
        entity: entity.into(),
        reason: "migration in progress".into(),
        expires_at: expires_at.into(),
    };
    Exemption::requested("e1", request, "dev@acme", now())
        .unwrap()
        .approve("lead@acme", now())
        .unwrap()
}

#[test]
fn a_violation_reports_rule_field_expected_and_actual() {
    let rule = Rule::compile("cap", &rule_spec(stage_cap())).unwrap();
    let evaluation = evaluate_one(&rule, &attributes());
    assert!(evaluation.blocks());
    assert_eq!(
        serde_json::to_value(&evaluation.violations).unwrap(),
        json!([{
            "ruleId": "cap", "ruleName": "Cap stages", "severity": "error",
            "field": "stageCount", "operator": "lte", "expected": 2, "actual": 3,
            "message": "Cap stages: stageCount lte 2 does not hold; found 3",
        }])
    );
}

#[test]
fn list_violations_report_only_the_failing_elements() {
    let naming = rule_spec(json!({"name": "Stage names", "target": "pipeline",
        "severity": "warning", "field": "stageNames", "operator": "regex", "value": "^[A-P]"}));
    let evaluation = evaluate_one(&compile(&naming), &attributes());
    assert!(!evaluation.blocks());
    assert_eq!(evaluation.warnings.len(), 1);
    assert_eq!(evaluation.warnings[0].actual, json!(["Staging"]));

    let envs = single("environments", "in", Some(json!(["dev", "staging"])));
    let evaluation = evaluate_one(&compile(&envs), &attributes());
    assert_eq!(evaluation.violations[0].actual, json!(["production"]));

    let absent = single("tags.owner", "eq", Some(json!("payments")));
    let evaluation = evaluate_one(&compile(&absent), &attributes());
    assert_eq!(evaluation.violations[0].actual, Value::Null);
    assert!(evaluation.violations[0].message.ends_with("it is absent"));
}

#[test]
fn severities_decide_between_warning_and_blocking() {
    for (severity, blocks) in [("warning", false), ("error", true), ("critical", true)] {
        let rule = compile(&with(stage_cap(), json!({"severity": severity})));
        let evaluation = evaluate_one(&rule, &attributes());
        assert_eq!(evaluation.blocks(), blocks, "{severity}");
        assert_eq!(evaluation.warnings.len() + evaluation.violations.len(), 1);
    }
}

#[test]
fn modes_combine_conditions() {
    let conditions = json!([
        {"field": "stageCount", "operator": "lte", "value": 2},
        {"field": "hasSecurityScan", "operator": "eq", "value": true},
        {"field": "sourceBranch", "operator": "eq", "value": "release"}
    ]);
    let base = json!({"name": "combo", "target": "pipeline", "severity": "error",
                      "conditions": conditions});
    let all = compile(&with(base.clone(), json!({})));
    let failed: Vec<String> = evaluate_one(&all, &attributes())
        .violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(failed, ["stageCount", "sourceBranch"]);

    let any = compile(&with(base.clone(), json!({"mode": "any"})));
    assert_eq!(evaluate_one(&any, &attributes()).violations, []);

    let none_hold = with(
        base,
        json!({"mode": "any", "conditions": [
            {"field": "stageCount", "operator": "lte", "value": 2},
            {"field": "sourceBranch", "operator": "eq", "value": "release"}
        ]}),
    );
    let failed: Vec<String> = evaluate_one(&compile(&none_hold), &attributes())
        .violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(failed, ["stageCount", "sourceBranch"]);
}

#[test]
fn only_active_rules_in_their_window_and_of_the_target_are_evaluated() {
    let cases = [
        (json!({}), 1),
        (json!({"active": false}), 0),
        (json!({"effectiveFrom": "2025-06-01T12:00:00Z"}), 1),
        (json!({"effectiveFrom": "2025-06-01T12:00:01Z"}), 0),
        (json!({"effectiveUntil": "2025-06-01T12:00:00Z"}), 0),
        (json!({"effectiveUntil": "2025-06-01T12:00:01Z"}), 1),
        (
            json!({"effectiveFrom": "2025-01-01T00:00:00Z", "effectiveUntil": "2026-01-01T00:00:00Z"}),
            1,
        ),
    ];
    for (changes, expected) in cases {
        let rule = compile(&with(stage_cap(), changes.clone()));
        assert_eq!(
            evaluate_one(&rule, &attributes()).violations.len(),
            expected,
            "{changes}"
        );
    }
    let rule = compile(&rule_spec(stage_cap()));
    let as_plugin = evaluate(
        &[rule],
        Target::Plugin,
        "node-build",
        &attributes(),
        now(),
        &[],
    );
    assert_eq!(as_plugin, Evaluation::default());
}

#[test]
fn approved_exemptions_skip_their_rule_for_their_entity_only() {
    let rule = Rule::compile("cap", &rule_spec(stage_cap())).unwrap();
    let attributes = attributes();
    let run = |exemptions: &[Exemption], entity: &str, at| {
        evaluate(
            std::slice::from_ref(&rule),
            Target::Pipeline,
            entity,
            &attributes,
            at,
            exemptions,
        )
    };
    let exemption = approved_exemption("cap", "pipe-1", "2025-07-01T00:00:00Z");
    let exempted = run(std::slice::from_ref(&exemption), "pipe-1", now());
    assert_eq!(exempted.violations, []);
    assert_eq!(
        serde_json::to_value(&exempted.exempted).unwrap(),
        json!([{"ruleId": "cap", "ruleName": "Cap stages", "exemptionId": "e1",
                "expiresAt": "2025-07-01T00:00:00Z"}])
    );
    assert_eq!(
        run(std::slice::from_ref(&exemption), "pipe-2", now())
            .violations
            .len(),
        1
    );
    let expired_at: DateTime<Utc> = "2025-07-01T00:00:00Z".parse().unwrap();
    let after_expiry = run(std::slice::from_ref(&exemption), "pipe-1", expired_at);
    assert_eq!(
        (after_expiry.violations.len(), after_expiry.exempted.len()),
        (1, 0)
    );

    let other_rule = approved_exemption("other", "pipe-1", "2025-07-01T00:00:00Z");
    assert_eq!(run(&[other_rule], "pipe-1", now()).violations.len(), 1);
    let pending = Exemption {
        approved_by: None,
        approved_at: None,
        ..exemption
    };
    assert_eq!(run(&[pending], "pipe-1", now()).violations.len(), 1);
}

#[test]
fn a_stored_rule_that_no_longer_validates_reports_itself() {
    let stale = rule_spec(
        json!({"name": "Old rule", "target": "pipeline", "severity": "critical",
        "field": "timeoutInMinutes", "operator": "lte", "value": 60}),
    );
    let rule = Rule::from_stored("old", &stale, &mut CompileBudget::per_request());
    let evaluation = evaluate_one(&rule, &attributes());
    assert_eq!(evaluation.violations.len(), 1);
    let violation = &evaluation.violations[0];
    assert_eq!(
        (
            violation.field.as_str(),
            violation.operator,
            &violation.expected
        ),
        ("timeoutInMinutes", Some(Operator::Lte), &json!(60))
    );
    assert!(
        violation
            .message
            .starts_with("Old rule: the rule cannot be evaluated (field: 'timeoutInMinutes' is not an attribute of a pipeline"),
        "{}",
        violation.message
    );
    let inactive = rule_spec(json!({"name": "Old rule", "target": "pipeline",
        "severity": "critical", "field": "timeoutInMinutes", "operator": "lte", "value": 60,
        "active": false}));
    assert_eq!(
        evaluate_one(
            &Rule::from_stored("old", &inactive, &mut CompileBudget::per_request()),
            &attributes()
        ),
        Evaluation::default()
    );
    let valid = Rule::from_stored(
        "cap",
        &rule_spec(stage_cap()),
        &mut CompileBudget::per_request(),
    );
    assert_eq!(
        evaluate_one(&valid, &attributes()).violations[0].actual,
        json!(3)
    );
}
