//! Which Secrets Manager names a plugin of an org may reference.
//!
//! A step runs with the deploying account's permissions, so a plugin naming a secret is a request
//! to read it at build time. The platform keeps its own secrets under `pipeline-builder/`: the
//! signing key set (`{stack}/api-signing-keys`, with the default stack name
//! `pipeline-builder/api-signing-keys`), each org's stored machine token
//! (`pipeline-builder/{org}/platform`) and whatever an org keeps under `pipeline-builder/{org}/`.
//! A plugin may name its own org's secrets but never the platform's nor another org's; names
//! outside the platform's namespace are the deploying account's business. A stack deployed under
//! another name stores its tokens under `{stack}/` as well, and that namespace is guarded the same.

use super::errors::FieldError;
use super::spec::SecretRef;

/// The platform's namespace in Secrets Manager, whatever its stack is called.
const PLATFORM_PREFIX: &str = "pipeline-builder";
/// The one segment under the platform's namespace that is shared by every org rather than owned
/// by one: deploy-time secrets such as a notification webhook (`samples/plugins/cfn-deploy.yaml`).
const SHARED_SEGMENT: &str = "deploy";
/// The last segment of the signing key set's name, whatever the stack is called.
const KEY_SET_NAME: &str = "api-signing-keys";
/// The segment under an org's prefix where the platform stores the org's machine token.
const PLATFORM_TOKEN_NAME: &str = "platform";

/// Every secret of `secrets` that `publisher_org` may not reference, with why.
/// `stack_prefix` is the deployed stack's own secret prefix (`PLATFORM_SECRET_PREFIX`).
pub(super) fn secret_namespace_problems(
    secrets: &[SecretRef],
    publisher_org: &str,
    stack_prefix: &str,
) -> Vec<FieldError> {
    secrets
        .iter()
        .enumerate()
        .filter_map(|(index, secret)| {
            [PLATFORM_PREFIX, stack_prefix]
                .into_iter()
                .find_map(|prefix| forbidden_reason(&secret.name, publisher_org, prefix))
                .map(|message| FieldError {
                    field: format!("secrets[{index}].name"),
                    message,
                })
        })
        .collect()
}

/// Prefix comparisons rather than equality, because Secrets Manager also resolves a name followed
/// by `-` and six characters as a partial ARN of the shorter name.
fn forbidden_reason(name: &str, publisher_org: &str, prefix: &str) -> Option<String> {
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    if last_segment.starts_with(KEY_SET_NAME) {
        return Some("names the platform's signing key set".into());
    }
    let inside = name.strip_prefix(prefix)?.strip_prefix('/')?;
    let (owner, rest) = match inside.split_once('/') {
        Some(split) => split,
        None => return Some(format!("'{prefix}/…' names are the platform's own")),
    };
    if owner == SHARED_SEGMENT {
        None
    } else if owner != publisher_org {
        Some(format!("is under another org's prefix '{prefix}/{owner}/'"))
    } else if rest.starts_with(PLATFORM_TOKEN_NAME) {
        Some(format!(
            "'{prefix}/{owner}/{PLATFORM_TOKEN_NAME}' is the platform's token of the org"
        ))
    } else {
        None
    }
}
