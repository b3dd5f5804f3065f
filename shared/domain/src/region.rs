//! Which AWS regions the platform accepts: a registry entry's region becomes a CloudFormation
//! endpoint the nightly audit calls, so a made-up one (`zz-fake-9`) must be refused when it is
//! written rather than discovered as a failed scan.
//!
//! The list is static on purpose: the check runs on every registry write and inside the audit
//! without a network call or an extra IAM permission (`account:ListRegions` would need both, and
//! answers only for the caller's partition and account). A region AWS opens after this list was
//! last updated is allowed by setting the allowlist (`ALLOWED_REGIONS`) until the list catches up.

use std::collections::BTreeSet;

use thiserror::Error;

/// Commercial (`aws`) regions, as of 2026.
const COMMERCIAL: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];
/// `aws-cn`.
const CHINA: &[&str] = &["cn-north-1", "cn-northwest-1"];
/// `aws-us-gov`.
const GOV_CLOUD: &[&str] = &["us-gov-east-1", "us-gov-west-1"];
/// `aws-eusc`, the European Sovereign Cloud.
const EUROPEAN_SOVEREIGN: &[&str] = &["eusc-de-east-1"];

/// Credentials never cross partitions, so the platform can only reach regions of the partition
/// it runs in.
fn partition_regions(home_region: Option<&str>) -> &'static [&'static str] {
    match home_region {
        Some(home) if home.starts_with("cn-") => CHINA,
        Some(home) if home.starts_with("us-gov-") => GOV_CLOUD,
        Some(home) if home.starts_with("eusc-") => EUROPEAN_SOVEREIGN,
        _ => COMMERCIAL,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{region:?} is not a region the platform deploys to; allowed: {}", .allowed.join(", "))]
pub struct RegionNotAllowed {
    pub region: String,
    pub allowed: Vec<String>,
}

/// The regions registry entries and audit scans may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionPolicy {
    allowed: BTreeSet<String>,
}

impl RegionPolicy {
    /// The allowlist when one is configured (it replaces the list, so an operator can also
    /// narrow it), else every region of the partition `home_region` belongs to.
    pub fn new(home_region: Option<&str>, allowlist: &[String]) -> Self {
        let allowed = if allowlist.is_empty() {
            partition_regions(home_region)
                .iter()
                .map(|r| r.to_string())
                .collect()
        } else {
            allowlist.iter().cloned().collect()
        };
        RegionPolicy { allowed }
    }

    pub fn check(&self, region: &str) -> Result<(), RegionNotAllowed> {
        if self.allowed.contains(region) {
            Ok(())
        } else {
            Err(RegionNotAllowed {
                region: region.to_string(),
                allowed: self.allowed.iter().cloned().collect(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_up_region_is_refused_naming_the_allowed_ones() {
        let policy = RegionPolicy::new(Some("us-east-1"), &[]);
        let refused = policy.check("zz-fake-9").unwrap_err();
        assert_eq!(refused.region, "zz-fake-9");
        assert_eq!(refused.allowed.len(), COMMERCIAL.len());
        assert!(refused.allowed.contains(&"eu-west-1".to_string()));
        assert!(refused.to_string().starts_with(
            "\"zz-fake-9\" is not a region the platform deploys to; allowed: af-south-1, ap-east-1,"
        ));
        assert_eq!(policy.check("eu-west-1"), Ok(()));
    }

    #[test]
    fn only_the_home_partitions_regions_are_allowed() {
        let commercial = RegionPolicy::new(Some("eu-west-1"), &[]);
        assert!(commercial.check("cn-north-1").is_err());
        assert!(commercial.check("us-gov-west-1").is_err());
        let china = RegionPolicy::new(Some("cn-northwest-1"), &[]);
        assert!(china.check("cn-north-1").is_ok());
        assert!(china.check("us-east-1").is_err());
        let gov = RegionPolicy::new(Some("us-gov-west-1"), &[]);
        assert!(gov.check("us-gov-east-1").is_ok());
        assert!(gov.check("us-east-1").is_err());
        assert!(RegionPolicy::new(None, &[]).check("us-east-1").is_ok());
    }

    #[test]
    fn a_configured_allowlist_replaces_the_partitions_list() {
        let policy = RegionPolicy::new(
            Some("us-east-1"),
            &["us-east-1".to_string(), "sa-west-1".to_string()],
        );
        assert!(policy.check("sa-west-1").is_ok());
        assert!(policy.check("eu-west-1").is_err());
        assert_eq!(
            policy.check("eu-west-1").unwrap_err().allowed,
            ["sa-west-1", "us-east-1"]
        );
    }

    #[test]
    fn the_lists_hold_no_duplicates_and_look_like_regions() {
        for list in [COMMERCIAL, CHINA, GOV_CLOUD, EUROPEAN_SOVEREIGN] {
            let unique: BTreeSet<&&str> = list.iter().collect();
            assert_eq!(unique.len(), list.len());
            assert!(list.iter().all(|r| r
                .rsplit('-')
                .next()
                .is_some_and(|n| n.parse::<u8>().is_ok())));
        }
    }
}
