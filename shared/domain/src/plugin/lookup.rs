//! Batch lookup: every reference of a request gets an answer, resolved or not, in request order.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::errors::LookupError;
use super::range::PluginRef;
use super::resolve::{resolve, CatalogEntry, ResolvedFrom};
use super::spec::PluginSpec;

/// Most references one lookup answers; a pipeline with more steps than this is split by the caller.
pub const MAX_LOOKUP_REFERENCES: usize = 100;

/// A reference as sent, before its range is parsed, so that a bad range is reported for that
/// reference instead of failing the whole batch.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedPlugin {
    pub name: String,
    pub version: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedPlugin {
    /// Position of the reference in the request.
    pub index: usize,
    pub name: String,
    pub requested: String,
    pub version: String,
    pub from: ResolvedFrom,
    /// The org that published the resolved version.
    pub publisher_org: String,
    pub spec: PluginSpec,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnresolvedPlugin {
    pub index: usize,
    pub name: String,
    pub requested: String,
    pub code: &'static str,
    pub reason: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct LookupOutcome {
    pub resolved: Vec<ResolvedPlugin>,
    pub unresolved: Vec<UnresolvedPlugin>,
}

/// The distinct plugin names a batch needs from the catalog.
pub fn names_to_load(requests: &[RequestedPlugin]) -> BTreeSet<&str> {
    requests.iter().map(|r| r.name.as_str()).collect()
}

/// Resolves each request for `caller_org` among `candidates` (see [`resolve`]).
pub fn resolve_batch(
    requests: &[RequestedPlugin],
    caller_org: &str,
    candidates: &[CatalogEntry],
) -> LookupOutcome {
    let mut outcome = LookupOutcome::default();
    for (index, request) in requests.iter().enumerate() {
        let resolved = PluginRef::parse(&request.name, &request.version)
            .and_then(|reference| resolve(&reference, caller_org, candidates));
        match resolved {
            Ok(found) => outcome.resolved.push(ResolvedPlugin {
                index,
                name: request.name.clone(),
                requested: request.version.clone(),
                version: found.version.to_string(),
                from: found.from,
                publisher_org: found.entry.org.clone(),
                spec: found.entry.spec.clone(),
            }),
            Err(error) => outcome.unresolved.push(unresolved(index, request, &error)),
        }
    }
    outcome
}

fn unresolved(index: usize, request: &RequestedPlugin, error: &LookupError) -> UnresolvedPlugin {
    UnresolvedPlugin {
        index,
        name: request.name.clone(),
        requested: request.version.clone(),
        code: error.code(),
        reason: error.to_string(),
    }
}
