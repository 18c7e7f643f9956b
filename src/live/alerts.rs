//! Alerts on configured thresholds — the breaker open, an emergency stop, a source silent too
//! long, P&L below a limit — posted to a Discord webhook and/or a Telegram bot. Edge-triggered: an
//! alert fires when its condition starts and again only after it has cleared, so a stuck source is
//! one message, not one per second. The webhook URLs carry credentials: they come from the
//! environment, and messages and logs show them without their path.

use std::collections::BTreeSet;
use std::time::Duration;

use super::metrics::Health;
use crate::relay::http::HttpClient;

#[derive(Clone, Debug, PartialEq)]
pub enum Alert {
    BreakerOpen,
    EmergencyStop(String),
    SourceDown { source: String, silent_s: f64 },
    PnlBelow { pnl: f64, limit: f64 },
}

impl Alert {
    /// What identifies the condition (for edge triggering).
    fn key(&self) -> String {
        match self {
            Alert::BreakerOpen => "breaker".into(),
            Alert::EmergencyStop(_) => "stop".into(),
            Alert::SourceDown { source, .. } => format!("source:{source}"),
            Alert::PnlBelow { .. } => "pnl".into(),
        }
    }

    pub fn message(&self) -> String {
        match self {
            Alert::BreakerOpen => {
                "xcrack: the risk gate's circuit breaker is open; no new actions until it closes".into()
            }
            Alert::EmergencyStop(why) => format!("xcrack: emergency stop ({why}); outstanding bundles cancelled"),
            Alert::SourceDown { source, silent_s } => format!("xcrack: source {source} silent for {silent_s:.0} s"),
            Alert::PnlBelow { pnl, limit } => format!("xcrack: net P&L {pnl:.2} is below the limit {limit:.2}"),
        }
    }
}

/// Thresholds.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRules {
    pub source_silent_after: Duration,
    /// Net P&L (quote currency, net of fees, gas and bribes) below which to alert.
    pub pnl_below: Option<f64>,
}

/// Where alerts go.
#[derive(Clone, Debug, Default)]
pub struct Channels {
    /// A Discord webhook URL (`https://discord.com/api/webhooks/…`).
    pub discord: Option<String>,
    /// The Telegram Bot API base with the token (`https://api.telegram.org/bot<TOKEN>`) and the chat.
    pub telegram: Option<(String, String)>,
}

pub struct Alerter {
    rules: AlertRules,
    channels: Channels,
    active: BTreeSet<String>,
    client: HttpClient,
    timeout: Duration,
}

impl Alerter {
    pub fn new(rules: AlertRules, channels: Channels) -> Self {
        Alerter { rules, channels, active: BTreeSet::new(), client: HttpClient::new(), timeout: Duration::from_secs(5) }
    }

    /// The alerts that start now (conditions that hold and did not at the last check).
    pub fn check(&mut self, health: &Health, pnl: f64) -> Vec<Alert> {
        let mut now = Vec::new();
        if health.breaker_open {
            now.push(Alert::BreakerOpen);
        }
        if let Some(why) = &health.stopped {
            now.push(Alert::EmergencyStop(why.clone()));
        }
        let limit = self.rules.source_silent_after.as_secs_f64();
        for (source, lag) in &health.lag_s {
            if *lag > limit {
                now.push(Alert::SourceDown { source: source.clone(), silent_s: *lag });
            }
        }
        if let Some(limit) = self.rules.pnl_below.filter(|l| pnl < *l) {
            now.push(Alert::PnlBelow { pnl, limit });
        }
        let keys: BTreeSet<String> = now.iter().map(Alert::key).collect();
        let fresh = now.into_iter().filter(|a| !self.active.contains(&a.key())).collect();
        self.active = keys;
        fresh
    }

    /// Posts `alert` to every channel; each channel's failure, with the URL shown without its path.
    pub fn send(&mut self, alert: &Alert) -> Vec<String> {
        let text = alert.message();
        let mut failures = Vec::new();
        let mut posts: Vec<(String, String, serde_json::Value)> = Vec::new();
        if let Some(url) = &self.channels.discord {
            posts.push(("discord".into(), url.clone(), serde_json::json!({ "content": text })));
        }
        if let Some((base, chat)) = &self.channels.telegram {
            let url = format!("{}/sendMessage", base.trim_end_matches('/'));
            posts.push(("telegram".into(), url, serde_json::json!({ "chat_id": chat, "text": text })));
        }
        for (name, url, body) in posts {
            if let Err(e) = self.post(&url, &body) {
                tracing::warn!(target: "xcrack::live", channel = %name, error = %e, "alert not delivered");
                failures.push(format!("{name}: {e}"));
            }
        }
        failures
    }

    fn post(&mut self, url: &str, body: &serde_json::Value) -> Result<(), String> {
        let shown = without_path(url);
        let e = crate::chain::rpc::Endpoint::parse(url).map_err(|_| format!("{shown}: not a reachable URL"))?;
        if e.websocket {
            return Err(format!("{shown}: a webhook takes HTTP(S) requests"));
        }
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let (status, _) =
            self.client.post_to(&e.target, &e.path, &[], &bytes, self.timeout).map_err(|e| format!("{shown}: {e}"))?;
        if (200..300).contains(&status) { Ok(()) } else { Err(format!("{shown}: HTTP {status}")) }
    }
}

/// `url` as scheme and host only: webhook and bot tokens live in the path.
fn without_path(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("?")),
        Err(_) => "(not a URL)".into(),
    }
}
