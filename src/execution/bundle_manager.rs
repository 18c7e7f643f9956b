//! The BundleManager: signs a strategy's bundle request (our transactions with our next nonces,
//! around the pending transactions it wraps), confirms it by simulation on the chain as the target
//! block (`eth_callBundle` semantics, our token flows checked to the wei against the request), and
//! only then sends it through its sink (the relay's `eth_sendBundle`, or a dry-run record); tracks
//! each bundle's fate. A bundle whose simulation fails is never sent.

use alloy_primitives::{Address, B256, Bytes, U256};

use crate::chain::{ChainEvent, Receipt, SimChain, TxRequest, Wallet};
use crate::core::{BundleRequest, BundleTx, TxId};
use crate::relay::rpc::SendBundleParams;
use crate::relay::{BundleOutcome, RelayClient};

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BundleStats {
    pub built: u64,
    /// Transactions signed through `sign` (strategies that build their own bundles).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub signed: u64,
    pub simulation_failed: u64,
    pub submitted: u64,
    pub submit_failed: u64,
    pub included: u64,
    pub outbid: u64,
    pub failed: u64,
    pub expired: u64,
    /// Superseded by a newer bundle for the same pool and block (more victims, new state).
    pub replaced: u64,
    /// Withdrawn with `eth_cancelBundle` when the opportunity went away.
    pub cancelled: u64,
    /// Sent again for a later block after missing one while its victims were still pending.
    pub resubmitted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A signed bundle of ours (and others' transactions it carries).
#[derive(Clone, Debug)]
pub struct SignedBundle {
    pub txs: Vec<Bytes>,
    /// The signer of each transaction (ours, and the victims' as recovered from the mempool).
    pub senders: Vec<Address>,
    pub target_block: u64,
}

/// A bundle whose simulation passed: the only thing `submit` accepts, so a bundle that failed its
/// simulation cannot be sent.
#[derive(Clone, Debug)]
pub struct Confirmed {
    pub bundle: SignedBundle,
    pub sim: Simulated,
}

/// What the simulation of a bundle showed (our amounts already checked against the plan).
#[derive(Clone, Debug)]
pub struct Simulated {
    pub receipts: Vec<Receipt>,
    pub gas_used: u64,
}

/// Where confirmed bundles go: a relay over HTTP (backtests, live) or a dry-run record of what would
/// have been sent (fork mode).
pub trait BundleSink: Send {
    fn send(&mut self, p: &SendBundleParams) -> Result<B256, String>;
    fn cancel(&mut self, replacement_uuid: &str) -> Result<(), String>;
    /// `send`, told each transaction's sender (known to whoever signed or recovered them): a sink
    /// that records senders need not recover them again.
    fn send_from(&mut self, p: &SendBundleParams, _senders: &[Address]) -> Result<B256, String> {
        self.send(p)
    }
    /// What the relays say of bundle `hash` for `block` (`flashbots_getBundleStatsV2`), where
    /// they offer it: each one's answer, for the record of a bundle that missed its block.
    fn stats(&mut self, _hash: B256, _block: u64) -> Vec<String> {
        Vec::new()
    }
}

impl BundleSink for RelayClient {
    fn send(&mut self, p: &SendBundleParams) -> Result<B256, String> {
        self.send_bundle(p).map_err(|e| e.to_string())
    }
    fn cancel(&mut self, replacement_uuid: &str) -> Result<(), String> {
        self.cancel_bundle(replacement_uuid).map_err(|e| e.to_string())
    }
}

/// Records every bundle it is given and sends nothing (fork mode's sink). Its hash is the relay's
/// rule (keccak of the transactions' hashes), so a dry run names bundles as a relay would. Clones
/// share one record, so the caller keeps a handle after boxing it into a `BundleManager`.
#[derive(Debug, Default, Clone)]
pub struct DryRunSink {
    record: std::sync::Arc<std::sync::Mutex<DryRunRecord>>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DryRunRecord {
    pub sent: Vec<SendBundleParams>,
    pub cancelled: Vec<String>,
}

impl DryRunSink {
    /// What it was given so far.
    pub fn record(&self) -> DryRunRecord {
        self.record.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl BundleSink for DryRunSink {
    fn send(&mut self, p: &SendBundleParams) -> Result<B256, String> {
        let hashes: Vec<B256> = p.txs.iter().map(|t| crate::relay::rpc::tx_hash(t)).collect();
        self.record.lock().unwrap_or_else(|p| p.into_inner()).sent.push(p.clone());
        Ok(crate::relay::rpc::bundle_hash(&hashes))
    }
    fn cancel(&mut self, replacement_uuid: &str) -> Result<(), String> {
        self.record.lock().unwrap_or_else(|p| p.into_inner()).cancelled.push(replacement_uuid.to_string());
        Ok(())
    }
}

/// The chain a bundle is simulated on (the simulated chain now, forked state later).
pub trait BundleChain {
    fn nonce(&mut self, who: Address) -> u64;
    /// Runs signed transactions from their senders as block `number` at `timestamp`, rolled back.
    fn simulate_signed(
        &mut self,
        raws: &[Bytes],
        senders: &[Address],
        number: u64,
        timestamp: u64,
    ) -> Result<Vec<Receipt>, (usize, String)>;
}

impl<X: revm::database::DatabaseRef> BundleChain for SimChain<X> {
    fn nonce(&mut self, who: Address) -> u64 {
        SimChain::nonce(self, who)
    }
    fn simulate_signed(
        &mut self,
        raws: &[Bytes],
        senders: &[Address],
        number: u64,
        timestamp: u64,
    ) -> Result<Vec<Receipt>, (usize, String)> {
        self.simulate_signed_from(raws, senders, number, timestamp).map_err(|(i, e)| (i, e.to_string()))
    }
}

/// `who`'s net flow per token in `receipts` (ERC-20 transfers to it minus from it), by token.
/// Only Transfer logs naming `who` are decoded: this runs on every simulated bundle.
pub fn token_flows_of(receipts: &[Receipt], who: Address) -> Vec<(Address, i128)> {
    let logs = receipts.iter().flat_map(|r| &r.logs).map(|l| (l.address, l.topics(), &l.data.data[..]));
    transfer_flows(logs, who)
}

/// `who`'s net flow per token in ERC-20 `Transfer` logs given as (token, topics, data): transfers to
/// it minus from it, by token address.
pub fn transfer_flows<'a>(
    logs: impl Iterator<Item = (Address, &'a [B256], &'a [u8])>,
    who: Address,
) -> Vec<(Address, i128)> {
    use alloy_sol_types::SolEvent;
    let sig = crate::chain::contracts::ITestERC20::Transfer::SIGNATURE_HASH;
    let mut out: Vec<(Address, i128)> = Vec::new();
    for (token, t, data) in logs {
        if t.len() != 3 || t[0] != sig {
            continue;
        }
        let (from, to) = (Address::from_word(t[1]), Address::from_word(t[2]));
        if from != who && to != who {
            continue;
        }
        let v = U256::from_be_slice(data.get(..32).unwrap_or_default()).saturating_to::<i128>();
        let d = if to == who { v } else { 0 } - if from == who { v } else { 0 };
        match out.iter_mut().find(|(a, _)| *a == token) {
            Some(e) => e.1 += d,
            None => out.push((token, d)),
        }
    }
    out.sort_by_key(|e| e.0);
    out
}

pub struct BundleManager {
    wallet: Wallet,
    sink: Box<dyn BundleSink>,
    pub stats: BundleStats,
    chain_id: u64,
}

/// Amount in and out of `who`'s side of a pair swap, from the Swap events in `r` on `pair`.
fn swap_amounts(r: &Receipt, pair: Address, weth_is_token0: bool, sells_base: bool) -> Option<(U256, U256)> {
    r.events().into_iter().find_map(|e| match e {
        ChainEvent::Swap { pair: p, amount0_in, amount1_in, amount0_out, amount1_out, .. } if p == pair => {
            // (base in, quote in, base out, quote out)
            let (bi, qi, bo, qo) = if weth_is_token0 {
                (amount0_in, amount1_in, amount0_out, amount1_out)
            } else {
                (amount1_in, amount0_in, amount1_out, amount0_out)
            };
            Some(if sells_base { (bi, qo) } else { (qi, bo) })
        }
        _ => None,
    })
}

impl BundleManager {
    pub fn new(wallet: Wallet, client: RelayClient, chain_id: u64) -> Self {
        Self::with_sink(wallet, Box::new(client), chain_id)
    }

    pub fn with_sink(wallet: Wallet, sink: Box<dyn BundleSink>, chain_id: u64) -> Self {
        BundleManager { wallet, sink, stats: BundleStats::default(), chain_id }
    }

    /// Signs our transactions of `req` with our next nonces (from the chain: the source of truth
    /// between blocks) around the pending transactions it wraps, which `wrapped` resolves to their
    /// raw bytes and sender.
    pub fn sign_request(
        &mut self,
        req: &BundleRequest,
        chain: &mut dyn BundleChain,
        wrapped: &dyn Fn(TxId) -> Option<(Bytes, Address)>,
    ) -> Result<SignedBundle, String> {
        self.stats.built += 1;
        let me = self.wallet.address();
        self.wallet.nonce = chain.nonce(me);
        let mut txs = Vec::with_capacity(req.txs.len());
        let mut senders = Vec::with_capacity(req.txs.len());
        for t in &req.txs {
            match t {
                BundleTx::Ours { to, data, value, gas_limit, max_fee_per_gas, max_priority_fee_per_gas } => {
                    let tx = TxRequest {
                        chain_id: self.chain_id,
                        to: *to,
                        data: data.clone(),
                        value: *value,
                        gas_limit: *gas_limit,
                        max_fee_per_gas: *max_fee_per_gas,
                        max_priority_fee_per_gas: *max_priority_fee_per_gas,
                    };
                    let (raw, _) = self.wallet.sign(&tx).map_err(|e| format!("signing: {e}"))?;
                    txs.push(raw);
                    senders.push(me);
                }
                BundleTx::Wrapped(id) => {
                    let (raw, from) = wrapped(*id).ok_or_else(|| format!("pending transaction {} is gone", id.0))?;
                    txs.push(raw);
                    senders.push(from);
                }
            }
        }
        Ok(SignedBundle { txs, senders, target_block: req.target_block })
    }

    /// Simulates `b` (rolled back) and confirms it only when every transaction succeeds and our net
    /// flow in every token equals `expected` to the wei (tokens it does not name must not move).
    pub fn simulate_flows(
        &mut self,
        b: SignedBundle,
        chain: &mut dyn BundleChain,
        timestamp: u64,
        expected: &[(Address, i128)],
    ) -> Result<Confirmed, String> {
        let me = self.wallet.address();
        self.simulate_checked(b, chain, timestamp, |receipts| {
            let got = token_flows_of(receipts, me);
            let flow = |list: &[(Address, i128)], t: &Address| -> i128 {
                list.iter().filter(|(a, _)| a == t).map(|(_, v)| v).sum()
            };
            let tokens = got.iter().chain(expected).map(|(t, _)| *t);
            match tokens.into_iter().find(|t| flow(&got, t) != flow(expected, t)) {
                None => Ok(()),
                Some(t) => Err(format!(
                    "our flow in token {t} is {} in the simulation, the plan says {}",
                    flow(&got, &t),
                    flow(expected, &t)
                )),
            }
        })
    }

    /// Simulates any bundle of ours as its target block on the current state (rolled back):
    /// every transaction must succeed and `check` must accept the receipts (the strategy's own
    /// to-the-wei comparison with its plan) before the bundle becomes `Confirmed`.
    pub fn simulate_checked(
        &mut self,
        b: SignedBundle,
        chain: &mut dyn BundleChain,
        timestamp: u64,
        check: impl FnOnce(&[Receipt]) -> Result<(), String>,
    ) -> Result<Confirmed, String> {
        let out = (|| {
            let receipts = chain
                .simulate_signed(&b.txs, &b.senders, b.target_block, timestamp)
                .map_err(|(i, e)| format!("tx {i}: {e}"))?;
            if let Some((i, r)) = receipts.iter().enumerate().find(|(_, r)| !r.success) {
                return Err(format!("tx {i} reverts: {}", why_reverted(r, b.txs.get(i))));
            }
            check(&receipts)?;
            let gas_used = receipts.iter().map(|r| r.gas_used).sum();
            Ok(Simulated { receipts, gas_used })
        })();
        match out {
            Ok(sim) => Ok(Confirmed { bundle: b, sim }),
            Err(e) => {
                self.stats.simulation_failed += 1;
                Err(e)
            }
        }
    }

    /// What the relays say of bundle `hash` for `block` (see `BundleSink::stats`).
    pub fn relay_stats(&mut self, hash: B256, block: u64) -> Vec<String> {
        self.sink.stats(hash, block)
    }

    /// Our signing address.
    pub fn address(&self) -> Address {
        self.wallet.address()
    }

    /// Takes our next nonce from the chain (the source of truth between blocks).
    pub fn sync_nonce(&mut self, chain: &mut dyn BundleChain) {
        self.wallet.nonce = chain.nonce(self.wallet.address());
    }

    /// Signs one of our transactions with the next nonce (for strategies that build their own
    /// bundles; `build` does this for sandwiches).
    pub fn sign(&mut self, req: &TxRequest) -> Result<Bytes, String> {
        self.stats.signed += 1;
        self.wallet.sign(req).map(|(raw, _)| raw).map_err(|e| format!("signing: {e}"))
    }

    /// Sends a simulated bundle to the relay for its target block.
    pub fn submit(&mut self, c: &Confirmed, replacement_uuid: Option<String>) -> Result<B256, String> {
        let b = &c.bundle;
        let p = SendBundleParams { replacement_uuid, ..SendBundleParams::for_block(b.txs.clone(), b.target_block) };
        match self.sink.send_from(&p, &b.senders) {
            Ok(h) => {
                self.stats.submitted += 1;
                Ok(h)
            }
            Err(e) => {
                self.stats.submit_failed += 1;
                Err(e)
            }
        }
    }

    /// Withdraws the bundle sent under `replacement_uuid`.
    pub fn cancel(&mut self, replacement_uuid: &str) -> Result<(), String> {
        self.sink.cancel(replacement_uuid)?;
        self.stats.cancelled += 1;
        Ok(())
    }

    /// Counts a tracked bundle's final outcome.
    pub fn record(&mut self, outcome: &BundleOutcome) {
        match outcome {
            BundleOutcome::Included { .. } => self.stats.included += 1,
            BundleOutcome::Outbid { .. } => self.stats.outbid += 1,
            BundleOutcome::Failed { .. } => self.stats.failed += 1,
            BundleOutcome::Expired { .. } => self.stats.expired += 1,
            BundleOutcome::Replaced { .. } => self.stats.replaced += 1,
            BundleOutcome::Pending | BundleOutcome::Cancelled => {}
        }
    }
}

/// Our amounts in an applied bundle's receipts: (front-run in, back-run out).
pub fn realised_amounts(
    receipts: &[Receipt],
    pair: Address,
    weth_is_token0: bool,
    sells_base: bool,
) -> Option<(U256, U256)> {
    let (front_in, _) = swap_amounts(receipts.first()?, pair, weth_is_token0, sells_base)?;
    let (_, back_out) = swap_amounts(receipts.last()?, pair, weth_is_token0, !sells_base)?;
    Some((front_in, back_out))
}

/// What a victim's receipt says it paid and got on `pair`: (in, out) in its direction.
pub fn victim_amounts(r: &Receipt, pair: Address, weth_is_token0: bool, sells_base: bool) -> Option<(U256, U256)> {
    swap_amounts(r, pair, weth_is_token0, sells_base)
}

/// A revert's reason; a revert with none that burnt nearly all of its gas limit (a sub-call ran
/// out of gas and the caller bubbled up an empty revert) is said to be that, with the numbers.
fn why_reverted(r: &Receipt, raw: Option<&alloy_primitives::Bytes>) -> String {
    let reason = r.revert_reason.clone().unwrap_or_default();
    if !(reason.is_empty() || reason == "0x") {
        return reason;
    }
    match raw.and_then(|t| crate::mempool::PendingTx::from_raw(t.clone()).ok()).map(|p| p.gas_limit) {
        Some(limit) if r.gas_used.saturating_mul(100) >= limit.saturating_mul(95) => format!(
            "no revert reason after {} of its {limit} gas limit: most likely out of gas (raise the strategy's gas_estimate)",
            r.gas_used
        ),
        _ => "no revert reason".into(),
    }
}
