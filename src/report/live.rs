//! Live mode's report (`reports/live-<chain>-from-<block>/summary.json`): what the run saw and did,
//! and every bundle of ours settled during it with its transactions as the chain's receipts show
//! them — gas used, the price paid, our net flow per token to the raw unit — so it can be checked
//! against the chain (tests/live_e2e.rs does, to the wei). Written atomically at the end of a run.

use std::path::Path;

use alloy_primitives::{Address, B256};
use serde::Serialize;

use super::ReportError;

/// One transaction of ours in a settled bundle, as its receipt shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveTx {
    pub hash: B256,
    pub gas_used: u64,
    pub effective_gas_price: u128,
    /// Our net flow per token (raw units: transfers to us minus transfers from us), as decimal
    /// strings: exact beyond what a JSON reader's doubles hold.
    #[serde(serialize_with = "flows_as_strings")]
    pub flows: Vec<(Address, i128)>,
}

/// A bundle of ours settled at its block during the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveBundle {
    pub strategy: u16,
    pub tag: u64,
    pub target_block: u64,
    pub bundle_hash: B256,
    pub included: bool,
    /// Why it is not in its block (and what the relays said of it).
    pub reason: String,
    /// Our transactions as mined (empty when it was not included).
    pub ours: Vec<LiveTx>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LiveSummary {
    pub mode: &'static str,
    pub chain_id: u64,
    pub first_head: u64,
    pub last_head: u64,
    pub heads: u64,
    pub pending_seen: u64,
    pub bundles_sent: u64,
    pub included: u64,
    pub not_included: u64,
    /// Net P&L of the included bundles in the quote token (report float; the raw figure beside it).
    pub pnl_quote: f64,
    #[serde(serialize_with = "as_string")]
    pub pnl_quote_raw: i128,
    pub pnl_net_of: &'static str,
    pub stopped: Option<String>,
    pub bundles: Vec<LiveBundle>,
}

fn as_string<S: serde::Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

fn flows_as_strings<S: serde::Serializer>(v: &[(Address, i128)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for (token, raw) in v {
        seq.serialize_element(&(token, raw.to_string()))?;
    }
    seq.end()
}

/// Writes `summary.json` into `dir` (replacing an earlier report there whole, or not at all).
pub fn write(summary: &LiveSummary, dir: &Path) -> Result<(), ReportError> {
    super::output::write_atomically(dir, |tmp| {
        let json = serde_json::to_string_pretty(summary).map_err(|e| ReportError::Other(e.to_string()))? + "\n";
        std::fs::write(tmp.join("summary.json"), json).map_err(|e| ReportError::io(tmp, e))
    })
}
