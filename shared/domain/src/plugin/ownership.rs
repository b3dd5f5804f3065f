//! Who a public plugin name belongs to.
//!
//! A public name is owned by the first org that publishes it, recorded when it does (a
//! conditional write, so two orgs cannot both claim it). Other orgs resolve the name only among
//! the owner's versions: a higher version published by another org must never move their
//! references to a different publisher. Names published before owners were recorded have no
//! record yet; for them the org whose public version was published first is the owner, which is
//! also what the repair of such data records.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// One public version as ownership sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicVersion<'a> {
    pub name: &'a str,
    pub org: &'a str,
    pub version: &'a str,
    /// RFC 3339, as stored with the version.
    pub published_at: &'a str,
}

/// The owner of one public name: the recorded one, else the earliest publisher among `versions`
/// (all of that name). `None` when nobody has published it publicly.
pub fn public_name_owner<'a>(
    recorded: Option<&'a str>,
    versions: &[PublicVersion<'a>],
) -> Option<&'a str> {
    recorded.or_else(|| earliest_publisher(versions))
}

/// Equal timestamps (they have a one-second resolution) go to the smallest org id, so the answer
/// never depends on the order the catalog was read in. A timestamp that does not parse sorts
/// last: it cannot show that its version came first.
fn earliest_publisher<'a>(versions: &[PublicVersion<'a>]) -> Option<&'a str> {
    versions
        .iter()
        .min_by_key(|v| {
            (
                published_instant(v.published_at).is_none(),
                published_instant(v.published_at),
                v.org,
            )
        })
        .map(|v| v.org)
}

fn published_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|instant| instant.with_timezone(&Utc))
}

/// What makes a catalog written before owners were recorded obey ownership.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnershipRepair<'a> {
    /// `(name, org)`: owners to record for names that have none.
    pub owners_to_record: Vec<(&'a str, &'a str)>,
    /// Public versions of orgs other than their name's owner; they become private to their org.
    pub versions_to_make_private: Vec<PublicVersion<'a>>,
}

impl OwnershipRepair<'_> {
    pub fn is_empty(&self) -> bool {
        self.owners_to_record.is_empty() && self.versions_to_make_private.is_empty()
    }
}

/// The repair of `public` (every public version in the catalog) given the `recorded` owners by
/// name. Applying it and planning again gives an empty repair.
pub fn plan_ownership_repair<'a>(
    public: &[PublicVersion<'a>],
    recorded: &BTreeMap<&'a str, &'a str>,
) -> OwnershipRepair<'a> {
    let mut by_name: BTreeMap<&str, Vec<PublicVersion<'a>>> = BTreeMap::new();
    for version in public {
        by_name.entry(version.name).or_default().push(*version);
    }
    let mut repair = OwnershipRepair::default();
    for (name, versions) in by_name {
        let recorded_owner = recorded.get(name).copied();
        let Some(owner) = public_name_owner(recorded_owner, &versions) else {
            continue;
        };
        if recorded_owner.is_none() {
            repair.owners_to_record.push((versions[0].name, owner));
        }
        repair
            .versions_to_make_private
            .extend(versions.into_iter().filter(|v| v.org != owner));
    }
    repair
}
