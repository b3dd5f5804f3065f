//! Write-time validation: every problem with its JSON path.

use serde_json::{json, Value};

use super::*;

fn problems(rule: Value) -> Vec<(String, String)> {
    match Rule::compile("r1", &rule_spec(rule)) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| (e.field, e.message)).collect(),
    }
}

fn pipeline_rule(field: &str, operator: &str, value: Value) -> Value {
    json!({"name": "r", "target": "pipeline", "severity": "error",
           "field": field, "operator": operator, "value": value})
}

/// The single problem of a rule, as (path, message).
fn only_problem(rule: Value) -> (String, String) {
    let found = problems(rule.clone());
    assert_eq!(found.len(), 1, "{rule}: {found:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn fields_must_be_documented_attributes_of_the_target() {
    let (path, message) = only_problem(pipeline_rule("requiresApproval", "eq", json!(true)));
    assert_eq!(path, "field");
    assert!(
        message.starts_with(
            "'requiresApproval' is not an attribute of a pipeline; rules can use name, project,"
        ),
        "{message}"
    );
    // A plugin attribute is not a pipeline attribute, and vice versa.
    let (path, message) = only_problem(pipeline_rule("imageIsDigestPinned", "eq", json!(true)));
    assert_eq!(path, "field");
    assert!(
        message.contains("not an attribute of a pipeline"),
        "{message}"
    );
    let mut on_plugin = pipeline_rule("imageIsDigestPinned", "eq", json!(true));
    on_plugin["target"] = json!("plugin");
    assert_eq!(problems(on_plugin), []);
    let mut stage_count_on_plugin = pipeline_rule("stageCount", "lte", json!(3));
    stage_count_on_plugin["target"] = json!("plugin");
    assert!(only_problem(stage_count_on_plugin)
        .1
        .contains("not an attribute of a plugin"));
}

#[test]
fn paths_and_computed_fields_are_typed() {
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Value, &str, &str)> = vec![
        ("stageCount.x", "eq", json!("a"), "field", "'stageCount' is a number; only maps take a key ('stageCount.key')"),
        ("tags.", "eq", json!("a"), "field", "'tags.' needs a key after the dot"),
        ("$sum(tags)", "eq", json!(1), "field", "'$sum(tags)' is not a computed field; write $count(path), $length(path), $keys(path) or $lines(path)"),
        ("$count(tags", "eq", json!(1), "field", "'$count(tags' is not a computed field; write $count(path), $length(path), $keys(path) or $lines(path)"),
        ("$count(name)", "eq", json!(1), "field", "$count applies to a list or map, but 'name' is a string"),
        ("$length(stageNames)", "eq", json!(1), "field", "$length applies to a string, but 'stageNames' is a list of strings"),
        ("$keys(stageNames)", "eq", json!([]), "field", "$keys applies to a map, but 'stageNames' is a list of strings"),
        ("$lines(stageCount)", "eq", json!([]), "field", "$lines applies to a string or list of strings, but 'stageCount' is a number"),
        ("$count($keys(tags))", "eq", json!(1), "field", "computed fields do not nest"),
        ("$count(nothing)", "eq", json!(1), "field", "'nothing' is not an attribute of a pipeline"),
    ];
    for (field, operator, value, path, message) in cases {
        let (found_path, found) = only_problem(pipeline_rule(field, operator, value));
        assert_eq!(found_path, path, "{field}");
        assert!(found.starts_with(message), "{field}: {found}");
    }
}

#[test]
fn operators_must_fit_the_field_and_values_the_operator() {
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Option<Value>, &str, &str)> = vec![
        ("stageCount", "contains", Some(json!("x")), "operator", "contains applies to a string, list or map, but the field is a number"),
        ("hasSecurityScan", "gt", Some(json!(1)), "operator", "gt applies to a number, but the field is a boolean"),
        ("stageNames", "lengthGt", Some(json!(1)), "operator", "lengthGt applies to a string (use countGt/countLt for lists and maps)"),
        ("name", "countLt", Some(json!(1)), "operator", "countLt applies to a list or map (use lengthGt/lengthLt for strings)"),
        ("stageCount", "regex", Some(json!("1")), "operator", "regex applies to a string or list of strings, but the field is a number"),
        ("stageCount", "notEmpty", None, "operator", "notEmpty applies to a string, list or map, but the field is a number"),
        ("tags", "in", Some(json!(["a"])), "operator", "in applies to a string, number, boolean or list, but the field is a map of strings"),
        ("stageCount", "eq", Some(json!("3")), "value", "must be a number (the field's type)"),
        ("stageNames", "eq", Some(json!(["a", 1])), "value", "must be a list of strings (the field's type)"),
        ("hasSecurityScan", "eq", None, "value", "eq needs a value"),
        ("stageCount", "gte", Some(json!("5")), "value", "must be a number"),
        ("name", "contains", Some(json!(5)), "value", "must be a string"),
        ("name", "regex", Some(json!("(")), "value", "not a valid regex"),
        ("name", "regex", Some(json!("a".repeat(513))), "value", "the pattern is longer than 512 characters"),
        ("name", "regex", Some(json!(r"\w{2000}")), "value", "the regex compiles to more than 64 KB, the cap per regex"),
        ("name", "in", Some(json!([])), "value", "must list 1 to 100 values"),
        ("name", "in", Some(json!("payments")), "value", "must be a list of values"),
        ("name", "notIn", Some(json!(["a", 2])), "value", "must be a string (the field's type)"),
        ("stageNames", "in", Some(json!([["a"]])), "value", "must be a string"),
        ("name", "exists", Some(json!(true)), "value", "exists takes no value"),
        ("stageNames", "countGt", Some(json!(-1)), "value", "must be a whole number from 0 to "),
        ("name", "lengthLt", Some(json!(2.5)), "value", "must be a whole number from 0 to "),
        ("name", "eq", Some(json!("x".repeat(1025))), "value", "at most 1024 characters"),
    ];
    for (field, operator, value, path, message) in cases {
        let mut rule = pipeline_rule(field, operator, value.clone().unwrap_or(Value::Null));
        if value.is_none() {
            rule.as_object_mut().unwrap().remove("value");
        }
        let (found_path, found) = only_problem(rule);
        assert_eq!(found_path, path, "{field} {operator}");
        assert!(found.starts_with(message), "{field} {operator}: {found}");
    }
}

#[test]
fn a_rule_has_exactly_one_complete_form() {
    let both = json!({"name": "r", "target": "pipeline", "severity": "error",
        "field": "stageCount", "operator": "lte", "value": 3,
        "conditions": [{"field": "stageCount", "operator": "lte", "value": 3}]});
    assert_eq!(
        problems(both),
        [(
            "conditions".to_string(),
            "give either field/operator/value or conditions, not both".to_string()
        )]
    );
    let neither = json!({"name": "r", "target": "pipeline", "severity": "error"});
    assert_eq!(problems(neither)[0].0, "field");
    let no_operator = json!({"name": "r", "target": "pipeline", "severity": "error",
        "field": "stageCount", "value": 3, "mode": "any"});
    let paths: Vec<String> = problems(no_operator).into_iter().map(|p| p.0).collect();
    assert_eq!(paths, ["operator", "mode"]);
    let too_many = json!({"name": "r", "target": "pipeline", "severity": "error",
        "conditions": vec![json!({"field": "name", "operator": "exists"}); 21]});
    assert_eq!(
        problems(too_many)[0],
        ("conditions".into(), "at most 20 conditions".into())
    );
}

#[test]
fn condition_problems_name_the_condition() {
    let rule = json!({"name": "r", "target": "pipeline", "severity": "error", "mode": "any",
    "conditions": [
        {"field": "stageCount", "operator": "lte", "value": 3},
        {"field": "timeoutInMinutes", "operator": "lte", "value": 60},
        {"field": "stageNames", "operator": "regex", "value": "["}
    ]});
    let paths: Vec<String> = problems(rule).into_iter().map(|p| p.0).collect();
    assert_eq!(paths, ["conditions[1].field", "conditions[2].value"]);
}

#[test]
fn names_and_effective_windows_are_checked() {
    let mut rule = pipeline_rule("stageCount", "lte", json!(3));
    rule["name"] = json!("  ");
    rule["description"] = json!("d".repeat(1025));
    rule["effectiveFrom"] = json!("yesterday");
    assert_eq!(
        problems(rule),
        [
            ("name".to_string(), "must be 1-100 characters".to_string()),
            ("description".into(), "must be 0-1024 characters".into()),
            (
                "effectiveFrom".into(),
                "must be an RFC 3339 timestamp, e.g. 2025-01-31T00:00:00Z".into()
            ),
        ]
    );
    let mut backwards = pipeline_rule("stageCount", "lte", json!(3));
    backwards["effectiveFrom"] = json!("2025-02-01T00:00:00Z");
    backwards["effectiveUntil"] = json!("2025-01-01T00:00:00+01:00");
    assert_eq!(
        problems(backwards),
        [(
            "effectiveUntil".to_string(),
            "must be later than effectiveFrom".to_string()
        )]
    );
}

#[test]
fn unknown_operators_and_members_do_not_parse() {
    let unknown_operator = pipeline_rule("stageCount", "equals", json!(3));
    let error = serde_json::from_value::<RuleSpec>(unknown_operator).unwrap_err();
    assert!(
        error.to_string().contains("unknown variant `equals`"),
        "{error}"
    );
    let mut misspelt = pipeline_rule("stageCount", "eq", json!(3));
    misspelt["severty"] = json!("error");
    assert!(serde_json::from_value::<RuleSpec>(misspelt).is_err());
}

#[test]
fn a_valid_rule_round_trips_as_written() {
    let written = json!({"name": "Cap stages", "target": "pipeline", "severity": "warning",
        "field": "stageCount", "operator": "lte", "value": 8, "active": false});
    let spec = rule_spec(written.clone());
    let rule = compile(&spec);
    assert_eq!(
        (rule.id.as_str(), rule.severity, rule.active),
        ("r1", Severity::Warning, false)
    );
    let mut expected = written;
    expected["description"] = json!("");
    assert_eq!(serde_json::to_value(&spec).unwrap(), expected);
}
