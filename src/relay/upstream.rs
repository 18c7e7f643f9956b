//! Our relay in front of a real node that mines on request (`xcrack relay --upstream URL`: anvil
//! with automine off and `--order fifo`). Each block the book picks and orders the bundles exactly
//! as over our own chain — on the node's head state, read through `ForkDb` — and the node is then
//! made to mine them at the top of its next block, atomically: a snapshot, the node's pending pool
//! taken out, the bundles' transactions sent in order, the public ones after, one block mined. If
//! the node's block does not hold a bundle whole — each transaction in it, none reverted that may
//! not — the snapshot is restored, the bundle is failed with why, and the block is mined again
//! without it. What the relay says of a bundle (`Included`) is then what the node holds.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{B256, Bytes};
use serde_json::{Value, json};

use super::{Relay, RelayServer};
use crate::chain::SimChain;
use crate::chain::fork::{ForkDb, ForkError};
use crate::chain::rpc::{BlockHead, RpcSource};
use crate::chain::simchain::actor;

/// Where a built block stands on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mined {
    pub number: u64,
    /// Bundles the node's block holds, in order.
    pub included: Vec<B256>,
    /// Bundles the book picked that the node's block could not hold whole, with why.
    pub dropped: Vec<(B256, String)>,
    /// Public transactions mined after the bundles.
    pub public: usize,
}

pub struct Upstream {
    rpc: RpcSource,
    relay: Arc<Mutex<Relay>>,
    inbox: super::ChainInbox,
    server: RelayServer,
    chain_id: u64,
    block_time: Duration,
}

fn source_error(e: ForkError) -> String {
    format!("upstream node: {e}")
}

impl Upstream {
    /// The relay listening on `addr` in front of the node at `url`, whose head it starts from.
    pub fn start(url: &str, addr: SocketAddr, block_time: Duration) -> Result<Self, String> {
        let endpoint = crate::chain::rpc::Endpoint::parse(url).map_err(|m| format!("--upstream {url}: {m}"))?;
        let rpc = RpcSource::new(endpoint.transport(crate::chain::rpc::Retry::default()));
        let pin = rpc.pin(None, None).map_err(source_error)?;
        let head = rpc.heads(&[pin.number]).map_err(source_error)?[0];
        let chain = chain_at(&rpc, &head, pin)?;
        let block_s = block_time.as_secs().max(1);
        let relay = Arc::new(Mutex::new(Relay::new(&chain, block_s)));
        let (port, inbox) = super::chain_port();
        let server = RelayServer::start(relay.clone(), port, addr).map_err(|e| format!("binding {addr}: {e}"))?;
        Ok(Upstream { rpc, relay, inbox, server, chain_id: pin.chain_id, block_time })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    pub fn relay(&self) -> Arc<Mutex<Relay>> {
        self.relay.clone()
    }

    /// Waits one block time (answering `eth_callBundle` on the node's head meanwhile), then builds
    /// and mines the next block.
    pub fn next_block(&mut self) -> Result<Mined, String> {
        let pin = self.rpc.pin(None, None).map_err(source_error)?;
        let head = self.rpc.heads(&[pin.number]).map_err(source_error)?[0];
        let mut chain = chain_at(&self.rpc, &head, pin)?;
        let due = std::time::Instant::now() + self.block_time;
        while let Some(left) = due.checked_duration_since(std::time::Instant::now()).filter(|d| !d.is_zero()) {
            self.inbox.serve_for(&mut chain, left);
        }
        self.build(&mut chain, &head)
    }

    fn build(&mut self, chain: &mut SimChain, head: &BlockHead) -> Result<Mined, String> {
        // The node may have moved while we waited (restarted, mined by someone else): build on the
        // head the bundles were checked against, or not at all this round.
        let now = self.rpc.latest().map_err(source_error)?;
        if now != head.number {
            return Err(format!("upstream node: its head moved from {} to {now} during the block time", head.number));
        }
        let timestamp = head.timestamp + self.block_time.as_secs().max(1);
        let base_fee =
            crate::core::next_base_fee(head.base_fee, head.gas_used, head.gas_limit).min(u128::from(u64::MAX));
        let build = self.lock().build_block(chain, timestamp, base_fee as u64, actor("xcrack/builder"), &[]);
        if let Some(e) = chain.db_ref().db.fork().and_then(|f| f.failure()) {
            return Err(format!("upstream node: reading its state: {e}"));
        }
        let mut bundles: Vec<(B256, Vec<Bytes>, Vec<B256>)> = build
            .included
            .iter()
            .zip(build.raws)
            .map(|((hash, _), (txs, may_revert))| (*hash, txs, may_revert))
            .collect();
        let mut dropped = Vec::new();
        loop {
            let snapshot = self.rpc.request("evm_snapshot", json!([])).map_err(source_error)?;
            let public = self.rpc.txpool().map_err(source_error)?;
            self.rpc.request("anvil_dropAllTransactions", json!([])).map_err(source_error)?;
            let mut sent: Vec<B256> = Vec::new();
            let mut refused: Option<(usize, String)> = None;
            for (i, (_, txs, _)) in bundles.iter().enumerate() {
                for raw in txs {
                    match self.rpc.request("eth_sendRawTransaction", json!([raw])) {
                        Ok(_) => sent.push(crate::relay::rpc::tx_hash(raw)),
                        Err(e) => refused = refused.or(Some((i, format!("the node refused a transaction: {e}")))),
                    }
                }
            }
            let mut public_sent = 0;
            for t in public.iter().filter(|t| !sent.contains(&t.hash)) {
                // A public transaction a bundle made invalid (its nonce used) is the node's to drop.
                if self.rpc.request("eth_sendRawTransaction", json!([t.raw])).is_ok() {
                    public_sent += 1;
                }
            }
            // A node whose clock is past ours (restarted from a dump) mines at its own time.
            if let Err(e) = self.rpc.request("evm_mine", json!([timestamp])) {
                tracing::debug!(target: "xcrack::relay", error = %e, "mining at the node's own time");
                self.rpc.request("evm_mine", json!([])).map_err(source_error)?;
            }
            let number = self.rpc.latest().map_err(source_error)?;
            let failed = refused.or_else(|| self.first_not_held(&bundles, number));
            let Some((i, why)) = failed else {
                return Ok(Mined {
                    number,
                    included: bundles.iter().map(|b| b.0).collect(),
                    dropped,
                    public: public_sent,
                });
            };
            // Not whole on the node: back to the snapshot, the public transactions restored, and
            // the block mined again without that bundle.
            self.rpc.request("evm_revert", json!([snapshot])).map_err(source_error)?;
            self.rpc.request("anvil_dropAllTransactions", json!([])).map_err(source_error)?;
            for t in &public {
                let _ = self.rpc.request("eth_sendRawTransaction", json!([t.raw]));
            }
            let (hash, ..) = bundles.remove(i);
            tracing::warn!(target: "xcrack::relay", %hash, reason = %why, "bundle not held by the node's block");
            self.lock().not_taken(hash, number, why.clone());
            dropped.push((hash, why));
        }
    }

    /// The first bundle the node's block `number` does not hold whole: a transaction missing from
    /// it or reverted without leave.
    fn first_not_held(&self, bundles: &[(B256, Vec<Bytes>, Vec<B256>)], number: u64) -> Option<(usize, String)> {
        for (i, (_, txs, may_revert)) in bundles.iter().enumerate() {
            for raw in txs {
                let hash = crate::relay::rpc::tx_hash(raw);
                let r = match self.rpc.request("eth_getTransactionReceipt", json!([hash])) {
                    Ok(r) => r,
                    Err(e) => return Some((i, format!("receipt of {hash}: {e}"))),
                };
                let block = r.get("blockNumber").and_then(Value::as_str).and_then(crate::relay::rpc::parse_quantity);
                if block != Some(number) {
                    return Some((i, format!("{hash} is not in block {number}")));
                }
                let ok = r.get("status").and_then(Value::as_str) == Some("0x1");
                if !ok && !may_revert.contains(&hash) {
                    return Some((i, format!("{hash} reverted in block {number}")));
                }
            }
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Relay> {
        self.relay.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stop(&mut self) {
        self.server.stop();
    }
}

/// A chain over the node's state at `head` (the book simulates on it), numbered and timed as the
/// node's head.
fn chain_at(rpc: &RpcSource, head: &BlockHead, pin: crate::chain::fork::Pin) -> Result<SimChain, String> {
    let db = ForkDb::new(rpc.clone(), pin);
    let mut chain = SimChain::over(crate::chain::fork::Below::Fork(Box::new(db)), pin.chain_id);
    chain.set_spec(crate::chain::simchain::spec_for(pin.chain_id, head.number, head.timestamp));
    chain.start_block(head.number, head.timestamp, head.base_fee.min(u128::from(u64::MAX)) as u64, head.coinbase);
    Ok(chain)
}
