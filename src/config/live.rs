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
    /// Relays taking Flashbots' `eth_sendBundle` (http:// or https://); every bundle goes to each.
    #[serde(default)]
    pub relays: Vec<String>,
    /// Builders with their own APIs (`[[live.builders]]`), each sent its own encoding.
    #[serde(default)]
    pub builders: Vec<BuilderConfig>,
    /// Our executor contract on the chain (deployed by the searcher key, the tokens approved).
    pub executor: String,
    /// The write-ahead journal (relative to the file naming it).
    #[serde(default = "journal")]
    pub journal: String,
    /// "full" (every commit before a send synced to disk: survives a power cut) or "normal"
    /// (synced at checkpoints: survives `kill -9`, not a power cut; ~0.3 ms less per bundle here).
    #[serde(default = "journal_sync")]
    pub journal_sync: String,
    /// Trading stops (outstanding bundles cancelled) when this file exists.
    #[serde(default = "stop_file")]
    pub stop_file: String,
    /// Trading starts when this file exists (or with `--go`).
    #[serde(default = "go_file")]
    pub go_file: String,
    /// How often the node's pending pool is read (with `pending = "poll"`), and the longest wait
    /// for news before the stop and go files are looked at.
    #[serde(default = "poll")]
    pub poll: String,
    /// "subscribe": pending transactions announced over the WebSocket (`newPendingTransactions`,
    /// each fetched by hash; the pool read as a backfill every 5 s and after a reconnect), or
    /// "poll": the node's pool (`txpool_content`) read every `poll`.
    #[serde(default = "pending")]
    pub pending: String,
    /// Where `/metrics` and `/health` are served (none when empty), and `POST /stop` when
    /// `control_token_env` names the variable holding its bearer token.
    #[serde(default)]
    pub metrics: String,
    #[serde(default)]
    pub control_token_env: Option<String>,
    /// Alerts (`[live.alerts]`).
    #[serde(default)]
    pub alerts: Option<AlertsConfig>,
}

/// `[[live.builders]]`: a builder (`relay::builders`: flashbots, titan, bloxroute) at its public
/// endpoint or `url`; bloXroute's account credential from the variable `auth_env`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuilderConfig {
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub auth_env: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BuilderSpec {
    pub builder: crate::relay::builders::Builder,
    pub url: String,
    pub auth_env: Option<String>,
}

/// `[live.alerts]`: where alerts go (the webhook URL and the bot token from environment
/// variables: they are credentials) and when they fire.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    #[serde(default)]
    pub discord_webhook_env: Option<String>,
    #[serde(default)]
    pub telegram_token_env: Option<String>,
    #[serde(default)]
    pub telegram_chat_id: Option<String>,
    #[serde(default = "telegram_api")]
    pub telegram_api: String,
    /// Net P&L (the quote currency, net of gas and bribes) below which to alert.
    #[serde(default)]
    pub pnl_below: Option<f64>,
    #[serde(default = "silent_after")]
    pub source_silent_after: String,
}

fn telegram_api() -> String {
    "https://api.telegram.org".into()
}
fn silent_after() -> String {
    "60s".into()
}

/// Resolved `[live.alerts]` (the variables are read when live mode starts).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsSpec {
    pub discord_webhook_env: Option<String>,
    /// (API base, token variable, chat id)
    pub telegram: Option<(String, String, String)>,
    pub pnl_below: Option<f64>,
    pub source_silent_after: std::time::Duration,
}

fn journal() -> String {
    "live-journal.sqlite".into()
}
fn pending() -> String {
    "subscribe".into()
}
fn journal_sync() -> String {
    "full".into()
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

#[derive(Debug, Clone, PartialEq)]
pub struct LiveSpec {
    pub node: String,
    pub relays: Vec<String>,
    pub builders: Vec<BuilderSpec>,
    pub executor: Address,
    pub journal: PathBuf,
    /// Every journal commit synced (`journal_sync = "full"`).
    pub journal_synced: bool,
    pub stop_file: PathBuf,
    pub go_file: PathBuf,
    pub poll: std::time::Duration,
    /// Pending transactions by subscription (`pending = "subscribe"`), not by polling the pool.
    pub pending_subscribed: bool,
    pub metrics: Option<SocketAddr>,
    pub control_token_env: Option<String>,
    pub alerts: Option<AlertsSpec>,
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
    if c.relays.is_empty() && c.builders.is_empty() {
        return Err(err("live.relays", "name at least one relay (http:// or https://) or [[live.builders]]".into()));
    }
    let mut builders: Vec<BuilderSpec> = Vec::with_capacity(c.builders.len());
    for (i, b) in c.builders.iter().enumerate() {
        let key = |k: &str| format!("live.builders[{i}].{k}");
        let builder = crate::relay::builders::Builder::parse(&b.name).ok_or_else(|| {
            let known: Vec<&str> = crate::relay::builders::Builder::ALL.iter().map(|b| b.name()).collect();
            err(&key("name"), format!("unknown builder `{}` (one of {})", b.name, known.join(", ")))
        })?;
        if builders.iter().any(|x| x.builder == builder) {
            return Err(err(&key("name"), format!("`{}` is listed twice", b.name)));
        }
        let url = b.url.clone().unwrap_or_else(|| builder.url().to_string());
        let u = crate::chain::rpc::Endpoint::check(&url).map_err(|m| err(&key("url"), m))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(err(&key("url"), "a builder takes HTTP(S) requests".into()));
        }
        if builder == crate::relay::builders::Builder::Bloxroute && b.auth_env.is_none() {
            return Err(err(
                &key("auth_env"),
                "bloXroute needs its account credential: name the variable holding it".into(),
            ));
        }
        builders.push(BuilderSpec { builder, url, auth_env: b.auth_env.clone() });
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
    let pending_subscribed = match c.pending.as_str() {
        "subscribe" => true,
        "poll" => false,
        other => return Err(err("live.pending", format!("`{other}` is neither \"subscribe\" nor \"poll\""))),
    };
    let journal_synced = match c.journal_sync.as_str() {
        "full" => true,
        "normal" => false,
        other => return Err(err("live.journal_sync", format!("`{other}` is neither \"full\" nor \"normal\""))),
    };
    let metrics = match c.metrics.trim() {
        "" => None,
        m => Some(m.parse().map_err(|_| err("live.metrics", format!("`{m}` is not an address like 127.0.0.1:9100")))?),
    };
    if c.control_token_env.is_some() && metrics.is_none() {
        return Err(err(
            "live.control_token_env",
            "the control endpoint is served beside /metrics: set live.metrics".into(),
        ));
    }
    let alerts = match &c.alerts {
        None => None,
        Some(a) => {
            let telegram = match (&a.telegram_token_env, &a.telegram_chat_id) {
                (Some(t), Some(chat)) => Some((a.telegram_api.clone(), t.clone(), chat.clone())),
                (None, None) => None,
                _ => {
                    return Err(err(
                        "live.alerts.telegram_chat_id",
                        "Telegram needs both telegram_token_env and telegram_chat_id".into(),
                    ));
                }
            };
            if telegram.is_none() && a.discord_webhook_env.is_none() {
                return Err(err("live.alerts", "name a channel: discord_webhook_env or telegram_token_env".into()));
            }
            let silent = crate::core::parse_duration(&a.source_silent_after)
                .ok()
                .filter(|t| (crate::core::NANOS_PER_SEC..=3600 * crate::core::NANOS_PER_SEC).contains(t))
                .ok_or_else(|| {
                    err(
                        "live.alerts.source_silent_after",
                        format!("`{}` is not between 1s and 1h", a.source_silent_after),
                    )
                })?;
            Some(AlertsSpec {
                discord_webhook_env: a.discord_webhook_env.clone(),
                telegram,
                pnl_below: a.pnl_below,
                source_silent_after: std::time::Duration::from_nanos(silent),
            })
        }
    };
    Ok(LiveSpec {
        node: c.node.clone(),
        relays: c.relays.clone(),
        builders,
        executor,
        journal: base_dir.join(&c.journal),
        journal_synced,
        stop_file: base_dir.join(&c.stop_file),
        go_file: base_dir.join(&c.go_file),
        poll: std::time::Duration::from_nanos(poll),
        pending_subscribed,
        metrics,
        control_token_env: c.control_token_env.clone(),
        alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(extra: &str) -> Result<LiveSpec, (String, String)> {
        let text = format!("node = \"ws://127.0.0.1:8546\"\nexecutor = \"0x{}\"\n{extra}", "11".repeat(20));
        let c: LiveConfig = toml::from_str(&text).map_err(|e| ("(toml)".to_string(), e.to_string()))?;
        let err = |key: &str, message: String| {
            ConfigError::new(super::super::Origin { source: "t.toml".into(), line: 0 }, key, message)
        };
        resolve(&c, std::path::Path::new("."), &err).map_err(|e| (e.key, e.message))
    }

    #[test]
    fn builders_are_named_checked_and_take_their_public_endpoint_by_default() {
        let s = resolved("[[builders]]\nname = \"titan\"\n[[builders]]\nname = \"bloxroute\"\nauth_env = \"BLXR\"\n")
            .unwrap();
        assert!(s.relays.is_empty());
        assert_eq!(s.builders[0].url, "https://rpc.titanbuilder.xyz");
        assert_eq!(s.builders[1].auth_env.as_deref(), Some("BLXR"));
        let bad = |extra: &str| resolved(extra).unwrap_err();
        assert_eq!(bad("").0, "live.relays");
        assert_eq!(bad("[[builders]]\nname = \"nobody\"\n").0, "live.builders[0].name");
        assert_eq!(bad("[[builders]]\nname = \"titan\"\n[[builders]]\nname = \"titan\"\n").0, "live.builders[1].name");
        assert_eq!(bad("[[builders]]\nname = \"bloxroute\"\n").0, "live.builders[0].auth_env");
        assert_eq!(bad("[[builders]]\nname = \"titan\"\nurl = \"ws://x\"\n").0, "live.builders[0].url");
        let relays = "relays = [\"http://127.0.0.1:1\"]\n";
        assert_eq!(bad(&format!("{relays}pending = \"sometimes\"\n")).0, "live.pending");
        assert_eq!(bad(&format!("{relays}journal_sync = \"off\"\n")).0, "live.journal_sync");
        let s = resolved(&format!("{relays}pending = \"poll\"\njournal_sync = \"normal\"\n")).unwrap();
        assert!(!s.pending_subscribed && !s.journal_synced);
    }
}
