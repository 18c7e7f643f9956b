//! The Flashbots JSON-RPC shapes, exactly: wei amounts as decimal strings, block numbers in params as
//! hex quantities, `gasUsed` / `totalGasUsed` / `stateBlockNumber` in results as JSON numbers.

use alloy_primitives::{Address, B256, Bytes, keccak256};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const MAX_BUNDLE_TXS: usize = 100;
pub const MAX_BUNDLE_BYTES: usize = 300_000;

/// JSON-RPC error codes we answer with.
pub mod code {
    pub const PARSE: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    /// Authentication: missing, malformed or mismatched `X-Flashbots-Signature`.
    pub const UNAUTHORIZED: i64 = -32001;
    /// A well-formed bundle the relay refuses (past block, too many txs, bad tx, ...).
    pub const BUNDLE_REJECTED: i64 = -32000;
}

#[derive(Debug, Clone, Deserialize)]
pub struct Request {
    pub jsonrpc: String,
    #[serde(default)]
    pub id: Value,
    pub method: String,
    #[serde(default)]
    pub params: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub jsonrpc: String,
    pub id: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

impl Response {
    pub fn ok(id: Value, result: Value) -> Self {
        Response { jsonrpc: "2.0".into(), id, result: Some(result), error: None }
    }
    pub fn err(id: Value, code: i64, message: impl Into<String>) -> Self {
        Response { jsonrpc: "2.0".into(), id, result: None, error: Some(RpcError { code, message: message.into() }) }
    }
}

/// A block number as a hex quantity string (`"0x1b4"`).
pub fn quantity(n: u64) -> String {
    format!("0x{n:x}")
}

pub fn parse_quantity(s: &str) -> Option<u64> {
    let h = s.strip_prefix("0x")?;
    if h.is_empty() || h.len() > 16 {
        return None;
    }
    u64::from_str_radix(h, 16).ok()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendBundleParams {
    pub txs: Vec<Bytes>,
    pub block_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_timestamp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timestamp: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reverting_tx_hashes: Vec<B256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builders: Vec<String>,
}

impl SendBundleParams {
    /// `txs` for block `block` only, with no timestamp window, reverts, replacement or builders.
    pub fn for_block(txs: Vec<Bytes>, block: u64) -> Self {
        SendBundleParams {
            txs,
            block_number: quantity(block),
            min_timestamp: None,
            max_timestamp: None,
            reverting_tx_hashes: vec![],
            replacement_uuid: None,
            builders: vec![],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SendBundleResult {
    pub bundle_hash: B256,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallBundleParams {
    pub txs: Vec<Bytes>,
    pub block_number: String,
    /// A hex block number or `"latest"`.
    pub state_block_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CallBundleTxResult {
    pub coinbase_diff: String,
    pub eth_sent_to_coinbase: String,
    pub from_address: Address,
    pub to_address: Option<Address>,
    pub gas_fees: String,
    pub gas_price: String,
    pub gas_used: u64,
    pub tx_hash: B256,
    /// Return data of a successful transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Bytes>,
    /// Set when the transaction reverted ("execution reverted"), with the decoded reason in `revert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CallBundleResult {
    pub bundle_gas_price: String,
    pub bundle_hash: B256,
    pub coinbase_diff: String,
    pub eth_sent_to_coinbase: String,
    pub gas_fees: String,
    pub results: Vec<CallBundleTxResult>,
    pub state_block_number: u64,
    pub total_gas_used: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelBundleParams {
    pub replacement_uuid: String,
}

/// `flashbots_getBundleStatsV2`'s question: a bundle by hash, for its block.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleStatsParams {
    pub bundle_hash: B256,
    pub block_number: String,
}

/// `keccak256(txHash_0 ‖ txHash_1 ‖ …)`.
pub fn bundle_hash(tx_hashes: &[B256]) -> B256 {
    let mut buf = Vec::with_capacity(32 * tx_hashes.len());
    for h in tx_hashes {
        buf.extend_from_slice(h.as_slice());
    }
    keccak256(buf)
}

/// The hash of a raw EIP-2718 transaction (keccak of its bytes).
pub fn tx_hash(raw: &[u8]) -> B256 {
    keccak256(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_round_trip_and_reject_garbage() {
        assert_eq!(quantity(436), "0x1b4");
        assert_eq!(parse_quantity("0x1b4"), Some(436));
        for bad in ["1b4", "0x", "0xzz", "0x11111111111111111"] {
            assert_eq!(parse_quantity(bad), None, "{bad}");
        }
    }
}
