//! The name a pipeline is deployed under: `pb-{org}-{name}` for both the CloudFormation stack and
//! the CodePipeline, so one name finds both.
//!
//! Stack names allow only letters, digits and `-` (starting with a letter, at most 128
//! characters) and pipeline names at most 100, so a readable name is used only when it is
//! unambiguous; otherwise the name ends in a hash of the org and pipeline name. Both orgs and
//! pipeline names may contain `-`, so `pb-a-b-c` could be org `a`'s pipeline `b-c` or org `a-b`'s
//! `c`: the readable form is used only for an org without `-`. And since a readable name could be
//! chosen to look like another org's hashed one, a readable name that ends like a hashed one is
//! hashed too. Different (org, name) pairs therefore never share a deployed name short of a
//! SHA-256 collision, and no org can pick a name that lands on another org's stack.

use sha2::{Digest, Sha256};

/// CodePipeline's limit, the smaller of the two (stacks allow 128).
pub const MAX_DEPLOYED_NAME_CHARS: usize = 100;
const PREFIX: &str = "pb-";
/// Hex digits of the hash: 64 bits, beyond reach of a search for a chosen collision.
const HASH_DIGITS: usize = 16;

/// The stack and CodePipeline name of org `org`'s pipeline `name`.
pub fn deployed_name(org: &str, name: &str) -> String {
    let readable = format!("{PREFIX}{org}-{name}");
    if is_readable(org, &readable) {
        return readable;
    }
    let hash = hash_hex(org, name);
    let room = MAX_DEPLOYED_NAME_CHARS - HASH_DIGITS - 1;
    let stem: String = sanitize(&readable).chars().take(room).collect();
    format!("{}-{hash}", stem.trim_end_matches('-'))
}

fn is_readable(org: &str, readable: &str) -> bool {
    readable.len() <= MAX_DEPLOYED_NAME_CHARS
        && !org.contains('-')
        && readable
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !looks_hashed(readable)
}

fn looks_hashed(name: &str) -> bool {
    name.len() > HASH_DIGITS
        && name.as_bytes()[name.len() - HASH_DIGITS - 1] == b'-'
        && name[name.len() - HASH_DIGITS..]
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// Characters a stack name cannot hold become `-`; runs of `-` collapse.
fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

/// Newline separates the parts: neither an org id nor a pipeline name can contain one.
fn hash_hex(org: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("{org}\n{name}").as_bytes());
    digest
        .iter()
        .take(HASH_DIGITS / 2)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_stack_name(name: &str) -> bool {
        name.len() <= 128
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    }

    #[test]
    fn a_plain_org_and_name_read_as_written() {
        assert_eq!(
            deployed_name("acme", "payments-service"),
            "pb-acme-payments-service"
        );
    }

    #[test]
    fn names_that_could_be_read_two_ways_are_hashed_apart() {
        let a = deployed_name("a", "b-c");
        let b = deployed_name("a-b", "c");
        assert_eq!(a, "pb-a-b-c");
        assert_ne!(a, b);
        assert!(
            b.starts_with("pb-a-b-c-") && b.len() == "pb-a-b-c-".len() + HASH_DIGITS,
            "{b}"
        );
        let mimic = deployed_name("a", &b["pb-a-".len()..]);
        assert_ne!(
            mimic, b,
            "a readable name must never equal another org's hashed one"
        );
    }

    #[test]
    fn characters_stacks_refuse_and_long_names_are_hashed_within_limits() {
        let dotted = deployed_name("acme", "api.v2@eu_west");
        let underscored = deployed_name("acme", "api-v2-eu-west");
        assert_ne!(dotted, underscored);
        assert!(dotted.starts_with("pb-acme-api-v2-eu-west-"), "{dotted}");
        let long = deployed_name("acme_corp", &"x".repeat(100));
        assert_eq!(long.chars().count(), MAX_DEPLOYED_NAME_CHARS);
        for name in [dotted, underscored, long, deployed_name("9lives", "a")] {
            assert!(is_stack_name(&name), "{name}");
        }
    }

    #[test]
    fn the_name_is_the_same_every_time() {
        assert_eq!(
            deployed_name("acme-eu", "api"),
            deployed_name("acme-eu", "api")
        );
    }
}
