//! The 18 operators: what each expects as a value (checked when a rule is written, against the
//! type of its field) and whether an actual value satisfies it.
//!
//! An absent field (an optional attribute, a missing map key) satisfies only the negative
//! operators `neq`, `notContains`, `notIn` and `notExists`: "no image is not `latest`" holds,
//! "no tag equals `payments`" does not.

use regex_automata::meta::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::attributes::Kind;
use super::cost::{CompileBudget, MAX_REGEX_BYTES};

/// Longest regex pattern accepted.
pub const MAX_PATTERN_CHARS: usize = 512;
/// Most values an `in` / `notIn` list may hold.
pub const MAX_SET_VALUES: usize = 100;
/// Longest string value accepted.
pub const MAX_VALUE_CHARS: usize = 1024;
/// Largest count or length a rule compares with: the largest integer every JSON client reads
/// exactly (2^53 - 1).
pub const MAX_COUNT: u64 = 9_007_199_254_740_991;
/// Largest magnitude of a number in a rule, and the smallest besides zero: the range the catalog
/// table stores numbers in (DynamoDB numbers), so every rule that validates can be stored.
pub const MAX_NUMBER_MAGNITUDE: f64 = 9.9e125;
pub const MIN_NUMBER_MAGNITUDE: f64 = 1e-130;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Operator {
    Eq,
    Neq,
    Contains,
    NotContains,
    Regex,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    NotIn,
    Exists,
    NotExists,
    NotEmpty,
    CountGt,
    CountLt,
    LengthGt,
    LengthLt,
}

impl Operator {
    pub const ALL: [Operator; 18] = [
        Operator::Eq,
        Operator::Neq,
        Operator::Contains,
        Operator::NotContains,
        Operator::Regex,
        Operator::Gt,
        Operator::Gte,
        Operator::Lt,
        Operator::Lte,
        Operator::In,
        Operator::NotIn,
        Operator::Exists,
        Operator::NotExists,
        Operator::NotEmpty,
        Operator::CountGt,
        Operator::CountLt,
        Operator::LengthGt,
        Operator::LengthLt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "eq",
            Operator::Neq => "neq",
            Operator::Contains => "contains",
            Operator::NotContains => "notContains",
            Operator::Regex => "regex",
            Operator::Gt => "gt",
            Operator::Gte => "gte",
            Operator::Lt => "lt",
            Operator::Lte => "lte",
            Operator::In => "in",
            Operator::NotIn => "notIn",
            Operator::Exists => "exists",
            Operator::NotExists => "notExists",
            Operator::NotEmpty => "notEmpty",
            Operator::CountGt => "countGt",
            Operator::CountLt => "countLt",
            Operator::LengthGt => "lengthGt",
            Operator::LengthLt => "lengthLt",
        }
    }

    /// What the operator means, for documentation.
    pub fn meaning(self) -> &'static str {
        match self {
            Operator::Eq => "equals the value (lists in order; numbers numerically)",
            Operator::Neq => "does not equal the value, or is absent",
            Operator::Contains => {
                "a string contains the value as a substring, a list has it as an element, a map \
                 has it as a key"
            }
            Operator::NotContains => "the opposite of contains, or is absent",
            Operator::Regex => {
                "a string matches the pattern; for a list, every element does (`^…$` to anchor)"
            }
            Operator::Gt => "number greater than the value",
            Operator::Gte => "number greater than or equal to the value",
            Operator::Lt => "number less than the value",
            Operator::Lte => "number less than or equal to the value",
            Operator::In => "is one of the listed values; for a list, every element is",
            Operator::NotIn => {
                "is none of the listed values (for a list, no element is), or is absent"
            }
            Operator::Exists => "is present (takes no value)",
            Operator::NotExists => "is absent (takes no value)",
            Operator::NotEmpty => {
                "a string that is not blank, a list or map with entries (takes no value)"
            }
            Operator::CountGt => "a list or map has more entries than the value",
            Operator::CountLt => "a list or map has fewer entries than the value",
            Operator::LengthGt => "a string has more characters than the value",
            Operator::LengthLt => "a string has fewer characters than the value",
        }
    }

    fn holds_when_absent(self) -> bool {
        matches!(
            self,
            Operator::Neq | Operator::NotContains | Operator::NotIn | Operator::NotExists
        )
    }
}

/// The rule's value in the form its operator uses.
#[derive(Debug, Clone)]
pub(crate) enum Expected {
    Nothing,
    Exactly(Value),
    Text(String),
    Pattern(Regex),
    Number(f64),
    OneOf(Vec<Value>),
    Count(u64),
}

/// Checks `value` against what `operator` needs for a field of type `kind` (which
/// [`applies_to`] has accepted).
pub(crate) fn expect(
    operator: Operator,
    kind: Kind,
    value: Option<&Value>,
    budget: &mut CompileBudget,
) -> Result<Expected, String> {
    let value = value.filter(|v| !v.is_null());
    match operator {
        Operator::Exists | Operator::NotExists | Operator::NotEmpty => match value {
            None => Ok(Expected::Nothing),
            Some(_) => Err(format!("{} takes no value", operator.as_str())),
        },
        Operator::Eq | Operator::Neq => {
            let value = required(operator, value)?;
            check_is_kind(value, kind)?;
            Ok(Expected::Exactly(value.clone()))
        }
        Operator::Contains | Operator::NotContains => {
            text(required(operator, value)?).map(|t| Expected::Text(t.to_string()))
        }
        Operator::Regex => pattern(required(operator, value)?, budget).map(Expected::Pattern),
        Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte => {
            number(required(operator, value)?).map(Expected::Number)
        }
        Operator::In | Operator::NotIn => one_of(required(operator, value)?, kind),
        Operator::CountGt | Operator::CountLt | Operator::LengthGt | Operator::LengthLt => {
            whole_count(required(operator, value)?)
                .map(Expected::Count)
                .ok_or_else(|| format!("must be a whole number from 0 to {MAX_COUNT}"))
        }
    }
}

/// Why `operator` cannot be used on a field of type `kind`, if it cannot.
pub(crate) fn applies_to(operator: Operator, kind: Kind) -> Result<(), String> {
    use Kind::*;
    let (fits, wants): (bool, &str) = match operator {
        Operator::Eq | Operator::Neq | Operator::Exists | Operator::NotExists => (true, ""),
        Operator::Contains | Operator::NotContains => (
            matches!(kind, String | StringList | StringMap),
            "a string, list or map",
        ),
        Operator::Regex => (
            matches!(kind, String | StringList),
            "a string or list of strings",
        ),
        Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte => (kind == Number, "a number"),
        Operator::In | Operator::NotIn => (
            matches!(kind, String | Number | Boolean | StringList),
            "a string, number, boolean or list",
        ),
        Operator::NotEmpty => (
            matches!(kind, String | StringList | StringMap),
            "a string, list or map",
        ),
        Operator::CountGt | Operator::CountLt => (
            matches!(kind, StringList | StringMap),
            "a list or map (use lengthGt/lengthLt for strings)",
        ),
        Operator::LengthGt | Operator::LengthLt => (
            kind == String,
            "a string (use countGt/countLt for lists and maps)",
        ),
    };
    if fits {
        Ok(())
    } else {
        Err(format!(
            "{} applies to {wants}, but the field is a {}",
            operator.as_str(),
            kind.label()
        ))
    }
}

fn required(operator: Operator, value: Option<&Value>) -> Result<&Value, String> {
    value.ok_or_else(|| format!("{} needs a value", operator.as_str()))
}

fn text(value: &Value) -> Result<&str, String> {
    match value.as_str() {
        Some(text) if text.chars().count() <= MAX_VALUE_CHARS => Ok(text),
        Some(_) => Err(format!("at most {MAX_VALUE_CHARS} characters")),
        None => Err("must be a string".into()),
    }
}

/// Compiles a pattern with the linear-time engine of the `regex` crate (same syntax), within
/// [`MAX_REGEX_BYTES`] and the request's budget; `meta::Regex` is used for its compiled size.
fn pattern(value: &Value, budget: &mut CompileBudget) -> Result<Regex, String> {
    let source = value.as_str().ok_or("must be a string (a regex)")?;
    if source.chars().count() > MAX_PATTERN_CHARS {
        return Err(format!(
            "the pattern is longer than {MAX_PATTERN_CHARS} characters"
        ));
    }
    budget.check_room()?;
    let config = Regex::config()
        .nfa_size_limit(Some(MAX_REGEX_BYTES))
        .onepass_size_limit(Some(MAX_REGEX_BYTES))
        .hybrid_cache_capacity(MAX_REGEX_BYTES);
    let regex = Regex::builder()
        .configure(config)
        .build(source)
        .map_err(|error| match error.size_limit() {
            Some(_) => format!(
                "the regex compiles to more than {} KB, the cap per regex",
                MAX_REGEX_BYTES / 1024
            ),
            None => format!("not a valid regex: {error}"),
        })?;
    budget.charge(regex.memory_usage())?;
    Ok(regex)
}

/// A count as JSON Schema's `integer` admits it: `3`, or `3.0` (a whole float).
fn whole_count(value: &Value) -> Option<u64> {
    let count = match value.as_u64() {
        Some(count) => count,
        None => {
            let number = value.as_f64()?;
            let whole = number.fract() == 0.0 && (0.0..=MAX_COUNT as f64).contains(&number);
            whole.then_some(number as u64)?
        }
    };
    (count <= MAX_COUNT).then_some(count)
}

fn number(value: &Value) -> Result<f64, String> {
    let number = value.as_f64().ok_or("must be a number")?;
    let magnitude = number.abs();
    if number == 0.0 || (MIN_NUMBER_MAGNITUDE..=MAX_NUMBER_MAGNITUDE).contains(&magnitude) {
        Ok(number)
    } else {
        Err(format!(
            "must be 0 or between {MIN_NUMBER_MAGNITUDE:e} and {MAX_NUMBER_MAGNITUDE:e} in \
             magnitude"
        ))
    }
}

fn one_of(value: &Value, kind: Kind) -> Result<Expected, String> {
    let Some(items) = value.as_array() else {
        return Err("must be a list of values".into());
    };
    if items.is_empty() || items.len() > MAX_SET_VALUES {
        return Err(format!("must list 1 to {MAX_SET_VALUES} values"));
    }
    let element = if kind == Kind::StringList {
        Kind::String
    } else {
        kind
    };
    for item in items {
        check_is_kind(item, element)?;
    }
    Ok(Expected::OneOf(items.clone()))
}

fn check_is_kind(value: &Value, kind: Kind) -> Result<(), String> {
    let fits = match kind {
        Kind::String if value.is_string() => return text(value).map(|_| ()),
        Kind::String => false,
        Kind::Number if value.is_number() => return number(value).map(|_| ()),
        Kind::Number => false,
        Kind::Boolean => value.is_boolean(),
        Kind::StringList => value
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_string)),
        Kind::StringMap => value
            .as_object()
            .is_some_and(|map| map.values().all(Value::is_string)),
    };
    if fits {
        Ok(())
    } else {
        Err(format!("must be a {} (the field's type)", kind.label()))
    }
}

/// Whether `actual` satisfies `operator` with `expected`. A value of an unexpected type never
/// does: the projection's types are fixed, so a mismatch is a defect and must not pass silently.
pub(crate) fn holds(operator: Operator, expected: &Expected, actual: Option<&Value>) -> bool {
    let Some(actual) = actual else {
        return operator.holds_when_absent();
    };
    match (operator, expected) {
        (Operator::Exists, _) => true,
        (Operator::NotExists, _) => false,
        (Operator::NotEmpty, _) => is_not_empty(actual),
        (Operator::Eq, Expected::Exactly(value)) => same(actual, value),
        (Operator::Neq, Expected::Exactly(value)) => !same(actual, value),
        (Operator::Contains, Expected::Text(text)) => contains(actual, text) == Some(true),
        (Operator::NotContains, Expected::Text(text)) => contains(actual, text) == Some(false),
        (Operator::Regex, Expected::Pattern(regex)) => match actual {
            Value::Array(_) => failing_elements(operator, expected, actual)
                .is_some_and(|failing| failing.is_empty()),
            _ => actual.as_str().is_some_and(|t| regex.is_match(t)),
        },
        (Operator::Gt, Expected::Number(n)) => actual.as_f64().is_some_and(|a| a > *n),
        (Operator::Gte, Expected::Number(n)) => actual.as_f64().is_some_and(|a| a >= *n),
        (Operator::Lt, Expected::Number(n)) => actual.as_f64().is_some_and(|a| a < *n),
        (Operator::Lte, Expected::Number(n)) => actual.as_f64().is_some_and(|a| a <= *n),
        (Operator::In | Operator::NotIn, Expected::OneOf(set)) => match actual {
            Value::Array(_) => failing_elements(operator, expected, actual)
                .is_some_and(|failing| failing.is_empty()),
            _ => set.iter().any(|v| same(actual, v)) == (operator == Operator::In),
        },
        (Operator::CountGt, Expected::Count(n)) => entries(actual).is_some_and(|c| c > *n),
        (Operator::CountLt, Expected::Count(n)) => entries(actual).is_some_and(|c| c < *n),
        (Operator::LengthGt, Expected::Count(n)) => characters(actual).is_some_and(|c| c > *n),
        (Operator::LengthLt, Expected::Count(n)) => characters(actual).is_some_and(|c| c < *n),
        _ => false,
    }
}

/// For the element-wise operators on a list (`regex`, `in`, `notIn`), the elements that fail;
/// `None` for other operators or values. Reported as the violation's actual value, because
/// "these stage names do not match" is what the author has to fix.
pub(crate) fn failing_elements(
    operator: Operator,
    expected: &Expected,
    actual: &Value,
) -> Option<Vec<Value>> {
    let items = actual.as_array()?;
    let fails = |item: &Value| match (operator, expected) {
        (Operator::Regex, Expected::Pattern(regex)) => {
            !item.as_str().is_some_and(|t| regex.is_match(t))
        }
        (Operator::In, Expected::OneOf(set)) => !set.iter().any(|v| same(item, v)),
        (Operator::NotIn, Expected::OneOf(set)) => set.iter().any(|v| same(item, v)),
        _ => false,
    };
    matches!(operator, Operator::Regex | Operator::In | Operator::NotIn)
        .then(|| items.iter().filter(|item| fails(item)).cloned().collect())
}

/// Equality with numbers compared by value (`3` equals `3.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

fn contains(actual: &Value, needle: &str) -> Option<bool> {
    match actual {
        Value::String(text) => Some(text.contains(needle)),
        Value::Array(items) => Some(items.iter().any(|item| item.as_str() == Some(needle))),
        Value::Object(map) => Some(map.contains_key(needle)),
        _ => None,
    }
}

fn is_not_empty(actual: &Value) -> bool {
    match actual {
        Value::String(text) => !text.trim().is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        _ => false,
    }
}

fn entries(actual: &Value) -> Option<u64> {
    match actual {
        Value::Array(items) => Some(items.len() as u64),
        Value::Object(map) => Some(map.len() as u64),
        _ => None,
    }
}

fn characters(actual: &Value) -> Option<u64> {
    actual.as_str().map(|t| t.chars().count() as u64)
}
