//! Field paths of rules: an attribute (`stageCount`), one entry of a map attribute (`tags.team`,
//! everything after the first `.` is the key, since keys may contain dots), or one computed field
//! over either (`$count(stageNames)`). Paths are parsed and typed when a rule is written, so
//! evaluation only looks values up.

use std::borrow::Cow;

use serde_json::Value;

use super::attributes::{AttributeDoc, Kind};

/// The computed fields, as (syntax, meaning), for documentation.
pub const COMPUTED_FIELDS: &[(&str, &str)] = &[
    ("$count(path)", "Number of entries of a list or map."),
    ("$length(path)", "Number of characters of a string."),
    ("$keys(path)", "Keys of a map, as a list of strings."),
    (
        "$lines(path)",
        "Lines of a string, or of every string of a list, as one list of strings.",
    ),
];

/// Longest field path accepted.
pub const MAX_FIELD_CHARS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Count,
    Length,
    Keys,
    Lines,
}

impl Function {
    fn parse(name: &str) -> Option<Function> {
        match name {
            "count" => Some(Function::Count),
            "length" => Some(Function::Length),
            "keys" => Some(Function::Keys),
            "lines" => Some(Function::Lines),
            _ => None,
        }
    }

    /// The kind of the result, or why the function does not apply to `input`.
    fn result_kind(self, input: Kind, path: &str) -> Result<Kind, String> {
        let (accepted, result, wants) = match self {
            Function::Count => (
                matches!(input, Kind::StringList | Kind::StringMap),
                Kind::Number,
                "a list or map",
            ),
            Function::Length => (input == Kind::String, Kind::Number, "a string"),
            Function::Keys => (input == Kind::StringMap, Kind::StringList, "a map"),
            Function::Lines => (
                matches!(input, Kind::String | Kind::StringList),
                Kind::StringList,
                "a string or list of strings",
            ),
        };
        if accepted {
            Ok(result)
        } else {
            Err(format!(
                "${} applies to {wants}, but '{path}' is a {}",
                self.name(),
                input.label()
            ))
        }
    }

    fn name(self) -> &'static str {
        match self {
            Function::Count => "count",
            Function::Length => "length",
            Function::Keys => "keys",
            Function::Lines => "lines",
        }
    }

    fn apply(self, value: &Value) -> Option<Value> {
        match (self, value) {
            (Function::Count, Value::Array(items)) => Some(Value::from(items.len())),
            (Function::Count, Value::Object(map)) => Some(Value::from(map.len())),
            (Function::Length, Value::String(text)) => Some(Value::from(text.chars().count())),
            (Function::Keys, Value::Object(map)) => {
                Some(Value::from(map.keys().cloned().collect::<Vec<_>>()))
            }
            (Function::Lines, Value::String(text)) => Some(lines(std::iter::once(text.as_str()))),
            (Function::Lines, Value::Array(items)) => {
                Some(lines(items.iter().filter_map(Value::as_str)))
            }
            _ => None,
        }
    }
}

fn lines<'a>(texts: impl Iterator<Item = &'a str>) -> Value {
    Value::from(
        texts
            .flat_map(str::lines)
            .map(str::to_string)
            .collect::<Vec<_>>(),
    )
}

/// A parsed, typed field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    function: Option<Function>,
    attribute: &'static str,
    key: Option<String>,
    kind: Kind,
}

impl Field {
    /// Parses `text` against the documented attributes of a target (`target` names it in errors).
    pub(crate) fn parse(
        text: &str,
        documented: &'static [AttributeDoc],
        target: &str,
    ) -> Result<Field, String> {
        if text.chars().count() > MAX_FIELD_CHARS {
            return Err(format!("at most {MAX_FIELD_CHARS} characters"));
        }
        match text.strip_prefix('$') {
            Some(call) => Self::parse_computed(call, documented, target),
            None => Self::parse_path(text, documented, target),
        }
    }

    fn parse_computed(
        call: &str,
        documented: &'static [AttributeDoc],
        target: &str,
    ) -> Result<Field, String> {
        let malformed = || {
            format!("'${call}' is not a computed field; write $count(path), $length(path), $keys(path) or $lines(path)")
        };
        let (name, rest) = call.split_once('(').ok_or_else(malformed)?;
        let inner = rest.strip_suffix(')').ok_or_else(malformed)?;
        let function = Function::parse(name).ok_or_else(malformed)?;
        if inner.starts_with('$') {
            return Err("computed fields do not nest".into());
        }
        let path = Self::parse_path(inner, documented, target)?;
        Ok(Field {
            function: Some(function),
            kind: function.result_kind(path.kind, inner)?,
            ..path
        })
    }

    fn parse_path(
        text: &str,
        documented: &'static [AttributeDoc],
        target: &str,
    ) -> Result<Field, String> {
        let (name, key) = match text.split_once('.') {
            Some((name, key)) => (name, Some(key)),
            None => (text, None),
        };
        let attribute = documented
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| unknown_attribute(name, documented, target))?;
        let kind = match key {
            None => attribute.kind,
            Some("") => return Err(format!("'{name}.' needs a key after the dot")),
            Some(_) if attribute.kind == Kind::StringMap => Kind::String,
            Some(_) => {
                return Err(format!(
                    "'{name}' is a {}; only maps take a key ('{name}.key')",
                    attribute.kind.label()
                ))
            }
        };
        Ok(Field {
            function: None,
            attribute: attribute.name,
            key: key.map(str::to_string),
            kind,
        })
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// The field's value in `attributes`; `None` when it is absent.
    pub(crate) fn resolve<'a>(&self, attributes: &'a Value) -> Option<Cow<'a, Value>> {
        let mut value = attributes.get(self.attribute)?;
        if let Some(key) = &self.key {
            value = value.get(key)?;
        }
        if value.is_null() {
            return None;
        }
        match self.function {
            None => Some(Cow::Borrowed(value)),
            Some(function) => function.apply(value).map(Cow::Owned),
        }
    }
}

fn unknown_attribute(name: &str, documented: &[AttributeDoc], target: &str) -> String {
    let known: Vec<&str> = documented.iter().map(|a| a.name).collect();
    format!(
        "'{name}' is not an attribute of a {target}; rules can use {}",
        known.join(", ")
    )
}
