//! One audit run: read the registry, scan every region it names plus the configured
//! and requested ones, compare. Failures do not abort the run: they are recorded in it. An
//! unreadable registry fails the run; a region that cannot be scanned (or is not a region the
//! platform deploys to) fails only the part of the orgs with entries there, never clean.
//! The run also checks the platform token stored for each org with registry entries.

use std::collections::BTreeSet;

use pb_aws::config::AuditConfig;
use pb_aws::registry::{Registry, RegistryEntry};
use pb_aws::stacks::{RegionStacks, StackLister};
use pb_aws::tokens::TokenStore;
use pb_aws::{AwsError, Clients};
use pb_domain::drift::{
    detect, expiring_tokens, AuditRun, Coverage, DeployedStack, DriftReport, RegisteredPipeline,
    RunError, RunScope, TokenCheck, TokenReadError,
};
use pb_domain::region::{RegionNotAllowed, RegionPolicy};

/// What one run is asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditRequest {
    /// `nightly` for the schedule, `cli` for the command line.
    pub trigger: String,
    /// Only this org's entries and stacks.
    pub org: Option<String>,
    /// Regions to scan besides the registry's and the configured ones.
    pub regions: Vec<String>,
}

pub struct Auditor {
    registry: Registry,
    stacks: StackLister,
    tokens: TokenStore,
    configured_regions: Vec<String>,
    allowed_regions: RegionPolicy,
}

impl Auditor {
    pub fn new(clients: &Clients, config: &AuditConfig) -> Self {
        Auditor {
            // The audit reads the registry once per run: nothing to cache.
            registry: Registry::new(
                clients.dynamodb.clone(),
                &config.catalog_table,
                std::time::Duration::ZERO,
                std::time::Duration::ZERO,
            ),
            stacks: StackLister::new(&clients.cloudformation),
            tokens: TokenStore::new(clients.dynamodb.clone(), &config.catalog_table),
            configured_regions: config.regions.clone(),
            allowed_regions: config.deploy_regions.policy(),
        }
    }

    pub async fn run(&self, request: &AuditRequest) -> AuditRun {
        let started = chrono::Utc::now();
        let started_at = timestamp(started);
        let mut scope = RunScope {
            trigger: request.trigger.clone(),
            org: request.org.clone(),
            regions: Vec::new(),
        };
        let entries = match self.registry.all(request.org.as_deref()).await {
            Ok(entries) => entries,
            Err(error) => {
                tracing::error!(kind = error.kind(), error = %error, "could not read the registry");
                let errors = vec![run_error(None, &error)];
                return AuditRun::new(started_at, now(), scope, DriftReport::default(), errors);
            }
        };
        tracing::info!(entries = entries.len(), "registry read");
        scope.regions = regions_to_scan(&entries, &self.configured_regions, &request.regions);
        if scope.regions.is_empty() {
            tracing::warn!("no region to scan: the registry names none and none is configured");
        }
        let (scannable, refused) = self.allowed_or_refused(&scope.regions);
        let (stacks, mut errors) = self.scan(&scannable).await;
        errors.extend(refused);
        attribute_to_orgs(&mut errors, &entries);
        let unscanned: Vec<String> = errors.iter().filter_map(|e| e.region.clone()).collect();
        let registered: Vec<RegisteredPipeline> = entries.iter().map(registered).collect();
        let coverage = Coverage {
            org: request.org.as_deref(),
            unscanned_regions: &unscanned,
        };
        let report = detect(&registered, &stacks, coverage);
        let tokens = self
            .check_tokens(&orgs_of(&entries), started.timestamp())
            .await;
        AuditRun::new(started_at, now(), scope, report, errors).with_token_check(tokens)
    }

    /// Reads each org's stored-token records; an org that cannot be read is reported, and the
    /// others are still checked.
    async fn check_tokens(&self, orgs: &[String], now: i64) -> TokenCheck {
        let mut stored = Vec::new();
        let mut errors = Vec::new();
        for org in orgs {
            match self.tokens.stored_tokens(org).await {
                Ok(tokens) => stored.extend(tokens),
                Err(error) => {
                    tracing::error!(org, kind = error.kind(), error = %error, "could not read the org's stored tokens");
                    errors.push(TokenReadError {
                        org: org.clone(),
                        kind: error.kind().to_string(),
                        message: error.to_string(),
                    });
                }
            }
        }
        let expiring = expiring_tokens(&stored, now);
        for token in &expiring {
            tracing::warn!(
                org = token.org,
                jti = token.jti,
                expires_at = token.expires_at,
                expired = token.expired,
                "the org's stored platform token expires soon; store a new one"
            );
        }
        TokenCheck { expiring, errors }
    }

    /// The regions a client may be built for, and an error for each other one.
    fn allowed_or_refused(&self, regions: &[String]) -> (Vec<String>, Vec<RunError>) {
        let mut allowed = Vec::new();
        let mut refused = Vec::new();
        for region in regions {
            match self.allowed_regions.check(region) {
                Ok(()) => allowed.push(region.clone()),
                Err(not_allowed) => refused.push(refused_region(not_allowed)),
            }
        }
        (allowed, refused)
    }

    /// Scans the regions concurrently; pages within a region follow each other.
    async fn scan(&self, regions: &[String]) -> (Vec<DeployedStack>, Vec<RunError>) {
        let scans: Vec<_> = regions
            .iter()
            .map(|region| {
                let lister = self.stacks.clone();
                let task_region = region.clone();
                let task = tokio::spawn(async move { lister.platform_stacks(&task_region).await });
                (region.clone(), task)
            })
            .collect();
        let mut stacks = Vec::new();
        let mut errors = Vec::new();
        for (region, task) in scans {
            match task.await {
                Ok(Ok(listed)) => {
                    log_scanned(&listed);
                    stacks.extend(listed.stacks);
                }
                Ok(Err(error)) => {
                    tracing::error!(region, kind = error.kind(), error = %error, "could not scan the region");
                    errors.push(run_error(Some(&region), &error));
                }
                Err(panicked) => {
                    tracing::error!(region, error = %panicked, "the region's scan task failed");
                    errors.push(RunError {
                        region: Some(region),
                        kind: "internal".into(),
                        message: panicked.to_string(),
                        orgs: Vec::new(),
                    });
                }
            }
        }
        (stacks, errors)
    }
}

fn log_scanned(listed: &RegionStacks) {
    tracing::info!(
        region = listed.region,
        platform_stacks = listed.stacks.len(),
        stacks = listed.described,
        pages = listed.pages,
        "region scanned"
    );
}

/// The registry's regions, the configured ones and the requested ones, once each and sorted.
/// The registry's are always in: leaving one out would call its stacks missing.
pub fn regions_to_scan(
    entries: &[RegistryEntry],
    configured: &[String],
    requested: &[String],
) -> Vec<String> {
    entries
        .iter()
        .map(|e| e.region.clone())
        .chain(configured.iter().cloned())
        .chain(requested.iter().cloned())
        .filter(|r| !r.is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A region no client is built for: its name would become a CloudFormation endpoint host.
fn refused_region(not_allowed: RegionNotAllowed) -> RunError {
    tracing::error!(
        region = not_allowed.region,
        "a region the platform does not deploy to is not scanned"
    );
    RunError {
        region: Some(not_allowed.region.clone()),
        kind: "invalid-region".into(),
        message: not_allowed.to_string(),
        orgs: Vec::new(),
    }
}

/// Names in each region's error the orgs whose entries it leaves unjudged.
fn attribute_to_orgs(errors: &mut [RunError], entries: &[RegistryEntry]) {
    for error in errors.iter_mut() {
        let Some(region) = &error.region else {
            continue;
        };
        error.orgs = entries
            .iter()
            .filter(|e| &e.region == region)
            .map(|e| e.org_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
    }
    errors.sort_by(|a, b| a.region.cmp(&b.region));
}

/// The orgs with registry entries, once each: their pipeline stacks use the stored token.
fn orgs_of(entries: &[RegistryEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e.org_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn registered(entry: &RegistryEntry) -> RegisteredPipeline {
    RegisteredPipeline {
        pipeline_id: entry.pipeline_id.clone(),
        org_id: entry.org_id.clone(),
        stack_name: entry.stack_name.clone(),
        region: entry.region.clone(),
    }
}

fn run_error(region: Option<&str>, error: &AwsError) -> RunError {
    RunError {
        region: region.map(str::to_string),
        kind: error.kind().to_string(),
        message: error.to_string(),
        orgs: Vec::new(),
    }
}

fn now() -> String {
    timestamp(chrono::Utc::now())
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(region: &str) -> RegistryEntry {
        RegistryEntry {
            pipeline_id: format!("pl-{region}"),
            org_id: "acme".into(),
            pipeline_name: "pay".into(),
            stack_name: "pay".into(),
            region: region.into(),
            last_deployed: "2026-11-01T00:00:00Z".into(),
            stack_id: None,
            account: None,
            definition_version: None,
        }
    }

    #[test]
    fn scans_registry_configured_and_requested_regions_once_each() {
        let entries = [entry("us-east-1"), entry("eu-west-1"), entry("us-east-1")];
        let regions = regions_to_scan(
            &entries,
            &["ap-southeast-2".to_string(), "eu-west-1".to_string()],
            &["us-west-2".to_string()],
        );
        assert_eq!(
            regions,
            ["ap-southeast-2", "eu-west-1", "us-east-1", "us-west-2"]
        );
    }
}
