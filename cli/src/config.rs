//! Profiles: an API URL and a token each, kept in `pb/config.json` under the user's config
//! directory (`$XDG_CONFIG_HOME`, else `$HOME/.config`), readable by the user alone.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CliError;

pub const DEFAULT_PROFILE: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub url: String,
    pub token: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Where the configuration lives, from the environment the client runs in.
pub fn config_path() -> Result<PathBuf, CliError> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| PathBuf::from(home).join(".config"))
            .ok_or_else(|| {
                CliError::Usage(
                    "neither XDG_CONFIG_HOME nor HOME is set: no place for the configuration"
                        .into(),
                )
            })?,
    };
    Ok(base.join("pb").join("config.json"))
}

impl Config {
    /// The stored configuration; none yet is an empty one.
    pub fn load(path: &Path) -> Result<Config, CliError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default())
            }
            Err(error) => {
                return Err(CliError::Usage(format!(
                    "cannot read {}: {error}",
                    path.display()
                )))
            }
        };
        serde_json::from_str(&text).map_err(|error| {
            CliError::Usage(format!(
                "{} is not a pb configuration: {error}",
                path.display()
            ))
        })
    }

    /// Writes the file with mode 0600 (and its directory 0700): it holds bearer tokens.
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        let unwritable = |error: std::io::Error| {
            CliError::Usage(format!("cannot write {}: {error}", path.display()))
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(unwritable)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(unwritable)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|error| {
            CliError::Usage(format!("cannot encode the configuration: {error}"))
        })?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(unwritable)?;
        // An existing file keeps its mode on open: tighten it before the token is written.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(unwritable)?;
        file.write_all(text.as_bytes()).map_err(unwritable)?;
        Ok(())
    }

    pub fn profile(&self, name: &str) -> Result<&Profile, CliError> {
        self.profiles.get(name).ok_or_else(|| {
            CliError::Usage(format!(
                "no profile '{name}' is configured; run `pb login --url URL --profile {name}` first"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_profiles_readable_by_the_user_alone_and_reads_them_back() {
        let dir = std::env::temp_dir().join(format!("pb-config-test-{}", std::process::id()));
        let path = dir.join("pb").join("config.json");
        let mut config = Config::default();
        config.profiles.insert(
            "ci".into(),
            Profile {
                url: "http://127.0.0.1:3000".into(),
                token: "t".into(),
            },
        );
        config.save(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let read = Config::load(&path).unwrap();
        assert_eq!(read.profile("ci").unwrap().url, "http://127.0.0.1:3000");
        let missing = read.profile("prod").unwrap_err().to_string();
        assert!(
            missing.contains("pb login --url URL --profile prod"),
            "{missing}"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
