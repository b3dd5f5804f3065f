//! The JSON Schema of a rule as written, for the API document: one variant per target and form,
//! each condition one variant per field type and operator group, so that a rule the schema
//! accepts is one [`Rule::compile`](super::Rule::compile) accepts. Field types come from the
//! parser itself ([`Field::parse`] on a sample of each path form), not from a second table.
//!
//! What no schema can state is left to the validator and named in the variants' descriptions:
//! a regex's syntax and compiled size, and `effectiveUntil` after `effectiveFrom`.

use serde_json::{json, Map, Value};

use super::attributes::{AttributeDoc, Kind};
use super::field::{Field, COMPUTED_FIELDS, MAX_FIELD_CHARS};
use super::operator::{
    applies_to, Operator, MAX_COUNT, MAX_NUMBER_MAGNITUDE, MAX_PATTERN_CHARS, MAX_SET_VALUES,
    MAX_VALUE_CHARS, MIN_NUMBER_MAGNITUDE,
};
use super::rule::{Target, MAX_CONDITIONS, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
use crate::reports::INSTANT_PATTERN;

const KINDS: [Kind; 5] = [
    Kind::String,
    Kind::Number,
    Kind::Boolean,
    Kind::StringList,
    Kind::StringMap,
];

/// `RuleSpec`: for each target, one `field`/`operator`/`value` variant per condition variant,
/// and one `conditions` variant.
pub fn rule_spec_schema() -> Value {
    let variants: Vec<Value> = [Target::Pipeline, Target::Plugin]
        .into_iter()
        .flat_map(|target| {
            let conditions = condition_variants(target);
            let compound = compound_rule(target, &conditions);
            conditions
                .into_iter()
                .map(move |condition| single_rule(target, condition))
                .chain(std::iter::once(compound))
        })
        .collect();
    json!({ "oneOf": variants })
}

/// What every rule carries besides its condition(s).
fn rule_properties(target: Target) -> Map<String, Value> {
    let instant = |description: &str| {
        json!({
            "type": "string",
            "format": "date-time",
            "pattern": INSTANT_PATTERN,
            "description": description,
        })
    };
    let mut properties = Map::new();
    properties.insert(
        "name".into(),
        json!({ "type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS, "pattern": "\\S" }),
    );
    properties.insert(
        "description".into(),
        json!({ "type": "string", "maxLength": MAX_DESCRIPTION_CHARS }),
    );
    properties.insert(
        "target".into(),
        json!({ "type": "string", "enum": [target.as_str()] }),
    );
    properties.insert(
        "severity".into(),
        json!({ "type": "string", "enum": ["warning", "error", "critical"] }),
    );
    properties.insert(
        "active".into(),
        json!({ "type": "boolean", "description": "An inactive rule is kept but never evaluated." }),
    );
    properties.insert(
        "effectiveFrom".into(),
        instant("The rule is evaluated from this instant on."),
    );
    properties.insert(
        "effectiveUntil".into(),
        instant("The rule is no longer evaluated from this instant on; later than effectiveFrom."),
    );
    properties
}

fn single_rule(target: Target, condition: Value) -> Value {
    let mut properties = rule_properties(target);
    let mut required = vec![json!("name"), json!("target"), json!("severity")];
    if let (Value::Object(condition_properties), Some(condition_required)) = (
        condition["properties"].clone(),
        condition["required"].as_array(),
    ) {
        properties.extend(condition_properties);
        required.extend(condition_required.iter().cloned());
    }
    json!({
        "type": "object",
        "description": condition["description"],
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn compound_rule(target: Target, conditions: &[Value]) -> Value {
    let mut properties = rule_properties(target);
    properties.insert(
        "conditions".into(),
        json!({
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_CONDITIONS,
            "items": { "oneOf": conditions },
        }),
    );
    properties.insert(
        "mode".into(),
        json!({
            "type": "string",
            "enum": ["all", "any"],
            "description": "How the conditions combine; `all` when left out.",
        }),
    );
    json!({
        "type": "object",
        "description": format!("A {} rule of several conditions.", target.as_str()),
        "properties": properties,
        "required": ["name", "target", "severity", "conditions"],
        "additionalProperties": false,
    })
}

/// One `RuleConditionSpec` variant per field type and group of operators taking the same value.
fn condition_variants(target: Target) -> Vec<Value> {
    let forms = field_forms(target.attributes(), target.as_str());
    let mut variants = Vec::new();
    for kind in KINDS {
        let patterns: Vec<&str> = forms
            .iter()
            .filter(|(_, form_kind)| *form_kind == kind)
            .map(|(pattern, _)| pattern.as_str())
            .collect();
        if patterns.is_empty() {
            continue;
        }
        let field = json!({
            "type": "string",
            "maxLength": MAX_FIELD_CHARS,
            "pattern": format!("^(?:{})$", patterns.join("|")),
        });
        for (value, operators) in operator_groups(kind) {
            variants.push(condition_variant(kind, &field, operators, value));
        }
    }
    variants
}

fn condition_variant(
    kind: Kind,
    field: &Value,
    operators: Vec<Operator>,
    value: Option<Value>,
) -> Value {
    let names: Vec<&str> = operators.iter().map(|o| o.as_str()).collect();
    let mut properties = Map::new();
    properties.insert("field".into(), field.clone());
    properties.insert(
        "operator".into(),
        json!({ "type": "string", "enum": names }),
    );
    let mut required = vec![json!("field"), json!("operator")];
    let takes = if let Some(value) = value {
        properties.insert("value".into(), value);
        required.push(json!("value"));
        "a value"
    } else {
        "no value"
    };
    json!({
        "type": "object",
        "description": format!("A {} field with {} ({takes}).", kind.label(), names.join(", ")),
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The operators that apply to `kind`, grouped by the value they take (`None`: no value).
fn operator_groups(kind: Kind) -> Vec<(Option<Value>, Vec<Operator>)> {
    let mut groups: Vec<(Option<Value>, Vec<Operator>)> = Vec::new();
    for operator in Operator::ALL {
        if applies_to(operator, kind).is_err() {
            continue;
        }
        let value = value_schema(operator, kind);
        match groups.iter_mut().find(|(taken, _)| *taken == value) {
            Some((_, operators)) => operators.push(operator),
            None => groups.push((value, vec![operator])),
        }
    }
    groups
}

/// The value `operator` takes on a field of type `kind`, as `expect` checks it.
fn value_schema(operator: Operator, kind: Kind) -> Option<Value> {
    match operator {
        Operator::Exists | Operator::NotExists | Operator::NotEmpty => None,
        Operator::Eq | Operator::Neq => Some(value_of_kind(kind)),
        Operator::Contains | Operator::NotContains => Some(text()),
        Operator::Regex => Some(json!({
            "type": "string",
            "format": "regex",
            "maxLength": MAX_PATTERN_CHARS,
            "description": "The regex crate's syntax (no look-around or back-references); each \
                            pattern compiles to at most 64 KB, a request's to at most 4 MB.",
        })),
        Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte => Some(number()),
        Operator::In | Operator::NotIn => {
            let element = if kind == Kind::StringList {
                Kind::String
            } else {
                kind
            };
            Some(json!({
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_SET_VALUES,
                "items": value_of_kind(element),
            }))
        }
        Operator::CountGt | Operator::CountLt | Operator::LengthGt | Operator::LengthLt => {
            Some(json!({ "type": "integer", "minimum": 0, "maximum": MAX_COUNT }))
        }
    }
}

/// The number magnitudes the document states: a factor of ten inside what the validator accepts,
/// so that a decimal written at a stated bound is still inside once parsed (JSON parsers may
/// round the last digit).
const STATED_MIN_MAGNITUDE: f64 = 1e-129;
const STATED_MAX_MAGNITUDE: f64 = 1e125;
const _: () = assert!(
    STATED_MIN_MAGNITUDE > MIN_NUMBER_MAGNITUDE * 5.0
        && STATED_MAX_MAGNITUDE < MAX_NUMBER_MAGNITUDE / 5.0
);

/// 0, or a magnitude the rule store keeps.
fn number() -> Value {
    let (min, max) = (STATED_MIN_MAGNITUDE, STATED_MAX_MAGNITUDE);
    json!({ "oneOf": [
        { "type": "number", "minimum": min, "maximum": max },
        { "type": "number", "minimum": -max, "maximum": -min },
        { "type": "number", "enum": [0] },
    ] })
}

fn text() -> Value {
    json!({ "type": "string", "maxLength": MAX_VALUE_CHARS })
}

fn value_of_kind(kind: Kind) -> Value {
    match kind {
        Kind::String => text(),
        Kind::Number => number(),
        Kind::Boolean => json!({ "type": "boolean" }),
        Kind::StringList => json!({ "type": "array", "items": { "type": "string" } }),
        Kind::StringMap => {
            json!({ "type": "object", "additionalProperties": { "type": "string" } })
        }
    }
}

/// Every form a field path takes, as (regex, type): each attribute, each map's entries, and each
/// computed field over either. The type is what the parser gives a sample of the form.
fn field_forms(documented: &'static [AttributeDoc], target: &str) -> Vec<(String, Kind)> {
    let paths: Vec<(String, String)> = documented
        .iter()
        .flat_map(|attribute| {
            let name = escape(attribute.name);
            let whole = (name.clone(), attribute.name.to_string());
            let entry = (attribute.kind == Kind::StringMap)
                .then(|| (format!("{name}\\..+"), format!("{}.key", attribute.name)));
            std::iter::once(whole).chain(entry)
        })
        .collect();
    let computed = COMPUTED_FIELDS.iter().flat_map(|(syntax, _)| {
        let function = syntax
            .trim_start_matches('$')
            .trim_end_matches("(path)")
            .to_string();
        paths.iter().map(move |(pattern, sample)| {
            (
                format!("\\${function}\\({pattern}\\)"),
                format!("${function}({sample})"),
            )
        })
    });
    paths
        .iter()
        .cloned()
        .chain(computed)
        .filter_map(|(pattern, sample)| {
            let field = Field::parse(&sample, documented, target).ok()?;
            Some((pattern, field.kind()))
        })
        .collect()
}

/// Attribute names are identifiers; anything else is escaped rather than trusted.
fn escape(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            let escaped = (!c.is_ascii_alphanumeric()).then_some('\\');
            escaped.into_iter().chain(std::iter::once(c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::{Rule, RuleSpec};

    /// The field paths to try: every attribute, a map entry, and each computed field over them,
    /// whether the parser accepts it or not.
    fn candidate_fields(target: Target) -> Vec<String> {
        let mut paths = Vec::new();
        for attribute in target.attributes() {
            paths.push(attribute.name.to_string());
            paths.push(format!("{}.some.key", attribute.name));
        }
        let mut fields = paths.clone();
        for function in ["count", "length", "keys", "lines"] {
            fields.extend(paths.iter().map(|path| format!("${function}({path})")));
        }
        fields
    }

    /// A value the schema accepts, for the shapes `value_schema` writes.
    fn example(schema: &Value) -> Value {
        if let Some(first) = schema["oneOf"].get(0) {
            return example(first);
        }
        match schema["type"].as_str() {
            Some("string") if schema["format"] == "regex" => json!("^v[0-9]+$"),
            Some("string") => json!("x"),
            Some("number") => json!(1.5),
            Some("integer") => json!(3),
            Some("boolean") => json!(true),
            Some("array") => json!([example(&schema["items"])]),
            Some("object") => json!({ "k": example(&schema["additionalProperties"]) }),
            other => panic!("no example for {other:?}"),
        }
    }

    /// The single-form variants of one target, each with its field pattern compiled.
    fn single_variants(schema: &Value, target: Target) -> Vec<(regex::Regex, &Value)> {
        schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["properties"]["target"]["enum"][0] == target.as_str())
            .filter_map(|v| {
                let pattern = v["properties"]["field"]["pattern"].as_str()?;
                Some((regex::Regex::new(pattern).unwrap(), v))
            })
            .collect()
    }

    /// The variants that admit this field and operator.
    fn admitting<'a>(
        variants: &[(regex::Regex, &'a Value)],
        field: &str,
        operator: &str,
    ) -> Vec<&'a Value> {
        variants
            .iter()
            .filter(|(pattern, v)| {
                v["properties"]["operator"]["enum"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(operator))
                    && pattern.is_match(field)
            })
            .map(|(_, v)| *v)
            .collect()
    }

    fn rule(target: Target, field: &str, operator: &str, value: Option<Value>) -> RuleSpec {
        let mut spec = json!({
            "name": "r", "target": target.as_str(), "severity": "error",
            "field": field, "operator": operator,
        });
        if let Some(value) = value {
            spec["value"] = value;
        }
        serde_json::from_value(spec).unwrap()
    }

    #[test]
    fn a_field_and_operator_the_schema_admits_compiles_with_the_value_it_states_and_no_other_does()
    {
        let schema = rule_spec_schema();
        for target in [Target::Pipeline, Target::Plugin] {
            let variants = single_variants(&schema, target);
            for field in candidate_fields(target) {
                for operator in Operator::ALL {
                    let admitting = admitting(&variants, &field, operator.as_str());
                    assert!(
                        admitting.len() <= 1,
                        "{field} {operator:?}: variants overlap"
                    );
                    match admitting.first() {
                        Some(variant) => {
                            let value = variant["properties"].get("value").map(example);
                            let spec = rule(target, &field, operator.as_str(), value.clone());
                            assert!(
                                Rule::compile("r", &spec).is_ok(),
                                "{target:?} {field} {operator:?} {value:?} is admitted but refused"
                            );
                        }
                        None => {
                            // Refused whatever the value: try every shape a value may take.
                            for value in [
                                None,
                                Some(json!("x")),
                                Some(json!(3)),
                                Some(json!(true)),
                                Some(json!(["x"])),
                                Some(json!({ "k": "v" })),
                            ] {
                                let spec = rule(target, &field, operator.as_str(), value.clone());
                                assert!(
                                    Rule::compile("r", &spec).is_err(),
                                    "{target:?} {field} {operator:?} {value:?} compiles but the \
                                     schema has no variant for it"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_value_outside_its_variant_is_refused() {
        let refused = |field: &str, operator: &str, value: Value| {
            let spec = rule(Target::Pipeline, field, operator, Some(value));
            assert!(Rule::compile("r", &spec).is_err(), "{field} {operator}");
        };
        refused("name", "lengthGt", json!(-1));
        refused("name", "eq", json!("x".repeat(MAX_VALUE_CHARS + 1)));
        refused("name", "regex", json!("x".repeat(MAX_PATTERN_CHARS + 1)));
        refused("name", "in", json!([]));
        refused("name", "in", json!(vec!["x"; MAX_SET_VALUES + 1]));
        refused("name", "exists", json!("x"));
        refused("stageCount", "gt", json!(1e126));
        refused("stageCount", "eq", json!(-1e-131));
        refused("stageCount", "in", json!([1, 1e200]));
        refused("name", "lengthGt", json!(2.5));
        refused("name", "lengthGt", json!(MAX_COUNT + 1));
        // JSON Schema's `integer` includes whole floats (found by `make fuzz`).
        for whole in [json!(96869066.0), json!(MAX_COUNT)] {
            let spec = rule(Target::Pipeline, "name", "lengthLt", Some(whole.clone()));
            assert!(Rule::compile("r", &spec).is_ok(), "{whole}");
        }
        for storable in [json!(0), json!(1e125), json!(-1e-130)] {
            let spec = rule(Target::Pipeline, "stageCount", "eq", Some(storable.clone()));
            assert!(Rule::compile("r", &spec).is_ok(), "{storable}");
        }
    }

    #[test]
    fn numbers_written_at_the_stated_bounds_are_accepted() {
        for written in ["1e-129", "-1e-129", "1e125", "-1e125"] {
            let value: Value = serde_json::from_str(written).unwrap();
            let spec = rule(Target::Pipeline, "stageCount", "eq", Some(value));
            assert!(Rule::compile("r", &spec).is_ok(), "{written}");
        }
    }

    #[test]
    fn both_forms_of_each_target_are_closed_objects() {
        let schema = rule_spec_schema();
        let variants = schema["oneOf"].as_array().unwrap();
        assert!(variants.iter().all(|v| v["additionalProperties"] == false));
        let compound: Vec<&Value> = variants
            .iter()
            .filter(|v| v["properties"]["conditions"].is_object())
            .collect();
        assert_eq!(compound.len(), 2);
        for variant in compound {
            assert!(variant["properties"].get("field").is_none());
            assert_eq!(
                variant["properties"]["conditions"]["maxItems"],
                MAX_CONDITIONS
            );
        }
        assert!(variants
            .iter()
            .filter(|v| v["properties"]["field"].is_object())
            .all(|v| v["properties"].get("mode").is_none()));
    }
}
