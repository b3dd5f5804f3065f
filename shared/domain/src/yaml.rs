//! YAML to JSON values, built from parser events with every limit checked as the event arrives.
//!
//! Specs are plain data, so what plain data never needs is refused before anything is built:
//! anchors and aliases (expanding aliases turns a 100 KB body into hundreds of megabytes), nesting
//! deeper than [`Limits::max_depth`], more nodes than [`Limits::max_nodes`], tags unless
//! [`Tags::ShortFormObjects`] asks for them, duplicate and non-scalar keys, a second document.
//! Nothing is ever expanded or copied, so the cost is linear in the input. (The parser itself
//! refuses flow nesting past 255 levels while it scans ahead, before any event reaches us.)
//!
//! Plain scalars resolve like the YAML 1.2 core schema (`null`/`~`/empty, `true`/`false`,
//! decimal, `0o` and `0x` integers, floats); quoted and block scalars stay strings. Infinity and
//! NaN have no JSON form and are refused.

mod emit;

pub use emit::to_yaml;

use std::borrow::Cow;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Tag};
use serde_json::{Map, Number, Value};
use thiserror::Error;

/// What to do with tags (`!Ref x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tags {
    /// Every tag is refused.
    Refuse,
    /// CloudFormation short forms: a value tagged `!Name` becomes `{"!Name": value}`; other
    /// tags are refused.
    ShortFormObjects,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most nested sequences and mappings; the top-level collection is level 1.
    pub max_depth: usize,
    /// Most scalars, sequences and mappings (keys included).
    pub max_nodes: usize,
    pub tags: Tags,
}

impl Limits {
    /// Request bodies (plugin specs, pipeline definitions). The deepest legitimate spec path,
    /// `stages[].steps[].env.KEY`, is 6 levels.
    pub const BODY: Limits = Limits {
        max_depth: 32,
        max_nodes: 20_000,
        tags: Tags::Refuse,
    };
}

/// Where the input was refused (line and column from 1) and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{problem} (line {line}, column {column})")]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    #[error("{0}")]
    Syntax(String),
    #[error("anchors and aliases (&name, *name) are not accepted")]
    Anchor,
    #[error("nesting deeper than {0} levels is not accepted")]
    TooDeep(usize),
    #[error("more than {0} values are not accepted")]
    TooManyNodes(usize),
    #[error("the tag {0} is not accepted")]
    Tag(String),
    #[error("the key '{0}' appears twice")]
    DuplicateKey(String),
    #[error("a key must be a plain value, not a list or map")]
    ComplexKey,
    #[error("only one document is accepted")]
    SecondDocument,
    #[error("'{0}' is not a number JSON can hold")]
    NotJsonNumber(String),
}

/// The single document of `text` as JSON (`null` when there is none).
pub fn to_json(text: &str, limits: Limits) -> Result<Value, YamlError> {
    let mut builder = Builder {
        limits,
        stack: Vec::new(),
        nodes: 0,
        documents: 0,
        document: None,
    };
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(syntax_error)?;
        if matches!(event, Event::StreamEnd) {
            break;
        }
        builder.accept(event).map_err(|problem| YamlError {
            line: span.start.line(),
            column: span.start.col() + 1,
            problem,
        })?;
    }
    Ok(builder.document.unwrap_or(Value::Null))
}

/// One step of a path into a document: a list index or a mapping key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    Index(usize),
    Key(&'a str),
}

/// Where the node at `path` starts (line and column from 1; for a mapping value, where its key
/// starts), so that a problem found after parsing can point into the text. `None` when the path
/// is not in the document or the text does not parse.
pub fn locate(text: &str, path: &[Step<'_>]) -> Option<(usize, usize)> {
    if path.is_empty() {
        return Some((1, 1));
    }
    let mut open: Vec<Container> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.ok()?;
        let position = (span.start.line(), span.start.col() + 1);
        let kind = match &event {
            Event::SequenceEnd | Event::MappingEnd => {
                open.pop();
                continue;
            }
            Event::Scalar(text, ..) => Node::Scalar(text),
            Event::SequenceStart(..) => Node::Sequence,
            Event::MappingStart(..) => Node::Mapping,
            _ => continue,
        };
        let depth = open.len();
        let (on_path, at) = match open.last_mut() {
            None => (true, position),
            Some(Container::Mapping {
                key: key @ None, ..
            }) => {
                if let Node::Scalar(text) = kind {
                    *key = Some((text.to_string(), position));
                }
                continue;
            }
            Some(Container::Mapping { key, on_path }) => {
                let (name, at) = key.take()?;
                (*on_path && path[depth - 1] == Step::Key(&name), at)
            }
            Some(Container::Sequence { next, on_path }) => {
                *next += 1;
                (
                    *on_path && path[depth - 1] == Step::Index(*next - 1),
                    position,
                )
            }
        };
        if on_path && depth == path.len() && depth > 0 {
            return Some(at);
        }
        match kind {
            Node::Sequence => open.push(Container::Sequence { next: 0, on_path }),
            Node::Mapping => open.push(Container::Mapping { key: None, on_path }),
            Node::Scalar(_) => {}
        }
    }
    None
}

enum Node<'t> {
    Scalar(&'t str),
    Sequence,
    Mapping,
}

/// An open collection while locating: whether it lies on the path, and where it stands.
enum Container {
    Sequence {
        next: usize,
        on_path: bool,
    },
    Mapping {
        key: Option<(String, (usize, usize))>,
        on_path: bool,
    },
}

fn syntax_error(error: ScanError) -> YamlError {
    YamlError {
        line: error.marker().line(),
        column: error.marker().col() + 1,
        problem: Problem::Syntax(error.info().to_string()),
    }
}

enum Frame {
    Sequence {
        items: Vec<Value>,
        tag: Option<String>,
    },
    Mapping {
        entries: Map<String, Value>,
        key: Option<String>,
        tag: Option<String>,
    },
}

struct Builder {
    limits: Limits,
    stack: Vec<Frame>,
    nodes: usize,
    documents: usize,
    document: Option<Value>,
}

impl Builder {
    fn accept(&mut self, event: Event<'_>) -> Result<(), Problem> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Problem::SecondDocument);
                }
            }
            Event::Alias(_) => return Err(Problem::Anchor),
            Event::Scalar(text, style, anchor, tag) => {
                self.count_node(anchor)?;
                let tag = self.tag_name(tag)?;
                if self.awaits_key() {
                    return self.key(text.into_owned(), tag);
                }
                let value = wrap(tag, scalar(&text, style)?);
                self.attach(value);
            }
            Event::SequenceStart(anchor, tag) => {
                self.open(anchor)?;
                let tag = self.tag_name(tag)?;
                self.stack.push(Frame::Sequence {
                    items: Vec::new(),
                    tag,
                });
            }
            Event::MappingStart(anchor, tag) => {
                self.open(anchor)?;
                let tag = self.tag_name(tag)?;
                self.stack.push(Frame::Mapping {
                    entries: Map::new(),
                    key: None,
                    tag,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let value = match self.stack.pop() {
                    Some(Frame::Sequence { items, tag }) => wrap(tag, Value::Array(items)),
                    Some(Frame::Mapping { entries, tag, .. }) => wrap(tag, Value::Object(entries)),
                    None => return Err(Problem::Syntax("unbalanced end of a collection".into())),
                };
                self.attach(value);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }

    /// Counts a node, refusing an anchor on it and a node past the limit.
    fn count_node(&mut self, anchor: usize) -> Result<(), Problem> {
        if anchor != 0 {
            return Err(Problem::Anchor);
        }
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(Problem::TooManyNodes(self.limits.max_nodes));
        }
        Ok(())
    }

    /// Checks a sequence or mapping about to open, before anything is allocated for it.
    fn open(&mut self, anchor: usize) -> Result<(), Problem> {
        self.count_node(anchor)?;
        if self.awaits_key() {
            return Err(Problem::ComplexKey);
        }
        if self.stack.len() >= self.limits.max_depth {
            return Err(Problem::TooDeep(self.limits.max_depth));
        }
        Ok(())
    }

    fn tag_name(&self, tag: Option<Cow<'_, Tag>>) -> Result<Option<String>, Problem> {
        let Some(tag) = tag else {
            return Ok(None);
        };
        match self.limits.tags {
            Tags::ShortFormObjects if tag.handle == "!" => Ok(Some(format!("!{}", tag.suffix))),
            _ if tag.is_yaml_core_schema() => Err(Problem::Tag(format!("!!{}", tag.suffix))),
            _ => Err(Problem::Tag(format!("{}{}", tag.handle, tag.suffix))),
        }
    }

    fn awaits_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Mapping { key: None, .. }))
    }

    fn key(&mut self, text: String, tag: Option<String>) -> Result<(), Problem> {
        if let Some(tag) = tag {
            return Err(Problem::Tag(tag));
        }
        if let Some(Frame::Mapping { entries, key, .. }) = self.stack.last_mut() {
            if entries.contains_key(&text) {
                return Err(Problem::DuplicateKey(text));
            }
            *key = Some(text);
        }
        Ok(())
    }

    fn attach(&mut self, value: Value) {
        match self.stack.last_mut() {
            None => self.document = Some(value),
            Some(Frame::Sequence { items, .. }) => items.push(value),
            Some(Frame::Mapping { entries, key, .. }) => {
                if let Some(key) = key.take() {
                    entries.insert(key, value);
                }
            }
        }
    }
}

fn wrap(tag: Option<String>, value: Value) -> Value {
    match tag {
        Some(tag) => Value::Object(Map::from_iter([(tag, value)])),
        None => value,
    }
}

fn scalar(text: &str, style: ScalarStyle) -> Result<Value, Problem> {
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_string()));
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "true" | "True" | "TRUE" => return Ok(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if let Some(number) = integer(text) {
        return Ok(Value::Number(number));
    }
    if is_infinity_or_nan(text) {
        return Err(Problem::NotJsonNumber(text.to_string()));
    }
    if is_decimal(text) || is_float(text) {
        return text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| Problem::NotJsonNumber(text.to_string()));
    }
    Ok(Value::String(text.to_string()))
}

/// `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+` within 64 bits; a longer decimal is a float.
fn integer(text: &str) -> Option<Number> {
    if let Some(octal) = text.strip_prefix("0o") {
        return u64::from_str_radix(octal, 8).ok().map(Number::from);
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok().map(Number::from);
    }
    if !is_decimal(text) {
        return None;
    }
    text.parse::<i64>()
        .ok()
        .map(Number::from)
        .or_else(|| text.parse::<u64>().ok().map(Number::from))
}

fn is_decimal(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_float(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_fits = match fraction {
        Some(fraction) if whole.is_empty() => !fraction.is_empty() && all_digits(fraction),
        Some(fraction) => all_digits(whole) && all_digits(fraction),
        None => !whole.is_empty() && all_digits(whole),
    };
    let exponent_fits = exponent.is_none_or(is_decimal);
    mantissa_fits && exponent_fits
}

fn is_infinity_or_nan(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN")
}

#[cfg(test)]
mod tests;
