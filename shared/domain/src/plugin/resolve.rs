//! Resolution of a plugin reference against the catalog entries visible to the caller.

use std::cmp::Reverse;

use semver::Version;
use serde::{Deserialize, Serialize};

use super::errors::LookupError;
use super::range::PluginRef;
use super::spec::{AccessModifier, PluginSpec};

/// A published plugin version and the org that owns it. `(org, spec.name, spec.version)` is unique
/// in the catalog: versions are immutable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogEntry {
    pub org: String,
    pub spec: PluginSpec,
}

/// Which precedence tier the resolved version came from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResolvedFrom {
    /// The caller org's own plugin (private or public).
    CallerOrg,
    /// Another org's public plugin.
    PublicCatalog,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<'a> {
    pub entry: &'a CatalogEntry,
    pub version: Version,
    pub from: ResolvedFrom,
}

/// Resolves `reference` for `caller_org` among `candidates`. Of another org's public name the
/// catalog hands in only the owner's versions (see [`public_name_owner`](super::public_name_owner)).
///
/// - The name must match exactly: no substring, no case folding.
/// - Inactive versions, versions outside the range, and other orgs' private plugins are never
///   candidates; prereleases only when the range names one (see [`VersionRange`]).
/// - If the caller org has any matching version, the highest of those wins, even when a public
///   plugin of another org has a higher one: an org's own plugin must not be shadowed by a
///   same-named public one. Otherwise the highest public version wins.
/// - Equal public versions from several orgs are settled by the smallest org id, so the answer
///   never depends on the order the catalog was read in.
///
/// [`VersionRange`]: super::VersionRange
pub fn resolve<'a>(
    reference: &PluginRef,
    caller_org: &str,
    candidates: &'a [CatalogEntry],
) -> Result<Resolved<'a>, LookupError> {
    let matching: Vec<(&CatalogEntry, Version)> = candidates
        .iter()
        .filter(|entry| entry.spec.name == reference.name && entry.spec.active)
        .filter_map(|entry| Some((entry, published_version(entry)?)))
        .filter(|(_, version)| reference.range.matches(version))
        .collect();
    let own = matching.iter().filter(|(entry, _)| entry.org == caller_org);
    let foreign_public = matching
        .iter()
        .filter(|(entry, _)| entry.org != caller_org && is_public(entry));
    highest(own)
        .map(|found| into_resolved(found, ResolvedFrom::CallerOrg))
        .or_else(|| {
            highest(foreign_public).map(|found| into_resolved(found, ResolvedFrom::PublicCatalog))
        })
        .ok_or_else(|| LookupError::NotFound {
            name: reference.name.clone(),
            range: reference.range.to_string(),
        })
}

/// Entries whose version does not parse were never valid to publish; they cannot be ordered, so
/// they are never chosen.
fn published_version(entry: &CatalogEntry) -> Option<Version> {
    Version::parse(&entry.spec.version).ok()
}

fn is_public(entry: &CatalogEntry) -> bool {
    entry.spec.access_modifier == AccessModifier::Public
}

fn highest<'m, 'a: 'm>(
    found: impl Iterator<Item = &'m (&'a CatalogEntry, Version)>,
) -> Option<&'m (&'a CatalogEntry, Version)> {
    found.max_by_key(|(entry, version)| (version, Reverse(entry.org.as_str())))
}

fn into_resolved<'a>(found: &(&'a CatalogEntry, Version), from: ResolvedFrom) -> Resolved<'a> {
    let (entry, version) = found;
    Resolved {
        entry,
        version: version.clone(),
        from,
    }
}
