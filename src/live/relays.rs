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

/// A replacement id as relays take it: a UUID (Flashbots' `replacementUuid` is a UUIDv4). Our
/// strategies name their bundles (`sandwich-pool-0-block-N`); each name maps to the same
/// version-4-shaped UUID every time (from its keccak-256), so a later replace or cancel under the
/// name reaches the bundle; an id already a UUID is kept as it is.
pub fn as_uuid(id: &str) -> String {
    let is_uuid = id.len() == 36
        && id.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
    if is_uuid {
        return id.to_string();
    }
    let mut b = [0u8; 16];
    b.copy_from_slice(&alloy_primitives::keccak256(id.as_bytes())[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = alloy_primitives::hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
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
        let mapped;
        let p = match &p.replacement_uuid {
            Some(id) if as_uuid(id) != *id => {
                mapped = SendBundleParams { replacement_uuid: Some(as_uuid(id)), ..p.clone() };
                &mapped
            }
            _ => p,
        };
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
        let uuid = as_uuid(replacement_uuid);
        let replacement_uuid = uuid.as_str();
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

#[cfg(test)]
mod tests {
    use super::as_uuid;

    #[test]
    fn names_map_to_the_same_v4_shaped_uuid_and_uuids_stay() {
        let u = as_uuid("sandwich-pool-0-block-19000001");
        assert_eq!(u, as_uuid("sandwich-pool-0-block-19000001"), "the same name, the same uuid");
        assert_ne!(u, as_uuid("sandwich-pool-0-block-19000002"));
        let parts: Vec<&str> = u.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{u}");
        assert!(parts[2].starts_with('4') && "89ab".contains(&parts[3][..1]), "version 4, RFC 4122 variant: {u}");
        assert_eq!(as_uuid(&u), u, "a uuid is kept");
        assert_eq!(as_uuid("0b7e2b9c-5b0f-4a43-9d55-3f1f5e0a0001"), "0b7e2b9c-5b0f-4a43-9d55-3f1f5e0a0001");
    }
}
