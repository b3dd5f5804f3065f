//! Publish-time checks of a [`PluginSpec`]. All problems are collected, each with the JSON path of
//! the offending field, so a publisher fixes a spec in one round trip rather than one error at a time.
//!
//! What belongs to organisation policy (e.g. "no `:latest` images", "only these registries") is
//! left to the compliance rules; this only rejects specs that are malformed or unsafe everywhere.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use regex::Regex;

use super::errors::FieldError;
use super::namespace::secret_namespace_problems;
use super::spec::{PluginSpec, SecretRef};

/// Size limits of a spec. They keep a spec far below DynamoDB's 400 KB item limit and keep the
/// buildspec generated from it reviewable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub name_chars: usize,
    pub description_chars: usize,
    pub keywords: usize,
    pub keyword_chars: usize,
    pub category_chars: usize,
    pub image_chars: usize,
    /// Per list: `installCommands` and `commands` each.
    pub commands: usize,
    pub command_bytes: usize,
    pub env_vars: usize,
    pub env_name_chars: usize,
    pub env_value_bytes: usize,
    pub secrets: usize,
    pub secret_name_chars: usize,
    pub min_timeout_minutes: u32,
    pub max_timeout_minutes: u32,
    pub output_directory_chars: usize,
    pub required_metadata: usize,
}

pub const LIMITS: Limits = Limits {
    name_chars: 64,
    description_chars: 1024,
    keywords: 20,
    keyword_chars: 64,
    category_chars: 64,
    image_chars: 512,
    commands: 50,
    command_bytes: 4096,
    env_vars: 50,
    env_name_chars: 128,
    env_value_bytes: 4096,
    secrets: 20,
    // Secrets Manager's own limit on a secret name.
    secret_name_chars: 512,
    min_timeout_minutes: 5,
    // CodeBuild's maximum build timeout.
    max_timeout_minutes: 480,
    output_directory_chars: 256,
    required_metadata: 20,
};

/// The versions [`validate`] accepts, as a regular expression (ECMA-262 and Rust syntax alike)
/// for the API document: semver 2.0 without build metadata, each number at most 19 digits so that
/// it fits a u64 (the 20-digit numbers that still fit are accepted but not documented).
pub const VERSION_PATTERN: &str = concat!(
    "^(?:0|[1-9][0-9]{0,18})\\.(?:0|[1-9][0-9]{0,18})\\.(?:0|[1-9][0-9]{0,18})",
    "(?:-(?:0|[1-9][0-9]{0,18}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)",
    "(?:\\.(?:0|[1-9][0-9]{0,18}|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?$",
);

/// The `image` references [`validate`] accepts, as a regular expression (ECMA-262 and Rust syntax
/// alike) for the API document: `repository:tag`, `repository@sha256:<digest>` or both.
pub const IMAGE_PATTERN: &str = concat!(
    "^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?/)?",
    "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*",
    "(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(?:@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$",
);

/// Relative paths [`validate`] accepts for `primaryOutputDirectory`, as a regular expression for
/// the API document: `/`-separated segments of letters, digits and `._-`, none only dots.
pub const OUTPUT_DIRECTORY_PATTERN: &str =
    "^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*)*$";

/// The names [`validate`] accepts for `requiredMetadata`, `env` and `secrets`, as regular
/// expressions for the API document.
pub const METADATA_KEY_PATTERN: &str = "^[A-Za-z][A-Za-z0-9_.:-]{0,127}$";
pub const ENV_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";
pub const SECRET_NAME_PATTERN: &str = "^[A-Za-z0-9/_+=.@-]+$";

/// Checks a spec before it is published, returning every problem found.
///
/// Decisions beyond field shapes:
/// - `CodeBuildStep` and `ShellStep` must name an `image` and at least one command: a step that
///   runs nothing is a mistake, and without an explicit image the step would silently follow
///   whatever CodeBuild's default image is at deploy time.
/// - `ManualApprovalStep` runs nothing, so it must not carry an image, commands, install commands,
///   env, secrets or an output directory (they would suggest an effect that never happens);
///   `computeType` is ignored for it.
/// - `version` must be plain semver without build metadata, because semver precedence ignores
///   build metadata and two versions differing only in it could not be told apart by a range.
/// - An env var named like a credential (`*PASSWORD*`, `*SECRET*`, `*TOKEN*`, `*API_KEY*`, …) may
///   only hold an empty value or a `$VAR` reference, and no env value may look like a credential
///   (AWS access key ids, GitHub tokens, private keys, `user:pass@` URLs): specs are readable by
///   everyone who can use the plugin, so secrets go in `secrets` as Secrets Manager names.
pub fn validate(spec: &PluginSpec) -> Result<(), Vec<FieldError>> {
    let mut problems = Problems::default();
    check_name(&spec.name, &mut problems);
    check_version(&spec.version, &mut problems);
    check_description(&spec.description, &mut problems);
    check_keywords(&spec.keywords, &mut problems);
    check_category(&spec.category, &mut problems);
    check_image(spec, &mut problems);
    check_commands("installCommands", &spec.install_commands, &mut problems);
    check_commands("commands", &spec.commands, &mut problems);
    check_env(&spec.env, &mut problems);
    check_secrets(&spec.secrets, &mut problems);
    check_timeout(spec.timeout_minutes, &mut problems);
    check_output_directory(spec.primary_output_directory.as_deref(), &mut problems);
    check_required_metadata(&spec.required_metadata, &mut problems);
    if spec.plugin_type.runs_commands() {
        check_build_step_runs_something(spec, &mut problems);
    } else {
        check_approval_step_runs_nothing(spec, &mut problems);
    }
    problems.into_result()
}

/// [`validate`] and the checks that depend on who publishes: the secrets `publisher_org` may
/// reference: its own org's and names outside the platform's namespace, never the platform's own
/// secrets nor another org's (under `pipeline-builder/` and under the deployed stack's own
/// `stack_prefix/`). Every problem is reported at once.
pub fn validate_for_publisher(
    spec: &PluginSpec,
    publisher_org: &str,
    stack_prefix: &str,
) -> Result<(), Vec<FieldError>> {
    let mut problems = validate(spec).err().unwrap_or_default();
    problems.extend(secret_namespace_problems(
        &spec.secrets,
        publisher_org,
        stack_prefix,
    ));
    Problems(problems).into_result()
}

#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

fn char_count(text: &str) -> usize {
    text.chars().count()
}

fn check_name(name: &str, problems: &mut Problems) {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let length = char_count(name);
    if length == 0 || length > LIMITS.name_chars || !name.chars().all(allowed) {
        problems.add(
            "name",
            format!(
                "must be 1-{} characters of lowercase letters, digits and '-'",
                LIMITS.name_chars
            ),
        );
    }
    if RESERVED_NAMES.contains(&name) {
        problems.add(
            "name",
            format!("'{name}' is reserved (it is an API path segment)"),
        );
    }
}

/// Names that would collide with the API's own paths under `/api/plugins/`.
const RESERVED_NAMES: &[&str] = &["lookup"];

fn check_version(version: &str, problems: &mut Problems) {
    match semver::Version::parse(version) {
        Err(error) => problems.add(
            "version",
            format!("must be a semantic version like 1.2.3: {error}"),
        ),
        Ok(parsed) if !parsed.build.is_empty() => problems.add(
            "version",
            "must not carry build metadata ('+…'): semver precedence ignores it",
        ),
        Ok(_) => {}
    }
}

fn check_description(description: &str, problems: &mut Problems) {
    if char_count(description) > LIMITS.description_chars {
        problems.add(
            "description",
            format!("must be at most {} characters", LIMITS.description_chars),
        );
    }
}

fn check_keywords(keywords: &[String], problems: &mut Problems) {
    if keywords.len() > LIMITS.keywords {
        problems.add(
            "keywords",
            format!("must list at most {} keywords", LIMITS.keywords),
        );
    }
    for (index, keyword) in keywords.iter().enumerate() {
        let length = char_count(keyword.trim());
        if length == 0 || char_count(keyword) > LIMITS.keyword_chars {
            problems.add(
                format!("keywords[{index}]"),
                format!("must be 1-{} characters", LIMITS.keyword_chars),
            );
        }
    }
}

fn check_category(category: &str, problems: &mut Problems) {
    if category.trim().is_empty() || char_count(category) > LIMITS.category_chars {
        problems.add(
            "category",
            format!("must be 1-{} characters", LIMITS.category_chars),
        );
    }
}

fn check_image(spec: &PluginSpec, problems: &mut Problems) {
    if let Some(image) = spec.image.as_deref() {
        if let Some(problem) = image_reference_problem(image) {
            problems.add("image", problem);
        }
    }
}

/// Why `image` is not `repository:tag`, `repository@sha256:<digest>` or `repository:tag@sha256:<digest>`.
fn image_reference_problem(image: &str) -> Option<String> {
    if image.chars().any(char::is_whitespace) {
        return Some("must not contain whitespace".into());
    }
    if char_count(image) > LIMITS.image_chars {
        return Some(format!("must be at most {} characters", LIMITS.image_chars));
    }
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest {
        if !sha256_digest().is_match(digest) {
            return Some("digest must be sha256: followed by 64 lowercase hex digits".into());
        }
    }
    let (repository, tag) = split_tag(name);
    if !image_repository().is_match(repository) {
        return Some(format!("'{repository}' is not a valid image repository"));
    }
    match (tag, digest) {
        (None, None) => Some("must be repository:tag or repository@sha256:<digest>".into()),
        (Some(tag), _) if !image_tag().is_match(tag) => {
            Some(format!("'{tag}' is not a valid image tag"))
        }
        _ => None,
    }
}

/// Splits off the tag: the last ':' after the last '/', since a ':' before it is a registry port.
fn split_tag(name: &str) -> (&str, Option<&str>) {
    let last_component_start = name.rfind('/').map_or(0, |slash| slash + 1);
    match name[last_component_start..].rfind(':') {
        Some(colon) => {
            let at = last_component_start + colon;
            (&name[..at], Some(&name[at + 1..]))
        }
        None => (name, None),
    }
}

fn check_commands(field: &str, commands: &[String], problems: &mut Problems) {
    if commands.len() > LIMITS.commands {
        problems.add(
            field,
            format!("must list at most {} commands", LIMITS.commands),
        );
    }
    for (index, command) in commands.iter().enumerate() {
        if command.trim().is_empty() {
            problems.add(format!("{field}[{index}]"), "must not be blank");
        } else if command.len() > LIMITS.command_bytes {
            problems.add(
                format!("{field}[{index}]"),
                format!("must be at most {} bytes", LIMITS.command_bytes),
            );
        }
    }
}

fn check_env(env: &BTreeMap<String, String>, problems: &mut Problems) {
    if env.len() > LIMITS.env_vars {
        problems.add(
            "env",
            format!("must set at most {} variables", LIMITS.env_vars),
        );
    }
    for (name, value) in env {
        let field = format!("env.{name}");
        if let Some(problem) = env_entry_problem(name, value) {
            problems.add(field, problem);
        }
    }
}

fn env_entry_problem(name: &str, value: &str) -> Option<String> {
    if !env_name().is_match(name) || char_count(name) > LIMITS.env_name_chars {
        return Some(format!(
            "variable names must match [A-Za-z_][A-Za-z0-9_]* and be at most {} characters",
            LIMITS.env_name_chars
        ));
    }
    if value.len() > LIMITS.env_value_bytes {
        return Some(format!(
            "value must be at most {} bytes",
            LIMITS.env_value_bytes
        ));
    }
    if names_a_credential(name) && holds_a_literal(value) {
        return Some(
            "looks like a credential: list the Secrets Manager name under `secrets` instead of \
             a literal value"
                .into(),
        );
    }
    if looks_like_a_credential(value) {
        return Some(
            "value looks like a credential: list the Secrets Manager name under `secrets` instead"
                .into(),
        );
    }
    None
}

/// Substring rather than whole-word match: `DBPASSWORD` is as much a password as `DB_PASSWORD`,
/// and a false positive only costs moving the value to `secrets`. `PWD` is left out because it is
/// the shell's working directory.
fn names_a_credential(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// A `$VAR` / `${VAR}` reference forwards a value that came from elsewhere (e.g. a secret), so
/// only other non-empty values count as literals.
fn holds_a_literal(value: &str) -> bool {
    !value.is_empty() && !variable_reference().is_match(value)
}

fn looks_like_a_credential(value: &str) -> bool {
    credential_value().is_match(value)
}

fn check_secrets(secrets: &[SecretRef], problems: &mut Problems) {
    if secrets.len() > LIMITS.secrets {
        problems.add(
            "secrets",
            format!("must list at most {} secrets", LIMITS.secrets),
        );
    }
    let mut seen = HashSet::new();
    for (index, secret) in secrets.iter().enumerate() {
        let field = format!("secrets[{index}].name");
        if let Some(problem) = secret_name_problem(&secret.name) {
            problems.add(field, problem);
        } else if !seen.insert(secret.name.as_str()) {
            problems.add(field, format!("'{}' is listed twice", secret.name));
        }
    }
}

fn secret_name_problem(name: &str) -> Option<String> {
    if !secret_name().is_match(name) || char_count(name) > LIMITS.secret_name_chars {
        return Some(format!(
            "must be a Secrets Manager name: 1-{} characters of letters, digits and /_+=.@-",
            LIMITS.secret_name_chars
        ));
    }
    if looks_like_a_credential(name) {
        return Some("looks like a secret value; give the secret's name, not its value".into());
    }
    None
}

fn check_timeout(minutes: u32, problems: &mut Problems) {
    if !(LIMITS.min_timeout_minutes..=LIMITS.max_timeout_minutes).contains(&minutes) {
        problems.add(
            "timeoutMinutes",
            format!(
                "must be between {} and {} minutes",
                LIMITS.min_timeout_minutes, LIMITS.max_timeout_minutes
            ),
        );
    }
}

fn check_output_directory(directory: Option<&str>, problems: &mut Problems) {
    let Some(directory) = directory else { return };
    let escapes = directory.split(['/', '\\']).any(|segment| segment == "..");
    let absolute = directory.starts_with(['/', '\\']) || directory.contains(':');
    let problem = if directory.trim().is_empty() {
        Some("must not be blank".to_string())
    } else if char_count(directory) > LIMITS.output_directory_chars {
        Some(format!(
            "must be at most {} characters",
            LIMITS.output_directory_chars
        ))
    } else if absolute || escapes || directory.chars().any(char::is_control) {
        Some("must be a relative path inside the build directory".to_string())
    } else {
        None
    };
    if let Some(problem) = problem {
        problems.add("primaryOutputDirectory", problem);
    }
}

fn check_required_metadata(keys: &[String], problems: &mut Problems) {
    if keys.len() > LIMITS.required_metadata {
        problems.add(
            "requiredMetadata",
            format!("must list at most {} keys", LIMITS.required_metadata),
        );
    }
    for (index, key) in keys.iter().enumerate() {
        if !metadata_key().is_match(key) {
            problems.add(
                format!("requiredMetadata[{index}]"),
                "must be 1-128 characters of letters, digits and _.:- starting with a letter",
            );
        }
    }
}

fn check_build_step_runs_something(spec: &PluginSpec, problems: &mut Problems) {
    if spec.image.is_none() {
        problems.add("image", format!("is required for a {:?}", spec.plugin_type));
    }
    if spec.commands.is_empty() {
        problems.add(
            "commands",
            format!("a {:?} needs at least one command", spec.plugin_type),
        );
    }
}

fn check_approval_step_runs_nothing(spec: &PluginSpec, problems: &mut Problems) {
    let mut forbid = |field: &str, present: bool| {
        if present {
            problems.add(field, "must be empty: a ManualApprovalStep runs nothing");
        }
    };
    forbid("image", spec.image.is_some());
    forbid("installCommands", !spec.install_commands.is_empty());
    forbid("commands", !spec.commands.is_empty());
    forbid("env", !spec.env.is_empty());
    forbid("secrets", !spec.secrets.is_empty());
    forbid(
        "primaryOutputDirectory",
        spec.primary_output_directory.is_some(),
    );
}

fn static_regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static regex"))
}

fn sha256_digest() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    static_regex(&RE, r"^sha256:[0-9a-f]{64}$")
}

/// Optional registry host (with port), then lowercase path components as the OCI distribution
/// spec defines them.
fn image_repository() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    static_regex(
        &RE,
        r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$",
    )
}

fn image_tag() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    static_regex(&RE, r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
}

fn env_name() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    static_regex(&RE, ENV_NAME_PATTERN)
}

fn variable_reference() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    static_regex(
        &RE,
        r"^\$(?:[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*\})$",
    )
}

fn credential_value() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    static_regex(
        &RE,
        r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{20,}|-----BEGIN [A-Z ]*PRIVATE KEY-----|://[^/\s:@]+:[^/\s@]+@",
    )
}

fn secret_name() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    static_regex(&RE, SECRET_NAME_PATTERN)
}

fn metadata_key() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    static_regex(&RE, METADATA_KEY_PATTERN)
}
