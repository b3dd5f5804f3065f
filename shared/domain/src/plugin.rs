//! Plugins: the published step specs of the catalog and how a pipeline's reference to one is
//! resolved.
//!
//! Everything here is pure: the caller loads the catalog entries it may need (the caller org's
//! and the public ones) and hands them in; nothing is fetched.

mod errors;
mod lookup;
mod namespace;
mod ownership;
mod range;
mod resolve;
mod spec;
mod validate;

pub use errors::{FieldError, LookupError};
pub use lookup::{
    names_to_load, resolve_batch, LookupOutcome, RequestedPlugin, ResolvedPlugin, UnresolvedPlugin,
    MAX_LOOKUP_REFERENCES,
};
pub use ownership::{plan_ownership_repair, public_name_owner, OwnershipRepair, PublicVersion};
pub use range::{PluginRef, VersionRange, MAX_RANGE_CHARS, VERSION_RANGE_PATTERN};
pub use resolve::{resolve, CatalogEntry, Resolved, ResolvedFrom};
pub use spec::{AccessModifier, ComputeType, FailureBehavior, PluginSpec, PluginType, SecretRef};
pub use validate::{
    validate, validate_for_publisher, Limits, ENV_NAME_PATTERN, IMAGE_PATTERN, LIMITS,
    METADATA_KEY_PATTERN, OUTPUT_DIRECTORY_PATTERN, SECRET_NAME_PATTERN, VERSION_PATTERN,
};

#[cfg(test)]
mod tests;
