//! Each builder's own `eth_sendBundle`: one small encoder per API, from the same bundle. Field
//! names follow each builder's published documentation:
//!
//! - **Flashbots** (relay.flashbots.net): `eth_sendBundle` with `txs`, `blockNumber`,
//!   `minTimestamp`/`maxTimestamp`, `revertingTxHashes`, `replacementUuid`, `builders`; signed with
//!   `X-Flashbots-Signature` by the relay-auth key (never the searcher's).
//! - **Titan** (rpc.titanbuilder.xyz): `eth_sendBundle` with `txs`, `blockNumber`,
//!   `revertingTxHashes`, `replacementUuid`, `refundPercent`, `refundRecipient` (no timestamp
//!   window); the Flashbots signature is accepted for reputation.
//! - **bloXroute** (api.blxrbdn.com): `blxr_submit_bundle` with `transaction` (hex without 0x),
//!   `block_number`, `min_timestamp`/`max_timestamp`, `reverting_hashes`, `uuid`; authorised by an
//!   account header whose value is a credential, so it is named here and never written out.
//!
//! Cancellation by replacement id: `eth_cancelBundle {replacementUuid}` (Flashbots, Titan); an
//! empty bundle under the same `uuid` (bloXroute).

use alloy_primitives::{Address, B256, Bytes, hex};
use serde_json::{Value, json};

use super::rpc::quantity;
use crate::chain::Wallet;

/// A bundle as every builder is asked to include it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleIntent {
    pub txs: Vec<Bytes>,
    pub block: u64,
    pub min_timestamp: Option<u64>,
    pub max_timestamp: Option<u64>,
    pub reverting: Vec<B256>,
    pub replacement_uuid: Option<String>,
    /// A share (0-99 %) of the last transaction's payment to the builder refunded to `recipient`,
    /// where the builder offers it (Titan).
    pub refund: Option<(u8, Address)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Builder {
    Flashbots,
    Titan,
    Bloxroute,
}

/// One request to a builder: where, the headers (credentials named, not shown), the JSON body.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BuilderRequest {
    pub builder: &'static str,
    pub url: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Builder {
    pub const ALL: [Builder; 3] = [Builder::Flashbots, Builder::Titan, Builder::Bloxroute];

    pub fn parse(name: &str) -> Option<Self> {
        Builder::ALL.into_iter().find(|b| b.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Builder::Flashbots => "flashbots",
            Builder::Titan => "titan",
            Builder::Bloxroute => "bloxroute",
        }
    }

    pub fn url(self) -> &'static str {
        match self {
            Builder::Flashbots => "https://relay.flashbots.net",
            Builder::Titan => "https://rpc.titanbuilder.xyz",
            Builder::Bloxroute => "https://api.blxrbdn.com",
        }
    }

    /// The JSON-RPC request sending `b`.
    pub fn send(self, b: &BundleIntent, id: u64) -> Value {
        let hashes = |v: &[B256]| v.iter().map(|h| json!(h)).collect::<Vec<_>>();
        let mut p = serde_json::Map::new();
        let (method, params) = match self {
            Builder::Flashbots | Builder::Titan => {
                p.insert("txs".into(), json!(b.txs));
                p.insert("blockNumber".into(), json!(quantity(b.block)));
                if self == Builder::Flashbots {
                    if let Some(t) = b.min_timestamp {
                        p.insert("minTimestamp".into(), json!(t));
                    }
                    if let Some(t) = b.max_timestamp {
                        p.insert("maxTimestamp".into(), json!(t));
                    }
                }
                if !b.reverting.is_empty() {
                    p.insert("revertingTxHashes".into(), json!(hashes(&b.reverting)));
                }
                if let Some(u) = &b.replacement_uuid {
                    p.insert("replacementUuid".into(), json!(u));
                }
                if let (Builder::Titan, Some((percent, recipient))) = (self, b.refund) {
                    p.insert("refundPercent".into(), json!(percent));
                    p.insert("refundRecipient".into(), json!(recipient));
                }
                ("eth_sendBundle", Value::Object(p))
            }
            Builder::Bloxroute => {
                let raw: Vec<String> = b.txs.iter().map(hex::encode).collect();
                p.insert("transaction".into(), json!(raw));
                p.insert("block_number".into(), json!(quantity(b.block)));
                if let Some(t) = b.min_timestamp {
                    p.insert("min_timestamp".into(), json!(t));
                }
                if let Some(t) = b.max_timestamp {
                    p.insert("max_timestamp".into(), json!(t));
                }
                if !b.reverting.is_empty() {
                    p.insert("reverting_hashes".into(), json!(hashes(&b.reverting)));
                }
                if let Some(u) = &b.replacement_uuid {
                    p.insert("uuid".into(), json!(u));
                }
                ("blxr_submit_bundle", Value::Object(p))
            }
        };
        let params = if self == Builder::Bloxroute { params } else { json!([params]) };
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
    }

    /// The JSON-RPC request withdrawing the bundle sent under `uuid`.
    pub fn cancel(self, uuid: &str, id: u64) -> Value {
        match self {
            Builder::Flashbots | Builder::Titan => {
                json!({"jsonrpc": "2.0", "id": id, "method": "eth_cancelBundle", "params": [{"replacementUuid": uuid}]})
            }
            Builder::Bloxroute => json!({"jsonrpc": "2.0", "id": id, "method": "blxr_submit_bundle",
                "params": {"transaction": [], "uuid": uuid}}),
        }
    }

    /// The request for `body` as sent: its bytes are what the Flashbots signature covers.
    pub fn request(self, body: Value, auth: &Wallet) -> Result<BuilderRequest, String> {
        let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        match self {
            Builder::Flashbots | Builder::Titan => {
                let sig = super::auth::sign(auth, &bytes).map_err(|e| e.to_string())?;
                headers.push((super::auth::HEADER.to_string(), sig));
            }
            // bloXroute's account credential: read from the environment when sending, never shown.
            Builder::Bloxroute => headers.push(("Authorization".to_string(), "$XCRACK_BLOXROUTE_AUTH".to_string())),
        }
        Ok(BuilderRequest { builder: self.name(), url: self.url(), headers, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent() -> BundleIntent {
        BundleIntent {
            txs: vec![Bytes::from_static(&[0x02, 0xf8, 0x01]), Bytes::from_static(&[0x02, 0xf8, 0x02])],
            block: 19_000_001,
            min_timestamp: Some(1_700_000_000),
            max_timestamp: Some(1_700_000_024),
            reverting: vec![B256::repeat_byte(0x11)],
            replacement_uuid: Some("0b7e2b9c-5b0f-4a43-9d55-3f1f5e0a0001".into()),
            refund: Some((90, Address::repeat_byte(0x22))),
        }
    }

    /// Golden: each builder's request for one bundle, signed by a fixed simulation auth key.
    #[test]
    fn each_builder_gets_its_own_encoding() {
        let auth = Wallet::derived(1, "xcrack/flashbots-auth");
        for b in Builder::ALL {
            let send = b.request(b.send(&intent(), 1), &auth).unwrap();
            let cancel = b.request(b.cancel("0b7e2b9c-5b0f-4a43-9d55-3f1f5e0a0001", 2), &auth).unwrap();
            let text = serde_json::to_string_pretty(&(send, cancel)).unwrap();
            insta::assert_snapshot!(format!("builder_{}", b.name()), text);
        }
    }

    #[test]
    fn the_flashbots_signature_covers_the_body_as_sent() {
        let auth = Wallet::derived(1, "xcrack/flashbots-auth");
        let r = Builder::Flashbots.request(Builder::Flashbots.send(&intent(), 7), &auth).unwrap();
        let header = r.headers.iter().find(|(k, _)| k == super::super::auth::HEADER).map(|(_, v)| v.as_str());
        let body = serde_json::to_vec(&r.body).unwrap();
        assert_eq!(super::super::auth::verify(header, &body), Ok(auth.address()));
        assert_eq!(Builder::parse("titan"), Some(Builder::Titan));
        assert_eq!(Builder::parse("beaver"), None);
    }
}
