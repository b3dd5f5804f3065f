//! Every operator and computed field, table-driven, on a fixed set of attributes.

use std::borrow::Cow;

use serde_json::{json, Value};

use super::*;
use crate::compliance::field::Field;

/// Pipeline attributes with the edge cases the table needs: a blank string, empty list and map,
/// an optional attribute (`sourceBranch`) left out.
fn attributes() -> Value {
    json!({
        "name": "payments-api",
        "project": "  ",
        "description": "line one\nline two",
        "stageCount": 3,
        "stageNames": ["Build", "Test", "Prod"],
        "environments": [],
        "hasSecurityScan": true,
        "tags": {"team": "pay", "cost-center": "cc-1"},
        "metadata": {},
    })
}

#[test]
fn every_operator_holds_or_fails_as_documented() {
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Option<Value>, bool)> = vec![
        ("name", "eq", Some(json!("payments-api")), true),
        ("name", "eq", Some(json!("payments")), false),
        ("stageCount", "eq", Some(json!(3)), true),
        ("stageCount", "eq", Some(json!(3.0)), true),
        ("stageNames", "eq", Some(json!(["Build", "Test", "Prod"])), true),
        ("stageNames", "eq", Some(json!(["Prod", "Build", "Test"])), false),
        ("hasSecurityScan", "eq", Some(json!(true)), true),
        ("tags.team", "eq", Some(json!("pay")), true),
        ("tags", "eq", Some(json!({"team": "pay", "cost-center": "cc-1"})), true),
        ("sourceBranch", "eq", Some(json!("main")), false),
        ("name", "neq", Some(json!("payments")), true),
        ("name", "neq", Some(json!("payments-api")), false),
        ("sourceBranch", "neq", Some(json!("main")), true),
        ("name", "contains", Some(json!("ments-a")), true),
        ("name", "contains", Some(json!("orders")), false),
        ("stageNames", "contains", Some(json!("Test")), true),
        ("stageNames", "contains", Some(json!("Tes")), false),
        ("tags", "contains", Some(json!("team")), true),
        ("tags", "contains", Some(json!("owner")), false),
        ("sourceBranch", "contains", Some(json!("m")), false),
        ("stageNames", "notContains", Some(json!("Deploy")), true),
        ("name", "notContains", Some(json!("pay")), false),
        ("tags", "notContains", Some(json!("team")), false),
        ("sourceBranch", "notContains", Some(json!("m")), true),
        ("name", "regex", Some(json!("^pay")), true),
        ("name", "regex", Some(json!("^api")), false),
        ("stageNames", "regex", Some(json!("^[A-Z][a-z]+$")), true),
        ("stageNames", "regex", Some(json!("^[BT]")), false),
        ("environments", "regex", Some(json!("^x$")), true),
        ("sourceBranch", "regex", Some(json!(".*")), false),
        ("stageCount", "gt", Some(json!(2)), true),
        ("stageCount", "gt", Some(json!(3)), false),
        ("stageCount", "gte", Some(json!(3)), true),
        ("stageCount", "gte", Some(json!(3.5)), false),
        ("stageCount", "lt", Some(json!(4)), true),
        ("stageCount", "lt", Some(json!(3)), false),
        ("stageCount", "lte", Some(json!(3)), true),
        ("stageCount", "lte", Some(json!(2)), false),
        ("name", "in", Some(json!(["orders", "payments-api"])), true),
        ("name", "in", Some(json!(["orders"])), false),
        ("stageCount", "in", Some(json!([1, 2, 3])), true),
        ("stageNames", "in", Some(json!(["Build", "Test", "Prod", "Deploy"])), true),
        ("stageNames", "in", Some(json!(["Build", "Test"])), false),
        ("sourceBranch", "in", Some(json!(["main"])), false),
        ("name", "notIn", Some(json!(["orders"])), true),
        ("name", "notIn", Some(json!(["payments-api"])), false),
        ("stageNames", "notIn", Some(json!(["Deploy"])), true),
        ("stageNames", "notIn", Some(json!(["Deploy", "Prod"])), false),
        ("sourceBranch", "notIn", Some(json!(["main"])), true),
        ("name", "exists", None, true),
        ("tags.team", "exists", None, true),
        ("tags.owner", "exists", None, false),
        ("sourceBranch", "exists", None, false),
        ("sourceBranch", "notExists", None, true),
        ("tags.owner", "notExists", None, true),
        ("name", "notExists", None, false),
        ("name", "notEmpty", None, true),
        ("project", "notEmpty", None, false),
        ("stageNames", "notEmpty", None, true),
        ("environments", "notEmpty", None, false),
        ("tags", "notEmpty", None, true),
        ("metadata", "notEmpty", None, false),
        ("sourceBranch", "notEmpty", None, false),
        ("stageNames", "countGt", Some(json!(2)), true),
        ("stageNames", "countGt", Some(json!(3)), false),
        ("tags", "countGt", Some(json!(1)), true),
        ("stageNames", "countLt", Some(json!(4)), true),
        ("stageNames", "countLt", Some(json!(3)), false),
        ("environments", "countLt", Some(json!(1)), true),
        ("name", "lengthGt", Some(json!(11)), true),
        ("name", "lengthGt", Some(json!(12)), false),
        ("name", "lengthLt", Some(json!(13)), true),
        ("name", "lengthLt", Some(json!(12)), false),
        ("sourceBranch", "lengthLt", Some(json!(100)), false),
    ];
    let attributes = attributes();
    let mut covered = std::collections::BTreeSet::new();
    for (field, operator, value, expected) in cases {
        let rule = compile(&single(field, operator, value.clone()));
        let evaluation = evaluate_one(&rule, &attributes);
        assert_eq!(
            evaluation.violations.is_empty(),
            expected,
            "{field} {operator} {value:?}: {:?}",
            evaluation.violations
        );
        covered.insert(operator);
    }
    let all: std::collections::BTreeSet<&str> = Operator::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(covered, all, "every operator has cases");
}

fn resolve_field(text: &str) -> Option<Value> {
    let field = Field::parse(text, PIPELINE_ATTRIBUTES, "pipeline").unwrap();
    field.resolve(&attributes()).map(Cow::into_owned)
}

#[test]
fn computed_fields_compute_their_values() {
    #[rustfmt::skip]
    let cases: Vec<(&str, Option<Value>)> = vec![
        ("$count(stageNames)", Some(json!(3))),
        ("$count(tags)", Some(json!(2))),
        ("$count(environments)", Some(json!(0))),
        ("$length(name)", Some(json!(12))),
        ("$length(description)", Some(json!(17))),
        ("$length(tags.team)", Some(json!(3))),
        ("$length(sourceBranch)", None),
        ("$keys(tags)", Some(json!(["cost-center", "team"]))),
        ("$keys(metadata)", Some(json!([]))),
        ("$lines(description)", Some(json!(["line one", "line two"]))),
        ("$lines(stageNames)", Some(json!(["Build", "Test", "Prod"]))),
        ("$lines(project)", Some(json!(["  "]))),
        ("tags.cost-center", Some(json!("cc-1"))),
        ("tags.owner", None),
    ];
    for (field, expected) in cases {
        assert_eq!(resolve_field(field), expected, "{field}");
    }
}

#[test]
fn computed_fields_work_with_every_kind_of_operator() {
    let attributes = attributes();
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Value, bool)> = vec![
        ("$count(stageNames)", "eq", json!(3), true),
        ("$count(stageNames)", "gt", json!(3), false),
        ("$length(description)", "lte", json!(17), true),
        ("$keys(tags)", "contains", json!("cost-center"), true),
        ("$keys(tags)", "in", json!(["team"]), false),
        ("$keys(tags)", "countLt", json!(3), true),
        ("$lines(description)", "regex", json!("^line (one|two)$"), true),
        ("$lines(description)", "countGt", json!(2), false),
    ];
    for (field, operator, value, expected) in cases {
        let rule = compile(&single(field, operator, Some(value.clone())));
        assert_eq!(
            evaluate_one(&rule, &attributes).violations.is_empty(),
            expected,
            "{field} {operator} {value}"
        );
    }
}

#[test]
fn multi_line_strings_in_lists_are_split_into_their_lines() {
    let plugin = plugin_attributes(&plugin(build_plugin(json!({
        "commands": ["npm ci", "if [ -f x ]; then\n  make\nfi"],
    }))));
    let field = Field::parse("$lines(commands)", PLUGIN_ATTRIBUTES, "plugin").unwrap();
    assert_eq!(
        field.resolve(&plugin).map(Cow::into_owned),
        Some(json!(["npm ci", "if [ -f x ]; then", "  make", "fi"]))
    );
}
