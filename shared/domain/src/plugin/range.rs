//! Plugin references (`{name, version}`) and the version ranges they may use.

use std::fmt;
use std::str::FromStr;

use semver::{Comparator, Version, VersionReq};
use serde::{Deserialize, Serialize, Serializer};

use super::errors::LookupError;

/// Longest range text accepted; real ranges are a few comparators long.
pub const MAX_RANGE_CHARS: usize = 128;

/// The ranges the API document promises, as a regular expression (ECMA-262 and Rust syntax
/// alike): `latest`, `*`, or one comparator such as `1.2.3`, `^1.2`, `~1` or `>=1.2.3`.
/// [`VersionRange::parse`] takes more (several comparators, prereleases, wildcards).
pub const VERSION_RANGE_PATTERN: &str = concat!(
    "^(?:latest|\\*|(?:[=^~]|[<>]=?)?(?:0|[1-9][0-9]{0,18})",
    "(?:\\.(?:0|[1-9][0-9]{0,18})){0,2})$",
);

/// Which versions a reference accepts.
///
/// Forms: `1.2.3` (exactly that version), `^1.2`, `~1.2.3`, `>=1 <2` (comparators separated by
/// spaces or commas, all must hold), `*`, and `latest`. A bare partial version such as `1.2` means
/// any `1.2.x`, as in npm. Unions (`||`) and hyphen ranges (`1 - 2`) are not supported.
///
/// Prereleases follow npm/Cargo: a prerelease version is only accepted when the range names a
/// prerelease of that same `major.minor.patch` (`>=1.3.0-rc.1` accepts `1.3.0-rc.2`, never
/// `1.4.0-beta`), so `*`, `latest` and plain ranges never pick one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRange {
    text: String,
    /// `None` for `latest`.
    requirement: Option<VersionReq>,
}

impl VersionRange {
    pub fn parse(text: &str) -> Result<Self, LookupError> {
        let trimmed = text.trim();
        let invalid = |reason: String| LookupError::InvalidRange {
            range: text.to_string(),
            reason,
        };
        if trimmed.chars().count() > MAX_RANGE_CHARS {
            return Err(invalid(format!("longer than {MAX_RANGE_CHARS} characters")));
        }
        let requirement = if trimmed == "latest" {
            None
        } else {
            Some(parse_requirement(trimmed).map_err(invalid)?)
        };
        Ok(VersionRange {
            text: trimmed.to_string(),
            requirement,
        })
    }

    /// The range as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_latest(&self) -> bool {
        self.requirement.is_none()
    }

    pub fn matches(&self, version: &Version) -> bool {
        match &self.requirement {
            None => version.pre.is_empty(),
            Some(requirement) => requirement.matches(version),
        }
    }
}

fn parse_requirement(text: &str) -> Result<VersionReq, String> {
    if text.is_empty() {
        return Err("empty; use `latest` or `*` for any version".into());
    }
    if text.contains("||") {
        return Err("alternatives ('||') are not supported".into());
    }
    if text == "*" {
        return Ok(VersionReq::STAR);
    }
    let comparators = comparator_texts(text)?
        .iter()
        .map(|comparator| parse_comparator(comparator))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(VersionReq { comparators })
}

/// Splits on spaces and commas, re-attaching an operator written apart from its version
/// (`>= 1.2`).
fn comparator_texts(text: &str) -> Result<Vec<String>, String> {
    let mut comparators = Vec::new();
    let mut pending_operator: Option<&str> = None;
    for token in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|token| !token.is_empty())
    {
        if token == "-" {
            return Err("hyphen ranges ('1 - 2') are not supported; write '>=1 <=2'".into());
        }
        let is_bare_operator = token.chars().all(|c| "<>=~^".contains(c));
        match (pending_operator.take(), is_bare_operator) {
            (Some(operator), false) => comparators.push(format!("{operator}{token}")),
            (Some(operator), true) => return Err(format!("'{operator}' has no version")),
            (None, true) => pending_operator = Some(token),
            (None, false) => comparators.push(token.to_string()),
        }
    }
    match pending_operator {
        Some(operator) => Err(format!("'{operator}' has no version")),
        None => Ok(comparators),
    }
}

/// A bare version is an exact pin here, unlike Cargo where it means `^`.
fn parse_comparator(text: &str) -> Result<Comparator, String> {
    let starts_with_version = text.starts_with(|c: char| c.is_ascii_digit());
    let explicit = if starts_with_version {
        format!("={text}")
    } else {
        text.to_string()
    };
    Comparator::from_str(&explicit).map_err(|error| format!("'{text}': {error}"))
}

impl FromStr for VersionRange {
    type Err = LookupError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        VersionRange::parse(text)
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A step's reference to a plugin, as `{"name": …, "version": …}` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "WireRef")]
pub struct PluginRef {
    pub name: String,
    pub range: VersionRange,
}

impl PluginRef {
    pub fn parse(name: &str, range: &str) -> Result<Self, LookupError> {
        Ok(PluginRef {
            name: name.to_string(),
            range: VersionRange::parse(range)?,
        })
    }
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.range)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRef {
    name: String,
    version: String,
}

impl TryFrom<WireRef> for PluginRef {
    type Error = LookupError;

    fn try_from(wire: WireRef) -> Result<Self, Self::Error> {
        PluginRef::parse(&wire.name, &wire.version)
    }
}

impl Serialize for PluginRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireRef {
            name: self.name.clone(),
            version: self.range.text.clone(),
        }
        .serialize(serializer)
    }
}
