//! Plugin attribution: which plugin version an action attempt ran.
//!
//! The platform deploys each pipeline step as one CodePipeline action named after the step
//! ([`StepSpec::action_name`](crate::pipeline::StepSpec::action_name), unique within its stage), so
//! an action event's (stage, action) names the step, and the stored definition's pinning names
//! the plugin version. Actions the platform adds itself (the source action) match no step.

use serde::{Deserialize, Serialize};

use crate::pipeline::PinnedStep;

/// A plugin version, as pinned to a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginRef {
    pub name: String,
    pub version: String,
}

impl PluginRef {
    /// How rollup counters name it: `{name}@{version}` (plugin names are `[a-z0-9-]` and
    /// versions semver, so `@` and `#` occur in neither).
    pub fn key(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The inverse of [`PluginRef::key`].
    pub fn from_key(key: &str) -> Option<PluginRef> {
        let (name, version) = key.split_once('@')?;
        Some(PluginRef {
            name: name.to_string(),
            version: version.to_string(),
        })
    }
}

/// The plugin version of the step that `stage`/`action` runs, if the definition has that step.
pub fn attribute(pinned: &[PinnedStep], stage: &str, action: &str) -> Option<PluginRef> {
    pinned
        .iter()
        .find(|step| step.stage == stage && step.step == action)
        .map(|step| PluginRef {
            name: step.plugin.clone(),
            version: step.version.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pinned(stage: &str, step: &str, plugin: &str, version: &str) -> PinnedStep {
        PinnedStep {
            stage: stage.into(),
            step: step.into(),
            plugin: plugin.into(),
            requested: "^1".into(),
            version: version.into(),
            category: "build".into(),
            publisher_org: None,
        }
    }

    #[test]
    fn the_step_is_found_by_stage_and_action_name() {
        let steps = [
            pinned("Build", "node-build", "node-build", "2.0.1"),
            pinned("Build", "Scan", "security-scan", "0.9.4"),
            pinned("Prod", "Scan", "prod-scan", "1.0.0"),
        ];
        assert_eq!(
            attribute(&steps, "Prod", "Scan"),
            Some(PluginRef {
                name: "prod-scan".into(),
                version: "1.0.0".into()
            })
        );
        assert_eq!(
            attribute(&steps, "Build", "node-build").map(|p| p.key()),
            Some("node-build@2.0.1".to_string())
        );
        assert_eq!(attribute(&steps, "Source", "Source"), None);
        assert_eq!(attribute(&steps, "build", "node-build"), None);
    }

    #[test]
    fn keys_round_trip() {
        let plugin = PluginRef {
            name: "node-build".into(),
            version: "2.0.1-rc.1+build.7".into(),
        };
        assert_eq!(PluginRef::from_key(&plugin.key()), Some(plugin));
        assert_eq!(PluginRef::from_key("no-version"), None);
    }
}
