//! Simulation sign-off: the record that a configuration passed its backtests and fork dry run, which
//! live mode requires before it starts. The record names the exact configuration (keccak256 of the
//! config file's bytes) and the exact binary (keccak256 of the executable) it was made with, what
//! each run showed, and each criterion with its verdict; `verify` refuses a record made for other
//! bytes, by another build, or that did not pass.

use std::path::Path;

use alloy_primitives::{B256, keccak256};
use serde::{Deserialize, Serialize};

/// `[signoff]` in the config file: what to run, and what must hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignoffConfig {
    /// Backtest scenarios, relative to the config file; each runs with this config layered in.
    pub scenarios: Vec<String>,
    /// A fork scenario (its [fork] reads a node or a recording), run dry with this config.
    #[serde(default)]
    pub fork: Option<String>,
    /// Every strategy's net P&L in each backtest (its report's currency, net of what it says) at
    /// least this.
    #[serde(default)]
    pub min_net: f64,
    /// Every included bundle's realised gross equal to its simulated prediction (bundle strategies;
    /// the CEX/DEX strategies' public transactions can be moved by others in their block), and the
    /// wallet on the chain equal to the books, in every backtest.
    #[serde(default = "yes")]
    pub require_exact: bool,
    /// Actions the risk gate refused, over all runs, at most this.
    #[serde(default)]
    pub max_risk_refusals: u64,
}

fn yes() -> bool {
    true
}

/// One criterion as checked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Check {
    pub run: String,
    pub criterion: String,
    pub observed: String,
    pub passed: bool,
}

/// The sign-off record (`signoff.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signoff {
    pub format: u32,
    pub xcrack_version: String,
    /// keccak256 of the executable that made it.
    pub binary: B256,
    pub config_file: String,
    /// keccak256 of the config file's bytes.
    pub config: B256,
    /// Each run's file and the keccak256 of its bytes.
    pub runs: Vec<(String, B256)>,
    pub checks: Vec<Check>,
    pub passed: bool,
}

pub const FORMAT: u32 = 1;

/// keccak256 of the running executable.
pub fn binary_hash() -> Result<B256, String> {
    let exe = std::env::current_exe().map_err(|e| format!("the running executable: {e}"))?;
    let bytes = std::fs::read(&exe).map_err(|e| format!("{}: {e}", exe.display()))?;
    Ok(keccak256(bytes))
}

pub fn file_hash(path: &Path) -> Result<B256, String> {
    std::fs::read(path).map(keccak256).map_err(|e| format!("{}: {e}", path.display()))
}

/// Live mode's gate: the record at `record` must be a passing sign-off of exactly `config`'s bytes
/// made by this very binary.
pub fn verify(config: &Path, record: &Path) -> Result<Signoff, String> {
    let text = std::fs::read_to_string(record).map_err(|e| {
        format!("{}: no sign-off ({e}); run `xcrack signoff --config {}` first", record.display(), config.display())
    })?;
    let s: Signoff =
        serde_json::from_str(&text).map_err(|e| format!("{}: not a sign-off record: {e}", record.display()))?;
    if s.format != FORMAT {
        return Err(format!("{}: sign-off format {} (this build reads {FORMAT})", record.display(), s.format));
    }
    if file_hash(config)? != s.config {
        return Err(format!("{}: changed since its sign-off; sign it off again", config.display()));
    }
    if binary_hash()? != s.binary {
        return Err(format!("{}: made by another build of xcrack; sign off again with this one", record.display()));
    }
    if !s.passed {
        let failed: Vec<String> = s
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {} ({})", c.run, c.criterion, c.observed))
            .collect();
        return Err(format!("{}: the sign-off failed: {}", record.display(), failed.join("; ")));
    }
    Ok(s)
}
