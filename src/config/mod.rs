//! Typed configuration. Precedence: embedded `config/default.toml` < `--config` file < scenario <
//! environment (`XCRACK_SECTION__KEY=value`) < CLI (`--seed`, `--set key=value`). Every error names
//! the file and line (or env var / flag) and the key.

pub mod budget;
pub mod fork;
pub mod layers;
pub mod limits;
pub mod live;
pub mod resolve;
pub mod schema;

use std::path::Path;

pub use fork::{ForkLending, ForkPool, ForkSpec, PairOf, PendingFlow};
pub use layers::{Layered, Origin};
pub use resolve::*;
pub use schema::Settings;

/// The defaults every run starts from, compiled into the binary.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.toml");
pub const DEFAULT_CONFIG_NAME: &str = "config/default.toml (embedded)";
/// The scenario `xcrack backtest` runs when given none.
pub const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/calm.toml");
pub const DEFAULT_SCENARIO_NAME: &str = "scenarios/calm.toml (embedded)";

/// Top-level keys a `--config` file may set (the scenario may set all).
const CONFIG_FILE_KEYS: &[&str] = &["network", "strategies", "safety", "monitoring", "fork", "keys", "signoff", "live"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: key `{key}`: {message}")]
pub struct ConfigError {
    pub origin: Origin,
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(origin: Origin, key: &str, message: String) -> Self {
        ConfigError { origin, key: key.to_string(), message }
    }
    pub fn io(path: &str, e: &std::io::Error) -> Self {
        ConfigError::new(Origin { source: path.to_string(), line: 0 }, "(file)", format!("cannot read: {e}"))
    }
}

/// Everything that goes into one run's configuration, in precedence order.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--config FILE`: overrides the embedded defaults.
    pub config_file: Option<String>,
    /// (display name, text) of the scenario.
    pub scenario: Option<(String, String)>,
    /// `XCRACK_*` variables, sorted.
    pub env: Vec<(String, String)>,
    /// `--set key=value` pairs and `--seed`, in the order given.
    pub cli: Vec<(String, String)>,
}

impl Sources {
    /// Collects `XCRACK_*` variables from the process environment, in sorted order.
    pub fn with_process_env(mut self) -> Self {
        let mut env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("XCRACK_")).collect();
        env.sort();
        self.env = env;
        self
    }
}

/// Builds the merged document with provenance.
pub fn layer(sources: &Sources) -> Result<Layered, ConfigError> {
    layer_over(None, sources)
}

/// As `layer`, with `base` (name, TOML) laid under the config file: a mode's embedded defaults
/// (live mode's market keys) that the user's config file, not a scenario, is there to override.
pub fn layer_over(base: Option<(&str, &str)>, sources: &Sources) -> Result<Layered, ConfigError> {
    let mut l = Layered::default();
    l.overlay_toml(DEFAULT_CONFIG_NAME, DEFAULT_CONFIG, None)?;
    if let Some((name, text)) = base {
        l.overlay_toml(name, text, None)?;
    }
    if let Some(path) = &sources.config_file {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e))?;
        l.overlay_toml(path, &text, Some(CONFIG_FILE_KEYS))?;
    }
    match (&sources.scenario, base) {
        (Some((name, text)), _) => l.overlay_toml(name, text, None)?,
        (None, Some(_)) => {}
        (None, None) => l.overlay_toml(DEFAULT_SCENARIO_NAME, DEFAULT_SCENARIO, None)?,
    }
    for (var, value) in &sources.env {
        let path = var.trim_start_matches("XCRACK_").to_ascii_lowercase().replace("__", ".");
        l.overlay_value(&path, value, Origin { source: format!("environment variable {var}"), line: 0 })?;
    }
    for (key, value) in &sources.cli {
        l.overlay_value(key, value, Origin { source: format!("command line `{key}={value}`"), line: 0 })?;
    }
    Ok(l)
}

/// Deserializes the merged document, mapping serde's path back to the source that set it.
pub fn settings(layered: &Layered) -> Result<Settings, ConfigError> {
    let value = toml::Value::Table(layered.doc.clone());
    serde_path_to_error::deserialize::<_, Settings>(value).map_err(|e| {
        // The path already ends with an unknown field's own name.
        let path = e.path().to_string();
        let message = e.inner().message().to_string();
        let origin = layered
            .origin_of(&path)
            .cloned()
            .unwrap_or_else(|| Origin { source: "merged configuration".to_string(), line: 0 });
        ConfigError::new(origin, &path, message)
    })
}

/// Loads, merges, deserializes and validates: the one call the CLI makes.
pub fn load(sources: &Sources, base_dir: &Path) -> Result<RunSpec, ConfigError> {
    let layered = layer(sources)?;
    let s = settings(&layered)?;
    resolve(&s, &layered, base_dir)
}

/// As `load`, for a backtest: a `[fork]` that only the config file sets is fork mode's (the same
/// config file serves `xcrack fork`, `backtest` and `signoff`) and is left out; one the scenario
/// sets stays, for the backtest to refuse by name.
pub fn load_backtest(sources: &Sources, base_dir: &Path) -> Result<RunSpec, ConfigError> {
    let mut layered = layer(sources)?;
    if let Some(file) = &sources.config_file {
        layered.drop_if_only_from("fork", file);
    }
    let s = settings(&layered)?;
    resolve(&s, &layered, base_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mode's embedded base lies under the config file (the file chooses the strategies), and a
    /// scenario, when there is one, over both.
    #[test]
    fn a_base_lies_under_the_config_file_and_a_scenario_over_it() {
        let dir = std::env::temp_dir().join(format!("xcrack-layer-over-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[strategies.sandwich]\nenabled = false\n[strategies.cross_dex]\nenabled = true\n")
            .unwrap();
        let base = "[strategies.sandwich]\nenabled = true\n[strategies.cross_dex]\nenabled = false\n";
        let sources = |scenario: Option<(String, String)>| Sources {
            config_file: Some(file.display().to_string()),
            scenario,
            env: Vec::new(),
            cli: Vec::new(),
        };
        let flags = |l: &Layered| {
            let on = |name: &str| l.doc["strategies"][name]["enabled"].as_bool();
            (on("sandwich"), on("cross_dex"))
        };
        assert_eq!(flags(&layer_over(Some(("base", base)), &sources(None)).unwrap()), (Some(false), Some(true)));
        let scenario = Some(("s.toml".to_string(), base.to_string()));
        assert_eq!(flags(&layer_over(Some(("base", base)), &sources(scenario)).unwrap()), (Some(true), Some(false)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
