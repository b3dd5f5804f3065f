//! The command line: `audit [--region R]... [--org O] [--json] [--profile P]`. Results go to
//! stdout (human text, or exactly one JSON document with `--json`); progress and errors go to
//! stderr. Exit 0: no drift; 1: findings; 2: an AWS or scan error, or bad usage.

use std::fmt::Write as _;

use pb_aws::config::is_region_name;
use pb_aws::runtime::set_once;
use pb_domain::drift::{AuditRun, ExpiringToken, Finding, RunStatus, TOKEN_EXPIRY_WARNING_DAYS};
use thiserror::Error;

use crate::audit::AuditRequest;

pub const USAGE: &str = "\
usage: audit [--region REGION]... [--org ORG] [--json] [--profile PROFILE]

Compares the deployment registry (CATALOG_TABLE) with the CloudFormation stacks that carry the
stack-level pipeline-builder tag. Every region the registry names is scanned, plus AUDIT_REGIONS
and each --region.

  --region REGION    also scan REGION (repeatable)
  --org ORG          only ORG's registry entries and stacks
  --json             print the run as one JSON document
  --profile PROFILE  AWS shared-config profile to use

exit status: 0 no drift, 1 findings, 2 AWS or scan error, or bad usage";

/// Exit status when the arguments or the configuration are unusable.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliArgs {
    pub regions: Vec<String>,
    pub org: Option<String>,
    pub json: bool,
    pub profile: Option<String>,
}

impl CliArgs {
    pub fn request(&self) -> AuditRequest {
        AuditRequest {
            trigger: "cli".into(),
            org: self.org.clone(),
            regions: self.regions.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Audit(CliArgs),
    Help,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UsageError {
    #[error("{0} needs a value")]
    MissingValue(String),
    #[error("unknown option {0}")]
    UnknownOption(String),
    #[error("--region {0:?} is not a region name such as us-east-1")]
    InvalidRegion(String),
    #[error("--org {0:?} must be 1-64 letters, digits, '-' or '_'")]
    InvalidOrg(String),
    #[error("{0} was given twice")]
    Repeated(&'static str),
}

pub fn parse_args(args: &[String]) -> Result<Command, UsageError> {
    let mut parsed = CliArgs::default();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| UsageError::MissingValue(flag.clone()))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--json" => parsed.json = true,
            "--region" => {
                let region = value()?;
                if !is_region_name(&region) {
                    return Err(UsageError::InvalidRegion(region));
                }
                parsed.regions.push(region);
            }
            "--org" => {
                let org = value()?;
                if !is_org_id(&org) {
                    return Err(UsageError::InvalidOrg(org));
                }
                set_once(&mut parsed.org, org, UsageError::Repeated("--org"))?;
            }
            "--profile" => {
                let profile = value()?;
                set_once(
                    &mut parsed.profile,
                    profile,
                    UsageError::Repeated("--profile"),
                )?;
            }
            other => return Err(UsageError::UnknownOption(other.to_string())),
        }
    }
    Ok(Command::Audit(parsed))
}

fn is_org_id(org: &str) -> bool {
    (1..=64).contains(&org.len())
        && org
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn exit_code(status: RunStatus) -> u8 {
    match status {
        RunStatus::Clean => 0,
        RunStatus::Drift => 1,
        RunStatus::Partial | RunStatus::Failed => 2,
    }
}

/// The `--json` document: the run, pretty-printed.
pub fn render_json(run: &AuditRun) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(run)
}

/// The human report.
pub fn render_text(run: &AuditRun) -> String {
    let mut out = String::new();
    let scope = run
        .org
        .as_deref()
        .map_or("all orgs".to_string(), |o| format!("org {o}"));
    let regions = if run.regions.is_empty() {
        "no regions".to_string()
    } else {
        run.regions.join(", ")
    };
    let _ = writeln!(out, "Stack audit {} ({scope}; {regions})", run.started_at);
    let s = &run.summary;
    let _ = writeln!(
        out,
        "{} registry entries, {} pipeline stacks, {} matched, {} infrastructure stacks skipped",
        s.registry_entries, s.pipeline_stacks, s.matched, s.infrastructure_stacks
    );
    section(&mut out, "Findings", &run.findings);
    section(&mut out, "In progress", &run.in_progress);
    expiring_tokens(&mut out, &run.expiring_tokens);
    if !run.errors.is_empty() || !run.token_errors.is_empty() {
        let _ = writeln!(out, "\nNot read:");
        for error in &run.errors {
            let what = error.region.as_deref().unwrap_or("registry");
            let _ = writeln!(out, "  {what}: {} ({})", error.message, error.kind);
        }
        for error in &run.token_errors {
            let _ = writeln!(
                out,
                "  stored tokens of org {}: {} ({})",
                error.org, error.message, error.kind
            );
        }
    }
    let _ = writeln!(out, "\n{}", verdict(run));
    out
}

fn section(out: &mut String, title: &str, findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title} ({}):", findings.len());
    for f in findings {
        let _ = writeln!(
            out,
            "  {}  {}  {}  {}",
            f.kind.as_str(),
            f.region,
            f.stack_name,
            f.status.as_deref().unwrap_or("-")
        );
        let _ = writeln!(
            out,
            "    org {}, pipeline {}",
            f.org.as_deref().unwrap_or("-"),
            f.pipeline_id.as_deref().unwrap_or("-")
        );
        let _ = writeln!(out, "    {}", f.detail);
        let _ = writeln!(out, "    fix: {}", f.remediation);
    }
}

fn expiring_tokens(out: &mut String, tokens: &[ExpiringToken]) {
    if tokens.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nStored platform tokens expiring within {TOKEN_EXPIRY_WARNING_DAYS} days ({}):",
        tokens.len()
    );
    for token in tokens {
        let when = if token.expired { "expired" } else { "expires" };
        let _ = writeln!(
            out,
            "  org {}  token {}  {when} {}",
            token.org, token.jti, token.expires_at
        );
    }
    let _ = writeln!(
        out,
        "    fix: store a new platform token for the org (POST /api/tokens with store)."
    );
}

fn verdict(run: &AuditRun) -> String {
    match run.status {
        RunStatus::Clean => "No drift.".to_string(),
        RunStatus::Drift => {
            let counts: Vec<String> = run
                .summary
                .by_type
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(kind, n)| format!("{n} {}", kind.as_str()))
                .collect();
            format!(
                "Drift: {} findings ({}).",
                run.summary.findings,
                counts.join(", ")
            )
        }
        RunStatus::Partial => {
            let orgs: std::collections::BTreeSet<&str> = run
                .errors
                .iter()
                .flat_map(|e| e.orgs.iter().map(String::as_str))
                .collect();
            format!(
                "Audit partly failed: {} findings; not judged for {}.",
                run.summary.findings,
                if orgs.is_empty() {
                    "stacks no registry entry names in the unread regions".to_string()
                } else {
                    format!(
                        "org {}",
                        orgs.into_iter().collect::<Vec<_>>().join(", org ")
                    )
                }
            )
        }
        RunStatus::Failed => {
            "Audit failed: the registry could not be read, so nothing was judged.".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use pb_domain::drift::{
        detect, Coverage, DeployedStack, RegisteredPipeline, RunScope, TokenCheck, TokenReadError,
    };

    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_repeated_regions_org_json_and_profile() {
        assert_eq!(
            parse_args(&args(
                "--region us-east-1 --region eu-west-1 --org acme --json --profile ops"
            )),
            Ok(Command::Audit(CliArgs {
                regions: vec!["us-east-1".into(), "eu-west-1".into()],
                org: Some("acme".into()),
                json: true,
                profile: Some("ops".into()),
            }))
        );
        assert_eq!(parse_args(&[]), Ok(Command::Audit(CliArgs::default())));
        assert_eq!(parse_args(&args("--json --help")), Ok(Command::Help));
    }

    #[test]
    fn refuses_bad_usage_with_a_reason() {
        let cases = [
            ("--region", UsageError::MissingValue("--region".into())),
            (
                "--region US_EAST",
                UsageError::InvalidRegion("US_EAST".into()),
            ),
            ("--org a/b", UsageError::InvalidOrg("a/b".into())),
            ("--org a --org b", UsageError::Repeated("--org")),
            ("--verbose", UsageError::UnknownOption("--verbose".into())),
            ("us-east-1", UsageError::UnknownOption("us-east-1".into())),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_args(&args(line)), Err(expected), "{line}");
        }
    }

    #[test]
    fn exit_codes_follow_the_run_status() {
        assert_eq!(exit_code(RunStatus::Clean), 0);
        assert_eq!(exit_code(RunStatus::Drift), 1);
        assert_eq!(exit_code(RunStatus::Partial), 2);
        assert_eq!(exit_code(RunStatus::Failed), 2);
    }

    #[test]
    fn the_text_report_lists_each_finding_with_its_fix_and_a_verdict() {
        let entries = [RegisteredPipeline {
            pipeline_id: "pl-1".into(),
            org_id: "acme".into(),
            stack_name: "pay".into(),
            region: "us-east-1".into(),
        }];
        let stacks = [DeployedStack {
            name: "stray".into(),
            region: "us-east-1".into(),
            status: "CREATE_COMPLETE".into(),
            pipeline_id: None,
            org_id: Some("acme".into()),
            component: None,
        }];
        let run = AuditRun::new(
            "2026-11-20T02:00:00.000Z".into(),
            "2026-11-20T02:00:01.000Z".into(),
            RunScope {
                trigger: "cli".into(),
                org: Some("acme".into()),
                regions: vec!["us-east-1".into()],
            },
            detect(&entries, &stacks, Coverage::default()),
            vec![],
        );
        let text = render_text(&run);
        let expected = "\
Stack audit 2026-11-20T02:00:00.000Z (org acme; us-east-1)
1 registry entries, 1 pipeline stacks, 0 matched, 0 infrastructure stacks skipped

Findings (2):
  orphaned-stack  us-east-1  stray  CREATE_COMPLETE
    org acme, pipeline -
    the stack has no PIPELINE_EVENT_ID tag and no registry entry names it
    fix: Register the pipeline (and tag the stack with its pipeline id) if it is still in use; otherwise delete the stack.
  missing-stack  us-east-1  pay  -
    org acme, pipeline pl-1
    the registry names stack pay in us-east-1, but no stack with this pipeline id or name exists in the scanned regions
    fix: Redeploy the pipeline, or remove its registry entry if the pipeline was retired.

Drift: 2 findings (1 orphaned-stack, 1 missing-stack).
";
        assert_eq!(text, expected);
    }

    #[test]
    fn the_text_report_lists_expiring_tokens_and_orgs_whose_tokens_were_not_read() {
        let run = AuditRun::new(
            "2026-11-20T02:00:00.000Z".into(),
            "2026-11-20T02:00:01.000Z".into(),
            RunScope {
                trigger: "cli".into(),
                org: None,
                regions: vec!["us-east-1".into()],
            },
            detect(&[], &[], Coverage::default()),
            vec![],
        )
        .with_token_check(TokenCheck {
            expiring: vec![
                ExpiringToken {
                    org: "acme".into(),
                    jti: "0123456789abcdef0123456789abcdef".into(),
                    expires_at: "2026-11-18T07:06:40Z".into(),
                    expired: true,
                },
                ExpiringToken {
                    org: "globex".into(),
                    jti: "fedcba9876543210fedcba9876543210".into(),
                    expires_at: "2026-11-30T00:00:00Z".into(),
                    expired: false,
                },
            ],
            errors: vec![TokenReadError {
                org: "initech".into(),
                kind: "access-denied".into(),
                message: "Query was denied".into(),
            }],
        });
        let text = render_text(&run);
        let expected = "\
Stack audit 2026-11-20T02:00:00.000Z (all orgs; us-east-1)
0 registry entries, 0 pipeline stacks, 0 matched, 0 infrastructure stacks skipped

Stored platform tokens expiring within 14 days (2):
  org acme  token 0123456789abcdef0123456789abcdef  expired 2026-11-18T07:06:40Z
  org globex  token fedcba9876543210fedcba9876543210  expires 2026-11-30T00:00:00Z
    fix: store a new platform token for the org (POST /api/tokens with store).

Not read:
  stored tokens of org initech: Query was denied (access-denied)

No drift.
";
        assert_eq!(text, expected);
        assert_eq!(exit_code(run.status), 0, "an expiring token is not drift");
    }
}
