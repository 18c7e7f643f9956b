//! Every bundle to every configured relay and builder: one `BundleSink` over several clients. A
//! relay (`live.relays`) is sent Flashbots' `eth_sendBundle`; a builder (`[[live.builders]]`) its
//! own encoding (`relay::builders`: Titan's refund fields, bloXroute's `blxr_submit_bundle` with
//! its credential). A bundle is out when at least one took it (its hash is the one the first
//! taker returned); one that refused or could not be reached is logged with its URL (without
//! credentials).

use alloy_primitives::B256;

use crate::chain::Wallet;
use crate::config::live::BuilderSpec;
use crate::execution::bundle_manager::BundleSink;
use crate::relay::RelayClient;
use crate::relay::builders::{Builder, BundleIntent};
use crate::relay::rpc::SendBundleParams;

/// One destination: its client, and for a builder its API (a relay speaks Flashbots').
struct Way {
    client: RelayClient,
    builder: Option<OwnApi>,
}

struct OwnApi {
    builder: Builder,
    auth: Wallet,
    credential: Option<String>,
}

pub struct Relays {
    ways: Vec<(String, Way)>,
    next_id: u64,
}

/// What stands in a builder request's headers for a credential read from the environment.
const CREDENTIAL: &str = "$XCRACK_BLOXROUTE_AUTH";

impl Relays {
    /// Clients for the relays `urls` and `builders` (http:// or https://), each signing with the
    /// relay-auth key `auth` loads; builders' credentials read from their variables now.
    pub fn connect(
        urls: &[String],
        builders: &[BuilderSpec],
        auth: &crate::chain::keys::KeySource,
    ) -> Result<Self, String> {
        let key = || auth.load().map_err(|e| format!("keys.relay_auth: {e}"));
        let mut ways = Vec::with_capacity(urls.len() + builders.len());
        for url in urls {
            let way = Way { client: RelayClient::connect(url, key()?)?, builder: None };
            ways.push((crate::chain::rpc::redact(url), way));
        }
        for b in builders {
            let credential = match &b.auth_env {
                Some(var) => Some(
                    std::env::var(var)
                        .map_err(|_| format!("live.builders ({}): {var} is not set", b.builder.name()))?
                        .trim()
                        .to_string(),
                ),
                None => None,
            };
            let client = RelayClient::connect(&b.url, key()?)?;
            let shown = format!("{} {}", b.builder.name(), crate::chain::rpc::redact(&b.url));
            let api = OwnApi { builder: b.builder, auth: key()?, credential };
            ways.push((shown, Way { client, builder: Some(api) }));
        }
        Ok(Relays { ways, next_id: 0 })
    }
}

/// Sends `body` (a builder's own request) with its headers, the credential put in.
fn post(client: &mut RelayClient, api: &OwnApi, body: serde_json::Value) -> Result<serde_json::Value, String> {
    let (builder, auth, credential) = (api.builder, &api.auth, api.credential.as_deref());
    let method = match body["method"].as_str() {
        Some("eth_cancelBundle") => "eth_cancelBundle",
        _ if builder == Builder::Bloxroute => "blxr_submit_bundle",
        _ => "eth_sendBundle",
    };
    let req = builder.request(body, auth)?;
    let bytes = serde_json::to_vec(&req.body).map_err(|e| e.to_string())?;
    let headers: Vec<(String, String)> = req
        .headers
        .into_iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
        .map(|(k, v)| if v == CREDENTIAL { (k, credential.unwrap_or_default().to_string()) } else { (k, v) })
        .collect();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    client.post_signed(method, &bytes, &headers).map_err(|e| e.to_string())
}

impl BundleSink for Relays {
    fn send(&mut self, p: &SendBundleParams) -> Result<B256, String> {
        let block = crate::relay::rpc::parse_quantity(&p.block_number)
            .ok_or_else(|| format!("blockNumber `{}` is not a quantity", p.block_number))?;
        let hashes: Vec<B256> = p.txs.iter().map(|t| crate::relay::rpc::tx_hash(t)).collect();
        let ours = crate::relay::rpc::bundle_hash(&hashes);
        let intent = BundleIntent {
            txs: p.txs.clone(),
            block,
            min_timestamp: p.min_timestamp,
            max_timestamp: p.max_timestamp,
            reverting: p.reverting_tx_hashes.clone(),
            replacement_uuid: p.replacement_uuid.clone(),
            refund: None,
        };
        let mut taken = None;
        let mut refusals = Vec::new();
        for (shown, way) in &mut self.ways {
            self.next_id += 1;
            let sent = match &way.builder {
                None => way.client.send_bundle(p).map_err(|e| e.to_string()),
                Some(api) => {
                    let body = api.builder.send(&intent, self.next_id);
                    post(&mut way.client, api, body).map(|r| {
                        r.get("bundleHash").and_then(|h| h.as_str()).and_then(|h| h.parse().ok()).unwrap_or(ours)
                    })
                }
            };
            match sent {
                Ok(h) => taken = taken.or(Some(h)),
                Err(e) => {
                    tracing::warn!(target: "xcrack::live", relay = %shown, error = %e, "bundle refused");
                    refusals.push(format!("{shown}: {e}"));
                }
            }
        }
        taken.ok_or_else(|| refusals.join("; "))
    }

    /// Each Flashbots-compatible relay's `flashbots_getBundleStatsV2` answer (builders with their
    /// own APIs offer none), or why there is none.
    fn stats(&mut self, hash: B256, block: u64) -> Vec<String> {
        self.ways
            .iter_mut()
            .filter(|(_, way)| way.builder.is_none())
            .map(|(shown, way)| match way.client.bundle_stats(hash, block) {
                Ok(v) => format!("{shown}: {v}"),
                Err(e) => format!("{shown}: no stats ({e})"),
            })
            .collect()
    }

    fn cancel(&mut self, replacement_uuid: &str) -> Result<(), String> {
        let mut errors = Vec::new();
        for (shown, way) in &mut self.ways {
            self.next_id += 1;
            let r = match &way.builder {
                None => way.client.cancel_bundle(replacement_uuid).map_err(|e| e.to_string()),
                Some(api) => {
                    let body = api.builder.cancel(replacement_uuid, self.next_id);
                    post(&mut way.client, api, body).map(|_| ())
                }
            };
            if let Err(e) = r {
                errors.push(format!("{shown}: {e}"));
            }
        }
        if errors.len() == self.ways.len() && !errors.is_empty() { Err(errors.join("; ")) } else { Ok(()) }
    }
}
