//! CatalogTable keys of rules and exemptions: both live in the org's partition, so
//! no reader can reach another org's without naming it.

pub use crate::keys::{rule_pk, rule_sk, RULE_SK_PREFIX};

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
}
