//! What the CLI tests share: the binary under test, run with a clean environment.
// Each test crate includes this module and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_xcrack");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `xcrack args…` in `cwd` without RUST_LOG or XCRACK_* from the test's environment.
pub fn xcrack(args: &[&str], cwd: &Path) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(cwd).env_remove("RUST_LOG");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("XCRACK_")) {
        cmd.env_remove(k);
    }
    cmd.output().expect("run xcrack")
}

pub fn scenario(name: &str) -> String {
    repo().join("scenarios").join(name).display().to_string()
}

/// A shipped scenario resolved with `sets` (`key`, `value`) as `--set` overrides.
pub fn spec(name: &str, sets: &[(&str, &str)]) -> xcrack::config::RunSpec {
    let file = format!("scenarios/{name}");
    let text = std::fs::read_to_string(repo().join(&file)).unwrap();
    let cli = sets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let sources = xcrack::config::Sources { config_file: None, scenario: Some((file, text)), env: Vec::new(), cli };
    xcrack::config::load(&sources, Path::new("scenarios")).unwrap()
}
pub mod anvil;
pub mod uniswap;
