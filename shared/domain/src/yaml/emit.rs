//! JSON values written as block YAML, for people reading templates and buildspecs.
//!
//! Every string is double-quoted with JSON's escapes (a valid YAML double-quoted scalar), so no
//! value can be read back as another type (`"true"`, `"0.2"`, `"null"`, `"no"` stay strings);
//! only multi-line strings that need no escaping become literal blocks, which keep commands
//! readable. Keys are plain when they cannot be mistaken for anything but a string.

use serde_json::Value;

const INDENT: usize = 2;

/// The YAML text of `value`, ending in a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_list(&mut out, items, 0),
        scalar => {
            write_scalar(&mut out, scalar, 0);
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (index, (key, value)) in map.iter().enumerate() {
        if index > 0 {
            pad(out, indent);
        }
        write_key(out, key);
        out.push(':');
        write_nested(out, value, indent);
    }
}

fn write_list(out: &mut String, items: &[Value], indent: usize) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_map(out, map, indent + INDENT),
            Value::Array(inner) if !inner.is_empty() => write_list(out, inner, indent + INDENT),
            scalar => {
                write_scalar(out, scalar, indent + INDENT);
                out.push('\n');
            }
        }
    }
}

/// A value after `key:`: collections on the following lines, scalars on the same one.
fn write_nested(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            pad(out, indent + INDENT);
            write_map(out, map, indent + INDENT);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            pad(out, indent + INDENT);
            write_list(out, items, indent + INDENT);
        }
        scalar => {
            out.push(' ');
            write_scalar(out, scalar, indent + INDENT);
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn write_scalar(out: &mut String, value: &Value, block_indent: usize) {
    match value {
        Value::String(text) if is_literal_block(text) => {
            let (body, chomp) = match text.strip_suffix('\n') {
                Some(body) => (body, "|"),
                None => (text.as_str(), "|-"),
            };
            out.push_str(chomp);
            for line in body.split('\n') {
                out.push('\n');
                if !line.is_empty() {
                    pad(out, block_indent);
                    out.push_str(line);
                }
            }
        }
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
        other => out.push_str(&other.to_string()),
    }
}

/// Multi-line text a literal block reproduces exactly: no characters that need escaping, no
/// trailing blanks (a block would keep them invisibly), no indentation on the first line (it
/// would need an indentation indicator), at most one final newline.
fn is_literal_block(text: &str) -> bool {
    let body = text.strip_suffix('\n').unwrap_or(text);
    body.contains('\n')
        && !body.ends_with('\n')
        && !body.starts_with([' ', '\t'])
        && !body.chars().any(|c| c.is_control() && c != '\n')
        && body.split('\n').all(|line| !line.ends_with([' ', '\t']))
}

fn write_key(out: &mut String, key: &str) {
    let plain = key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        && !matches!(
            key.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        out.push_str(key);
    } else {
        out.push_str(&Value::String(key.to_string()).to_string());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::to_yaml;
    use crate::yaml::{to_json, Limits};

    fn round_trip(value: serde_json::Value) -> String {
        let text = to_yaml(&value);
        assert_eq!(to_json(&text, Limits::BODY).unwrap(), value, "{text}");
        text
    }

    #[test]
    fn values_read_back_as_the_same_json() {
        round_trip(json!({
            "version": 0.2,
            "on": "true",
            "no": "0.2",
            "count": 3,
            "flag": false,
            "nothing": null,
            "empty": {}, "none": [],
            "aws:key": "colon: inside",
            "Fn::GetAtt": ["Role", "Arn"],
            "nested": [{"a": 1, "b": [1, [2, 3], {"c": "d"}]}, "x", []],
            "quote": "say \"hi\"\tand\\ leave",
            "unicode": "naïve ✓",
        }));
        round_trip(json!("just text"));
        round_trip(json!([1, "two"]));
    }

    #[test]
    fn commands_become_literal_blocks_only_when_exact() {
        let text = round_trip(
            json!({"commands": ["if x; then\n  y\nfi", "a\n\nb\n", " lead\nx", "trail \nx"]}),
        );
        assert!(
            text.contains("- |-\n    if x; then\n      y\n    fi\n"),
            "{text}"
        );
        assert!(text.contains("- |\n    a\n\n    b\n"), "{text}");
        assert!(text.contains("\" lead\\nx\""), "{text}");
        assert!(text.contains("\"trail \\nx\""), "{text}");
    }
}
