//! The command line: `audit [--region R]... [--org O] [--json] [--profile P]`. Results go to
//! stdout (human text, or exactly one JSON document with `--json`); progress and errors go to
//! stderr. Exit 0: no drift; 1: findings; 2: an AWS or scan error, or bad usage.

use std::fmt::Write as _;

use clap::Parser;
use pb_aws::config::is_region_name;
use pb_domain::drift::{AuditRun, ExpiringToken, Finding, RunStatus, TOKEN_EXPIRY_WARNING_DAYS};

use crate::audit::AuditRequest;

/// Exit status when the arguments or the configuration are unusable.
pub const EXIT_USAGE: u8 = 2;

/// Compares the deployment registry (CATALOG_TABLE) with the CloudFormation stacks that carry
/// the stack-level pipeline-builder tag. Every region the registry names is scanned, plus
/// AUDIT_REGIONS and each --region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(
    name = "audit",
    version,
    after_help = "exit status: 0 no drift, 1 findings, 2 AWS or scan error, or bad usage"
)]
pub struct CliArgs {
    /// Also scan REGION (repeatable).
    #[arg(long = "region", value_name = "REGION", value_parser = region)]
    pub regions: Vec<String>,
    /// Only ORG's registry entries and stacks.
    #[arg(long, value_parser = org_id)]
    pub org: Option<String>,
    /// Print the run as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// AWS shared-config profile to use.
    #[arg(long)]
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

fn region(region: &str) -> Result<String, String> {
    if is_region_name(region) {
        Ok(region.to_string())
    } else {
        Err("not a region name such as us-east-1".into())
    }
}

fn org_id(org: &str) -> Result<String, String> {
    let valid = (1..=64).contains(&org.len())
        && org
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(org.to_string())
    } else {
        Err("must be 1-64 letters, digits, '-' or '_'".into())
    }
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

    fn parse(line: &str) -> Result<CliArgs, clap::Error> {
        CliArgs::try_parse_from(std::iter::once("audit").chain(line.split_whitespace()))
    }

    #[test]
    fn parses_repeated_regions_org_json_and_profile() {
        assert_eq!(
            parse("--region us-east-1 --region eu-west-1 --org acme --json --profile ops").unwrap(),
            CliArgs {
                regions: vec!["us-east-1".into(), "eu-west-1".into()],
                org: Some("acme".into()),
                json: true,
                profile: Some("ops".into()),
            }
        );
        assert_eq!(parse("").unwrap(), CliArgs::default());
        let help = parse("--json --help").unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        assert!(help.to_string().contains("exit status: 0 no drift"));
    }

    #[test]
    fn refuses_bad_usage_with_a_reason() {
        let cases = [
            ("--region", "a value is required"),
            ("--region US_EAST", "not a region name such as us-east-1"),
            ("--org a/b", "must be 1-64 letters"),
            ("--org a --org b", "cannot be used multiple times"),
            ("--verbose", "unexpected argument '--verbose'"),
            ("us-east-1", "unexpected argument 'us-east-1'"),
        ];
        for (line, says) in cases {
            let error = parse(line).unwrap_err();
            assert_eq!(error.exit_code(), i32::from(EXIT_USAGE), "{line}");
            assert!(error.to_string().contains(says), "{line}: {error}");
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
