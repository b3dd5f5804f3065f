//! The DynamoDB key layout of both tables, shared by every reader and writer (and by the tests
//! that seed items directly).

pub fn registry_pk(pipeline_id: &str) -> String {
    format!("REG#{pipeline_id}")
}

pub const REGISTRY_SK: &str = "REG";

pub fn execution_pk(pipeline_id: &str) -> String {
    format!("PIPE#{pipeline_id}")
}

pub fn execution_sk(execution_id: &str) -> String {
    format!("EXEC#{execution_id}")
}

pub fn stage_sk(execution_id: &str, stage: &str, attempt: u32) -> String {
    format!("EXEC#{execution_id}#STAGE#{stage}#{attempt:05}")
}

pub fn action_sk(execution_id: &str, stage: &str, action: &str, attempt: u32) -> String {
    format!("EXEC#{execution_id}#ACTION#{stage}#{action}#{attempt:05}")
}

/// Who started which run of an org's pipeline through the platform (CatalogTable, beside the
/// org's other items, so the API writes no raw execution item).
pub fn starter_pk(org_id: &str, pipeline_id: &str) -> String {
    format!("ORG#{org_id}#RUNS#{pipeline_id}")
}

pub fn starter_sk(execution_id: &str) -> String {
    format!("{STARTER_SK_PREFIX}{execution_id}")
}

pub const STARTER_SK_PREFIX: &str = "RUN#";

pub fn rollup_pk(org_id: &str, day: &str) -> String {
    format!("ORG#{org_id}#DAY#{day}")
}

pub fn rollup_sk(pipeline_id: &str) -> String {
    format!("PIPE#{pipeline_id}")
}

/// The org's partition on GSI2, shared by everything listed per org (registry entries, plugins).
pub fn org_gsi2pk(org_id: &str) -> String {
    format!("ORG#{org_id}")
}

pub fn registry_gsi2sk(pipeline_id: &str) -> String {
    format!("{REGISTRY_GSI2SK_PREFIX}{pipeline_id}")
}

pub const REGISTRY_GSI2SK_PREFIX: &str = "REG#";

/// Every org's registry entries on GSI1, for the platform-wide audit.
pub const REGISTRY_GSI1PK: &str = "REGISTRY";

pub fn plugin_pk(org_id: &str, name: &str) -> String {
    format!("ORG#{org_id}#PLUGIN#{name}")
}

/// `V#` + the version in a form whose string order is semver order for releases (fixed-width
/// numbers; a release sorts after its prereleases because `~` follows every prerelease character).
pub fn plugin_sk(version: &semver::Version) -> String {
    format!("V#{}", sortable_version(version))
}

pub fn plugin_gsi2sk(name: &str, version: &semver::Version) -> String {
    format!("PLUGIN#{name}#{}", sortable_version(version))
}

/// Plugin names are `[a-z0-9-]`, so `#` cannot occur inside one and `PLUGIN#{name}#` prefixes
/// exactly one plugin's versions.
pub fn plugin_gsi2sk_prefix(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("PLUGIN#{name}#"),
        None => "PLUGIN#".to_string(),
    }
}

pub const PUBLIC_PLUGINS_GSI1PK: &str = "PUBLIC#PLUGIN";

pub fn public_plugin_gsi1sk(name: &str, version: &semver::Version, org_id: &str) -> String {
    format!("{name}#{}#{org_id}", sortable_version(version))
}

pub fn public_plugin_gsi1sk_prefix(name: &str) -> String {
    format!("{name}#")
}

/// The owner record of a public plugin name: which org may publish public versions of it.
pub fn public_name_pk(name: &str) -> String {
    format!("PUBLICNAME#{name}")
}

pub const PUBLIC_NAME_OWNER_SK: &str = "OWNER";

/// Beside the name's public versions on GSI1, so one query returns a name's owner with its
/// versions. Versions sort by a zero-padded number there, so `OWNER` never falls among them.
pub fn public_name_owner_gsi1sk(name: &str) -> String {
    format!("{name}#{PUBLIC_NAME_OWNER_SK}")
}

fn sortable_version(version: &semver::Version) -> String {
    let release = format!(
        "{:010}.{:010}.{:010}",
        version.major, version.minor, version.patch
    );
    if version.pre.is_empty() {
        format!("{release}~")
    } else {
        format!("{release}-{}", version.pre)
    }
}

pub fn pipeline_pk(org_id: &str) -> String {
    format!("ORG#{org_id}")
}

pub fn pipeline_sk(pipeline_id: &str) -> String {
    format!("PIPELINE#{pipeline_id}")
}

pub const PIPELINE_SK_PREFIX: &str = "PIPELINE#";

/// The claim on a pipeline name within its org (one pipeline per name: its stack and
/// CodePipeline are named after it). `PIPELINE_NAME#` starts with `PIPELINE` but not with
/// [`PIPELINE_SK_PREFIX`], so listing the org's pipelines never reads a claim as one.
pub fn pipeline_name_sk(name: &str) -> String {
    format!("PIPELINE_NAME#{name}")
}

/// One deployment of a pipeline; deployment ids sort by time, so the newest come first in a
/// descending query of [`deployments_sk_prefix`].
pub fn deployment_sk(pipeline_id: &str, deployment_id: &str) -> String {
    format!("DEPLOYMENT#{pipeline_id}#{deployment_id}")
}

pub fn deployments_sk_prefix(pipeline_id: &str) -> String {
    format!("DEPLOYMENT#{pipeline_id}#")
}

/// Held while a deployment of the pipeline is under way.
pub fn deploying_sk(pipeline_id: &str) -> String {
    format!("DEPLOYING#{pipeline_id}")
}

/// The pipeline's last successful deployment.
pub fn deployed_sk(pipeline_id: &str) -> String {
    format!("DEPLOYED#{pipeline_id}")
}

/// Which deployment a stack's status events belong to.
pub fn stack_pk(region: &str, stack_name: &str) -> String {
    format!("STACK#{region}#{stack_name}")
}

pub const STACK_SK: &str = "STACK";

pub fn rule_pk(org_id: &str) -> String {
    format!("ORG#{org_id}")
}

pub fn rule_sk(rule_id: &str) -> String {
    format!("RULE#{rule_id}")
}

pub const RULE_SK_PREFIX: &str = "RULE#";

pub const AUDIT_RUN_PK: &str = "AUDIT";

pub fn audit_run_sk(started_at: &str) -> String {
    format!("RUN#{started_at}")
}

/// The sort key of one facet item of a pipeline's daily rollup (`rollup::Facet::sk_prefix`).
pub fn rollup_facet_sk(facet_prefix: &str, pipeline_id: &str) -> String {
    format!("{facet_prefix}{pipeline_id}")
}

// Rules and exemptions live in the org's partition, so no reader can reach another org's
// without naming it.

pub fn exemption_pk(org_id: &str) -> String {
    rule_pk(org_id)
}

pub fn exemption_sk(exemption_id: &str) -> String {
    format!("{EXEMPTION_SK_PREFIX}{exemption_id}")
}

pub const EXEMPTION_SK_PREFIX: &str = "EXEMPTION#";

/// The smallest sort key above every key that starts with `prefix` (`RULE#` → `RULE$`), for
/// `SK BETWEEN :after AND :end` queries that resume a listing inside one kind of item.
pub fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    if let Some(last) = chars.pop() {
        chars.push(char::from_u32(last as u32 + 1).unwrap_or(char::MAX));
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_bounds_exactly_the_prefixed_keys() {
        let end = prefix_end(RULE_SK_PREFIX);
        assert_eq!(end, "RULE$");
        assert!(rule_sk("zzzz-ffff") < end);
        assert!(rule_sk("").as_str() >= RULE_SK_PREFIX);
        assert!("RULEZ" > end.as_str());
        assert_eq!(prefix_end(EXEMPTION_SK_PREFIX), "EXEMPTION$");
        assert_eq!(exemption_sk("e1"), "EXEMPTION#e1");
        assert_eq!(exemption_pk("acme"), "ORG#acme");
    }

    #[test]
    fn a_name_claim_is_never_read_as_a_pipeline() {
        let claim = pipeline_name_sk("payments");
        assert_eq!(claim, "PIPELINE_NAME#payments");
        assert!(!claim.starts_with(PIPELINE_SK_PREFIX));
        assert!(pipeline_sk("pl-1").starts_with(PIPELINE_SK_PREFIX));
        for other in [RULE_SK_PREFIX, EXEMPTION_SK_PREFIX] {
            assert!(claim.as_str() < other || claim.as_str() >= prefix_end(other).as_str());
        }
    }
}
