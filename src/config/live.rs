//! `[live]`: where live mode reaches the chain and the relays, and what keeps it safe (its journal,
//! its stop file). The market it trades is `[fork]`'s (`weth`, `quote`, `[[fork.pools]]`); live
//! reads that section's pools and ignores its block keys.

use std::net::SocketAddr;
use std::path::PathBuf;

use alloy_primitives::Address;
use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// The node: new heads over its WebSocket (ws:// or wss://); state, the pending pool and
    /// receipts over the same endpoint.
    pub node: String,
    /// Relays or builders taking `eth_sendBundle` (http:// or https://); every bundle goes to each.
    pub relays: Vec<String>,
    /// Our executor contract on the chain (deployed by the searcher key, the tokens approved).
    pub executor: String,
    /// The write-ahead journal (relative to the file naming it).
    #[serde(default = "journal")]
    pub journal: String,
    /// Trading stops (outstanding bundles cancelled) when this file exists.
    #[serde(default = "stop_file")]
    pub stop_file: String,
    /// Trading starts when this file exists (or with `--go`).
    #[serde(default = "go_file")]
    pub go_file: String,
    /// How often the node's pending pool is read.
    #[serde(default = "poll")]
    pub poll: String,
    /// Where `/metrics` and `/health` are served (loopback by default; none when empty).
    #[serde(default)]
    pub metrics: String,
}

fn journal() -> String {
    "live-journal.sqlite".into()
}
fn stop_file() -> String {
    "STOP".into()
}
fn go_file() -> String {
    "GO".into()
}
fn poll() -> String {
    "200ms".into()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSpec {
    pub node: String,
    pub relays: Vec<String>,
    pub executor: Address,
    pub journal: PathBuf,
    pub stop_file: PathBuf,
    pub go_file: PathBuf,
    pub poll: std::time::Duration,
    pub metrics: Option<SocketAddr>,
}

pub fn resolve(
    c: &LiveConfig,
    base_dir: &std::path::Path,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<LiveSpec, ConfigError> {
    let u = crate::chain::rpc::Endpoint::check(&c.node).map_err(|m| err("live.node", m))?;
    if !matches!(u.scheme(), "ws" | "wss") {
        return Err(err("live.node", "live mode follows new heads over a WebSocket: ws:// or wss://".into()));
    }
    if c.relays.is_empty() {
        return Err(err("live.relays", "name at least one relay (http:// or https://)".into()));
    }
    for (i, r) in c.relays.iter().enumerate() {
        let u = crate::chain::rpc::Endpoint::check(r).map_err(|m| err(&format!("live.relays[{i}]"), m))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(err(&format!("live.relays[{i}]"), "a relay takes HTTP(S) requests".into()));
        }
    }
    let executor = c
        .executor
        .trim()
        .parse()
        .map_err(|_| err("live.executor", format!("`{}` is not a 0x-prefixed 20-byte address", c.executor)))?;
    let poll = crate::core::parse_duration(&c.poll)
        .ok()
        .filter(|t| (crate::core::NANOS_PER_MS * 10..=60 * crate::core::NANOS_PER_SEC).contains(t))
        .ok_or_else(|| err("live.poll", format!("`{}` is not a duration between 10ms and 60s", c.poll)))?;
    let metrics = match c.metrics.trim() {
        "" => None,
        m => Some(m.parse().map_err(|_| err("live.metrics", format!("`{m}` is not an address like 127.0.0.1:9100")))?),
    };
    Ok(LiveSpec {
        node: c.node.clone(),
        relays: c.relays.clone(),
        executor,
        journal: base_dir.join(&c.journal),
        stop_file: base_dir.join(&c.stop_file),
        go_file: base_dir.join(&c.go_file),
        poll: std::time::Duration::from_nanos(poll),
        metrics,
    })
}
