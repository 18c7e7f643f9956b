//! The relay's state and its simulated block builder: bundles received over JSON-RPC wait for their
//! target block; when the block is built they are simulated on its starting state, ranked by payment
//! per gas (coinbase gain / gas used) against rival searchers' bids, and applied atomically. A bundle
//! with a reverting transaction not listed in `revertingTxHashes` is dropped whole.

use std::collections::BTreeMap;

use alloy_consensus::TxEnvelope;
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, Bytes, U256};
use serde_json::Value;

use super::auth;
use super::rpc::{self, CallBundleParams, CallBundleResult, CallBundleTxResult, CancelBundleParams, Response};
use super::rpc::{MAX_BUNDLE_BYTES, MAX_BUNDLE_TXS, SendBundleParams, SendBundleResult, code};
use revm::database::DatabaseRef;

use crate::chain::{ChainEvent, Receipt, SimChain};
use crate::core::BLOCK_GAS_LIMIT;

/// How far ahead of the head a bundle may target (mev-share and builders take ~25 blocks).
pub const MAX_BLOCKS_AHEAD: u64 = 32;
/// Bundles one signer may have waiting, and all signers together.
pub const MAX_PENDING_PER_SIGNER: usize = 256;
pub const MAX_PENDING_TOTAL: usize = 8_192;
/// Outcomes of finished bundles are kept this many blocks, then forgotten.
pub const OUTCOME_RETENTION_BLOCKS: u64 = 1_024;

/// What became of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleOutcome {
    Pending,
    Included {
        block: u64,
        gas_used: u64,
        coinbase_diff: U256,
    },
    /// A rival paid more per gas for a pool this bundle touches.
    Outbid {
        block: u64,
        rival_gas_price: u128,
    },
    /// Simulation or application failed (a revert not allowed, an invalid transaction).
    Failed {
        block: u64,
        reason: String,
    },
    /// Its block was built without it being eligible (e.g. outside its timestamp window) or passed.
    Expired {
        block: u64,
    },
    Cancelled,
    /// Superseded by a bundle with the same `replacementUuid`.
    Replaced {
        by: B256,
    },
}

/// A rival searcher's bundle competing for the same block: the pools it touches and what it pays the
/// builder per gas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RivalBid {
    pub pools: Vec<Address>,
    pub gas_price: u128,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelayStats {
    pub received: u64,
    pub rejected: u64,
    pub simulated: u64,
    pub included: u64,
    pub outbid: u64,
    pub failed: u64,
    pub expired: u64,
    pub cancelled: u64,
    pub replaced: u64,
    /// Of `received`, bundles received again while the same one (hash, block, signer) waited:
    /// answered with its hash, held once.
    #[serde(default)]
    pub duplicates: u64,
}

#[derive(Debug, Clone)]
struct StoredBundle {
    hash: B256,
    signer: Address,
    txs: Vec<Bytes>,
    block: u64,
    min_timestamp: Option<u64>,
    max_timestamp: Option<u64>,
    may_revert: Vec<B256>,
    uuid: Option<String>,
    seq: u64,
}

/// What the builder did for one block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockBuild {
    pub number: u64,
    /// In block order: the bundle hash and its receipts.
    pub included: Vec<(B256, Vec<Receipt>)>,
    /// The included bundles' raw transactions and the hashes each may let revert, in the same order
    /// (a relay in front of a node sends exactly these).
    pub raws: Vec<(Vec<Bytes>, Vec<B256>)>,
}

/// The relay's book: bundles waiting for their block, outcomes, counters and the head it last
/// built on. It holds no chain: whoever owns the chain lends it to `build_block`, and answers
/// `eth_callBundle` (see `relay::port`), so the chain never sits behind the book's lock.
pub struct Relay {
    chain_id: u64,
    head: u64,
    head_timestamp: u64,
    pending: Vec<StoredBundle>,
    outcomes: BTreeMap<B256, BundleOutcome>,
    /// Who sent each bundle with an outcome (only its signer may ask for its stats).
    owners: BTreeMap<B256, Address>,
    pub stats: RelayStats,
    next_seq: u64,
    block_time_s: u64,
    /// (block, hash) of outcomes in the order they became final, for forgetting old ones.
    finished: std::collections::VecDeque<(u64, B256)>,
}

/// A bundle's payment per gas, compared exactly: a/b vs c/d by cross-multiplication.
fn pays_more(a: (U256, u64), b: (U256, u64)) -> bool {
    a.0 * U256::from(b.1.max(1)) > b.0 * U256::from(a.1.max(1))
}

/// An `eth_callBundle` checked against the book (transactions, block numbers) and waiting for the
/// chain's owner to simulate it on the head it was checked against.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub id: Value,
    txs: Vec<Bytes>,
    hashes: Vec<B256>,
    block: u64,
    state: u64,
    timestamp: u64,
}

/// What the book makes of a request: an answer, or a simulation only the chain's owner can run.
#[derive(Debug)]
pub enum Handled {
    Answer(Response),
    Simulate(CallRequest),
}

impl Relay {
    /// A book for bundles on `chain`, whose head it starts from.
    pub fn new<X: DatabaseRef>(chain: &SimChain<X>, block_time_s: u64) -> Self {
        Relay {
            chain_id: chain.chain_id(),
            head: chain.block_number(),
            head_timestamp: chain.timestamp(),
            pending: Vec::new(),
            outcomes: BTreeMap::new(),
            owners: BTreeMap::new(),
            stats: RelayStats::default(),
            next_seq: 0,
            block_time_s,
            finished: std::collections::VecDeque::new(),
        }
    }

    /// The block the book last saw built (bundles must target a later one).
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Bundles waiting for a block.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    pub fn outcome(&self, hash: &B256) -> Option<&BundleOutcome> {
        self.outcomes.get(hash)
    }

    /// Serves one JSON-RPC request body with its `X-Flashbots-Signature` header value, running an
    /// `eth_callBundle` on `chain` at once (for callers that own the chain).
    pub fn handle_on<X: DatabaseRef>(
        &mut self,
        chain: &mut SimChain<X>,
        body: &[u8],
        signature: Option<&str>,
    ) -> Response {
        match self.handle(body, signature) {
            Handled::Answer(r) => r,
            Handled::Simulate(call) => {
                let result = simulate_call(chain, &call);
                self.finish_call(call.id, result)
            }
        }
    }

    /// The answer to a simulated `eth_callBundle`, counted.
    pub fn finish_call(&mut self, id: Value, result: Result<Value, (i64, String)>) -> Response {
        match result {
            Ok(v) => {
                self.stats.simulated += 1;
                Response::ok(id, v)
            }
            Err((c, m)) => {
                self.stats.rejected += 1;
                Response::err(id, c, m)
            }
        }
    }

    /// Serves one JSON-RPC request body with its `X-Flashbots-Signature` header value; an
    /// `eth_callBundle` that passes the book's checks comes back as a simulation to run.
    pub fn handle(&mut self, body: &[u8], signature: Option<&str>) -> Handled {
        Handled::Answer(match self.answer(body, signature) {
            Ok(call) => return Handled::Simulate(call),
            Err(r) => r,
        })
    }

    fn answer(&mut self, body: &[u8], signature: Option<&str>) -> Result<CallRequest, Response> {
        if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            self.stats.rejected += 1;
            return Err(Response::err(
                Value::Null,
                code::INVALID_REQUEST,
                "batch requests are not supported: send one call per request",
            ));
        }
        let req: rpc::Request = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return Err(Response::err(Value::Null, code::PARSE, format!("parse error: {e}"))),
        };
        let id = req.id.clone();
        if req.jsonrpc != "2.0" {
            return Err(Response::err(id, code::INVALID_REQUEST, "jsonrpc must be \"2.0\""));
        }
        let signer = match auth::verify(signature, body) {
            Ok(a) => a,
            Err(e) => return Err(Response::err(id, code::UNAUTHORIZED, e.to_string())),
        };
        let result = match req.method.as_str() {
            "eth_sendBundle" => one_param(&req.params).and_then(|p| self.send_bundle(signer, p)),
            "eth_callBundle" => match one_param(&req.params).and_then(|p| self.check_call(id.clone(), p)) {
                Ok(call) => return Ok(call),
                Err(e) => Err(e),
            },
            "eth_cancelBundle" => one_param(&req.params).and_then(|p| self.cancel_bundle(signer, p)),
            "flashbots_getBundleStatsV2" => one_param(&req.params).and_then(|p| self.bundle_stats(signer, p)),
            other => Err((code::METHOD_NOT_FOUND, format!("method `{other}` not found"))),
        };
        Err(match result {
            Ok(v) => Response::ok(id, v),
            Err((c, m)) => {
                self.stats.rejected += 1;
                Response::err(id, c, m)
            }
        })
    }

    fn send_bundle(&mut self, signer: Address, p: SendBundleParams) -> Result<Value, (i64, String)> {
        let hashes = check_txs(&p.txs, self.chain_id)?;
        let block = rpc::parse_quantity(&p.block_number)
            .ok_or((code::INVALID_PARAMS, format!("blockNumber `{}` is not a hex quantity", p.block_number)))?;
        let head = self.head;
        if block <= head {
            return Err((code::BUNDLE_REJECTED, format!("block {block} is not after the current block {head}")));
        }
        if block > head + MAX_BLOCKS_AHEAD {
            return Err((
                code::BUNDLE_REJECTED,
                format!("block {block} is more than {MAX_BLOCKS_AHEAD} blocks after the current block {head}"),
            ));
        }
        let hash = rpc::bundle_hash(&hashes);
        if self.pending.iter().any(|b| b.hash == hash && b.block == block && b.signer == signer) {
            self.stats.received += 1;
            self.stats.duplicates += 1;
            return Ok(serde_json::to_value(SendBundleResult { bundle_hash: hash }).unwrap_or(Value::Null));
        }
        let replaces =
            |b: &StoredBundle| b.signer == signer && p.replacement_uuid.is_some() && b.uuid == p.replacement_uuid;
        let replaced = self.pending.iter().filter(|b| replaces(b)).count();
        let mine = self.pending.iter().filter(|b| b.signer == signer).count() - replaced;
        if mine >= MAX_PENDING_PER_SIGNER {
            return Err((
                code::BUNDLE_REJECTED,
                format!("{mine} bundles of {signer} are already waiting (limit {MAX_PENDING_PER_SIGNER})"),
            ));
        }
        if self.pending.len() - replaced >= MAX_PENDING_TOTAL {
            return Err((code::BUNDLE_REJECTED, format!("the relay holds {MAX_PENDING_TOTAL} bundles; try later")));
        }
        if let Some(uuid) = &p.replacement_uuid {
            self.pending.retain(|b| {
                let same = b.signer == signer && b.uuid.as_deref() == Some(uuid.as_str());
                if same {
                    self.outcomes.insert(b.hash, BundleOutcome::Replaced { by: hash });
                    self.finished.push_back((head, b.hash));
                    self.stats.replaced += 1;
                }
                !same
            });
        }
        self.next_seq += 1;
        self.pending.push(StoredBundle {
            hash,
            signer,
            txs: p.txs,
            block,
            min_timestamp: p.min_timestamp,
            max_timestamp: p.max_timestamp,
            may_revert: p.reverting_tx_hashes,
            uuid: p.replacement_uuid,
            seq: self.next_seq,
        });
        self.outcomes.insert(hash, BundleOutcome::Pending);
        self.owners.insert(hash, signer);
        self.stats.received += 1;
        Ok(serde_json::to_value(SendBundleResult { bundle_hash: hash }).unwrap_or(Value::Null))
    }

    fn check_call(&mut self, id: Value, p: CallBundleParams) -> Result<CallRequest, (i64, String)> {
        let hashes = check_txs(&p.txs, self.chain_id)?;
        let block = rpc::parse_quantity(&p.block_number)
            .ok_or((code::INVALID_PARAMS, format!("blockNumber `{}` is not a hex quantity", p.block_number)))?;
        let head = self.head;
        let state = if p.state_block_number == "latest" {
            head
        } else {
            rpc::parse_quantity(&p.state_block_number).ok_or((
                code::INVALID_PARAMS,
                format!("stateBlockNumber `{}` is neither a hex quantity nor \"latest\"", p.state_block_number),
            ))?
        };
        if state != head {
            return Err((code::BUNDLE_REJECTED, format!("state of block {state} is not held (latest is {head})")));
        }
        let timestamp = p.timestamp.unwrap_or(self.head_timestamp + self.block_time_s);
        Ok(CallRequest { id, txs: p.txs, hashes, block, state, timestamp })
    }

    /// Flashbots' `flashbots_getBundleStatsV2` for a bundle its signer sent: whether it was
    /// simulated, and (an xcrack field) what became of it at its block. This relay keeps no wall
    /// clock, so Flashbots' `receivedAt`/`simulatedAt` and builder timestamps are absent.
    fn bundle_stats(&mut self, signer: Address, p: rpc::BundleStatsParams) -> Result<Value, (i64, String)> {
        let unknown = || (code::INVALID_PARAMS, format!("bundle {} is not known to this relay", p.bundle_hash));
        let outcome = self.outcomes.get(&p.bundle_hash).ok_or_else(unknown)?;
        if self.owners.get(&p.bundle_hash) != Some(&signer) {
            return Err(unknown());
        }
        let (state, block, reason) = match outcome {
            BundleOutcome::Pending => ("pending", None, None),
            BundleOutcome::Included { block, .. } => ("included", Some(*block), None),
            BundleOutcome::Outbid { block, rival_gas_price } => {
                ("outbid", Some(*block), Some(format!("a rival paid {rival_gas_price} wei per gas")))
            }
            BundleOutcome::Failed { block, reason } => ("failed", Some(*block), Some(reason.clone())),
            BundleOutcome::Expired { block } => ("expired", Some(*block), None),
            BundleOutcome::Cancelled => ("cancelled", None, None),
            BundleOutcome::Replaced { by } => ("replaced", None, Some(format!("by {by}"))),
        };
        let simulated =
            !matches!(outcome, BundleOutcome::Pending | BundleOutcome::Cancelled | BundleOutcome::Replaced { .. });
        Ok(serde_json::json!({
            "isHighPriority": true,
            "isSimulated": simulated,
            "consideredByBuildersAt": [],
            "sealedByBuildersAt": [],
            "xcrackOutcome": { "state": state, "block": block.map(rpc::quantity), "reason": reason },
        }))
    }

    fn cancel_bundle(&mut self, signer: Address, p: CancelBundleParams) -> Result<Value, (i64, String)> {
        let head = self.head;
        self.pending.retain(|b| {
            let hit = b.signer == signer && b.uuid.as_deref() == Some(p.replacement_uuid.as_str());
            if hit {
                self.outcomes.insert(b.hash, BundleOutcome::Cancelled);
                self.finished.push_back((head, b.hash));
                self.stats.cancelled += 1;
            }
            !hit
        });
        Ok(Value::Null)
    }

    /// Starts block `head + 1` on the chain and puts the eligible bundles at its top: best payment per
    /// gas first (arrival order breaks ties), skipping those a rival outbids on a shared pool, each
    /// applied all-or-nothing. Bundles for earlier blocks expire. The caller appends the rest of the
    /// block (public mempool) to the same chain afterwards.
    pub fn build_block<X: DatabaseRef>(
        &mut self,
        chain: &mut SimChain<X>,
        timestamp: u64,
        base_fee: u64,
        coinbase: Address,
        rivals: &[RivalBid],
    ) -> BlockBuild {
        chain.advance_block(timestamp, base_fee, coinbase);
        let number = chain.block_number();
        (self.head, self.head_timestamp) = (number, chain.timestamp());
        while self.finished.front().is_some_and(|(b, _)| b + OUTCOME_RETENTION_BLOCKS < number) {
            if let Some((_, h)) = self.finished.pop_front() {
                self.outcomes.remove(&h);
                self.owners.remove(&h);
            }
        }
        let mut candidates = Vec::new();
        let mut keep = Vec::new();
        for b in std::mem::take(&mut self.pending) {
            if b.block > number {
                keep.push(b);
            } else if b.block < number
                || b.min_timestamp.is_some_and(|t| timestamp < t)
                || b.max_timestamp.is_some_and(|t| timestamp > t)
            {
                self.outcomes.insert(b.hash, BundleOutcome::Expired { block: number });
                self.finished.push_back((number, b.hash));
                self.stats.expired += 1;
            } else {
                candidates.push(b);
            }
        }
        self.pending = keep;
        // Rank on the block's starting state.
        let mut ranked = Vec::new();
        for b in candidates {
            match chain.simulate_signed(&b.txs, number, timestamp) {
                Ok(receipts) => {
                    if let Some(r) = receipts.iter().find(|r| !r.success && !b.may_revert.contains(&r.tx_hash)) {
                        let reason =
                            format!("tx {} reverted: {}", r.tx_hash, r.revert_reason.clone().unwrap_or_default());
                        self.fail(b.hash, number, reason);
                        continue;
                    }
                    let gas: u64 = receipts.iter().map(|r| r.gas_used).sum();
                    let paid: U256 = receipts.iter().map(|r| r.coinbase_diff).fold(U256::ZERO, |a, c| a + c);
                    let pools: Vec<Address> = receipts
                        .iter()
                        .flat_map(|r| r.events())
                        .filter_map(|e| match e {
                            ChainEvent::Swap { pair, .. } => Some(pair),
                            _ => None,
                        })
                        .collect();
                    ranked.push((b, (paid, gas), pools));
                }
                Err((i, e)) => self.fail(b.hash, number, format!("tx {i}: {e}")),
            }
        }
        ranked.sort_by(|a, b| {
            if pays_more(a.1, b.1) {
                std::cmp::Ordering::Less
            } else if pays_more(b.1, a.1) {
                std::cmp::Ordering::Greater
            } else {
                a.0.seq.cmp(&b.0.seq)
            }
        });
        let mut build = BlockBuild { number, included: Vec::new(), raws: Vec::new() };
        for (b, pay, pools) in ranked {
            // A rival wins a shared pool when it pays at least as much per gas.
            let best_rival = rivals
                .iter()
                .filter(|r| r.pools.iter().any(|p| pools.contains(p)))
                .map(|r| r.gas_price)
                .max()
                .filter(|g| !pays_more(pay, (U256::from(*g), 1)));
            if let Some(g) = best_rival {
                self.outcomes.insert(b.hash, BundleOutcome::Outbid { block: number, rival_gas_price: g });
                self.finished.push_back((number, b.hash));
                self.stats.outbid += 1;
                continue;
            }
            match chain.apply_bundle(&b.txs, &b.may_revert) {
                Ok(receipts) => {
                    let gas_used = receipts.iter().map(|r| r.gas_used).sum();
                    let coinbase_diff = receipts.iter().map(|r| r.coinbase_diff).fold(U256::ZERO, |a, c| a + c);
                    self.outcomes.insert(b.hash, BundleOutcome::Included { block: number, gas_used, coinbase_diff });
                    self.finished.push_back((number, b.hash));
                    self.stats.included += 1;
                    build.included.push((b.hash, receipts));
                    build.raws.push((b.txs, b.may_revert));
                }
                Err(f) => self.fail(b.hash, number, f.reason),
            }
        }
        build
    }

    /// A bundle the book counted as included that its node then did not take (a relay in front
    /// of a node): failed after all, with why.
    pub fn not_taken(&mut self, hash: B256, block: u64, reason: String) {
        if matches!(self.outcomes.get(&hash), Some(BundleOutcome::Included { .. })) {
            self.stats.included = self.stats.included.saturating_sub(1);
        }
        self.fail(hash, block, reason);
    }

    fn fail(&mut self, hash: B256, block: u64, reason: String) {
        self.outcomes.insert(hash, BundleOutcome::Failed { block, reason });
        self.finished.push_back((block, hash));
        self.stats.failed += 1;
    }
}

/// Runs a checked `eth_callBundle` on the chain's head and rolls it back: the result as the
/// Flashbots relay shapes it. The head must still be the one the book checked against.
pub fn simulate_call<X: DatabaseRef>(chain: &mut SimChain<X>, call: &CallRequest) -> Result<Value, (i64, String)> {
    let head = chain.block_number();
    if head != call.state {
        return Err((code::BUNDLE_REJECTED, format!("state of block {} is not held (latest is {head})", call.state)));
    }
    let base_fee = u128::from(chain.base_fee());
    let receipts = chain
        .simulate_signed(&call.txs, call.block, call.timestamp)
        .map_err(|(i, e)| (code::BUNDLE_REJECTED, format!("tx {i} ({}): {e}", call.hashes[i])))?;
    let mut results = Vec::with_capacity(receipts.len());
    let (mut total_gas, mut coinbase, mut fees) = (0u64, U256::ZERO, U256::ZERO);
    for r in &receipts {
        let tip = r.effective_gas_price.saturating_sub(base_fee);
        let gas_fees = U256::from(r.gas_used) * U256::from(tip);
        let sent = r.coinbase_diff.saturating_sub(gas_fees);
        total_gas += r.gas_used;
        coinbase += r.coinbase_diff;
        fees += gas_fees;
        results.push(CallBundleTxResult {
            coinbase_diff: r.coinbase_diff.to_string(),
            eth_sent_to_coinbase: sent.to_string(),
            from_address: r.from,
            to_address: r.to,
            gas_fees: gas_fees.to_string(),
            gas_price: (r.coinbase_diff / U256::from(r.gas_used.max(1))).to_string(),
            gas_used: r.gas_used,
            tx_hash: r.tx_hash,
            value: r.success.then(|| r.output.clone()),
            error: (!r.success).then(|| "execution reverted".to_string()),
            revert: if r.success { None } else { r.revert_reason.clone() },
        });
    }
    let out = CallBundleResult {
        bundle_gas_price: (coinbase / U256::from(total_gas.max(1))).to_string(),
        bundle_hash: rpc::bundle_hash(&call.hashes),
        coinbase_diff: coinbase.to_string(),
        eth_sent_to_coinbase: coinbase.saturating_sub(fees).to_string(),
        gas_fees: fees.to_string(),
        results,
        state_block_number: call.state,
        total_gas_used: total_gas,
    };
    Ok(serde_json::to_value(out).unwrap_or(Value::Null))
}

fn one_param<T: serde::de::DeserializeOwned>(params: &Value) -> Result<T, (i64, String)> {
    let arr = params.as_array().ok_or((code::INVALID_PARAMS, "params must be an array of one object".to_string()))?;
    if arr.len() != 1 {
        return Err((code::INVALID_PARAMS, format!("params must hold one object, not {}", arr.len())));
    }
    serde_json::from_value(arr[0].clone()).map_err(|e| (code::INVALID_PARAMS, format!("invalid params: {e}")))
}

/// Size, gas and chain-id limits and decodability; returns the transaction hashes. Checked on the
/// raw transactions before anything is simulated, so no bundle can make the builder run more than
/// one block's gas.
fn check_txs(txs: &[Bytes], chain_id: u64) -> Result<Vec<B256>, (i64, String)> {
    if txs.is_empty() {
        return Err((code::INVALID_PARAMS, "a bundle needs at least one transaction".into()));
    }
    if txs.len() > MAX_BUNDLE_TXS {
        return Err((
            code::BUNDLE_REJECTED,
            format!("{} transactions exceed the limit of {MAX_BUNDLE_TXS}", txs.len()),
        ));
    }
    let bytes: usize = txs.iter().map(|t| t.len()).sum();
    if bytes > MAX_BUNDLE_BYTES {
        return Err((code::BUNDLE_REJECTED, format!("{bytes} bytes exceed the limit of {MAX_BUNDLE_BYTES}")));
    }
    let mut hashes = Vec::with_capacity(txs.len());
    for (i, raw) in txs.iter().enumerate() {
        let mut buf = raw.as_ref();
        let tx = TxEnvelope::decode_2718(&mut buf)
            .map_err(|e| (code::BUNDLE_REJECTED, format!("tx {i} is not a signed transaction: {e}")))?;
        if !buf.is_empty() {
            return Err((code::BUNDLE_REJECTED, format!("tx {i} has {} bytes after the transaction", buf.len())));
        }
        use alloy_consensus::Transaction;
        match tx.chain_id() {
            Some(id) if id == chain_id => {}
            Some(id) => {
                return Err((
                    code::BUNDLE_REJECTED,
                    format!("tx {i} is for chain {id}, this relay is chain {chain_id}"),
                ));
            }
            None => return Err((code::BUNDLE_REJECTED, format!("tx {i} has no chain id (pre-EIP-155, replayable)"))),
        }
        // A block holds a transaction only while its gas limit fits what the block has left, so no
        // limit may exceed the block's; what the bundle really uses is bounded in simulation.
        if tx.gas_limit() > BLOCK_GAS_LIMIT {
            return Err((
                code::BUNDLE_REJECTED,
                format!("tx {i} has a gas limit of {}, more than a block's {BLOCK_GAS_LIMIT}", tx.gas_limit()),
            ));
        }
        hashes.push(rpc::tx_hash(raw));
    }
    Ok(hashes)
}
