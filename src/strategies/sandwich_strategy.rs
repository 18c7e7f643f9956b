//! The sandwich strategy: it watches the mempool (raw signed transactions, decoded as live mode
//! decodes them), keeps the victims still pending per pool, and on every arrival and every block
//! decides each pool again: which block to aim at, the best bundle (`sandwich::plan`), and whether
//! to send it, replace the one it sent under the same replacement id, or withdraw it. It owns its
//! records and its booked wallet, settled from the bundle results the world reports.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;

use super::sandwich::{Market, SandwichPlan, Victim, plan};
use crate::chain::contracts::ISearcherExecutor;
use crate::config::SandwichSpec;
use crate::core::{
    Action, BundleReport, BundleRequest, BundleStatus, BundleTx, Ctx, DexBook, Event, NANOS_PER_SEC, PoolId, SimTime,
    Strategy, StrategyError, StrategyId, TxId,
};
use crate::mempool::{PendingTx, SwapMethod, decode_swap};

/// One bundle we built, and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct SandwichRecord {
    pub block: u64,
    pub pool: usize,
    pub sells_base: bool,
    pub victims: usize,
    pub front_in_raw: U256,
    pub predicted_back_out_raw: U256,
    pub realised_back_out_raw: Option<U256>,
    /// In-token raw units (WETH wei or quote raw): back-run out − front-run in.
    pub predicted_gross_raw: i128,
    pub realised_gross_raw: Option<i128>,
    /// Gas our two transactions paid (wei), when included.
    pub gas_wei: u128,
    pub bribe_wei: u128,
    /// Quote raw per whole ETH at decision (the pool's price): the mark for the quote columns.
    pub mark: u128,
    pub success_probability: f64,
    pub outcome: &'static str,
    pub reason: String,
    pub bundle_hash: Option<B256>,
}

impl SandwichRecord {
    /// Every outcome a record can end with (`""` before its bundle is built).
    pub const OUTCOMES: [&'static str; 12] = [
        "",
        "pending",
        "simulation_failed",
        "submit_failed",
        "risk_refused",
        "replaced",
        "cancelled",
        "included",
        "outbid",
        "failed",
        "expired",
        "not_sent",
    ];

    /// Realised gross in quote raw units at the mark.
    pub fn gross_quote(&self) -> i128 {
        let g = self.realised_gross_raw.unwrap_or(0);
        if self.sells_base { crate::core::base_to_quote(g, self.mark, 18) } else { g }
    }
    pub fn gas_quote(&self) -> i128 {
        crate::core::wei_to_quote(self.gas_wei, self.mark) as i128
    }
    pub fn bribe_quote(&self) -> i128 {
        crate::core::wei_to_quote(self.bribe_wei, self.mark) as i128
    }
    pub fn net_quote(&self) -> i128 {
        self.gross_quote() - self.gas_quote() - self.bribe_quote()
    }
}

/// A decoded victim still waiting in the mempool.
struct Waiting {
    view: Victim,
    id: TxId,
    from: Address,
    nonce: u64,
}

impl Waiting {
    /// Can it run inside a bundle on its pool and side? Only when every earlier nonce of its sender
    /// since the chain's is pending on the same pool and side with at least its tip (a builder
    /// puts it first): otherwise the bundle fails on `NonceTooHigh`.
    fn wrappable(&self, pending: &[Waiting], chain_nonce: u64) -> bool {
        let earlier: Vec<&Waiting> = pending.iter().filter(|q| q.from == self.from && q.nonce < self.nonce).collect();
        self.nonce.checked_sub(chain_nonce) == Some(earlier.len() as u64)
            && earlier.iter().all(|q| {
                q.view.pool == self.view.pool
                    && q.view.sells_base == self.view.sells_base
                    && q.view.priority_fee_wei >= self.view.priority_fee_wei
            })
    }
}

pub struct SandwichStrategy {
    spec: SandwichSpec,
    /// Our index in the strategy manager: bundle results come back under it.
    slot: u16,
    fee_bps: Vec<u32>,
    block_time: SimTime,
    genesis_timestamp: u64,
    pending: Vec<Waiting>,
    /// Our bundle out per (pool, target block): its record.
    live: BTreeMap<(usize, u64), u64>,
    /// Pools whose bundle missed the block just built.
    missed: Vec<usize>,
    seq: u64,
    pub records: Vec<SandwichRecord>,
    /// Pools passed over, by reason, once per decision.
    pub skips: BTreeMap<&'static str, u64>,
    /// Our wallet as booked: (WETH, quote, ETH).
    pub booked: [u128; 3],
    /// Sent again for a later block after missing one while its victims were still pending.
    pub resubmitted: u64,
}

pub const ID: StrategyId = StrategyId("sandwich");

impl SandwichStrategy {
    pub fn new(
        spec: SandwichSpec,
        slot: u16,
        fee_bps: Vec<u32>,
        block_time: SimTime,
        genesis_timestamp: u64,
        wallet: [u128; 3],
    ) -> Self {
        SandwichStrategy {
            spec,
            slot,
            fee_bps,
            block_time,
            genesis_timestamp,
            pending: Vec::new(),
            live: BTreeMap::new(),
            missed: Vec::new(),
            seq: 0,
            records: Vec::new(),
            skips: BTreeMap::new(),
            booked: wallet,
            resubmitted: 0,
        }
    }

    pub fn uuid(pool: usize, block: u64) -> String {
        format!("sandwich-pool-{pool}-block-{block}")
    }

    /// A pending swap on one of our pools, as a victim: decoded from its raw bytes (sender
    /// recovered from the signature), its pool named by the router it calls.
    fn victim(&mut self, raw: &Bytes, dex: &DexBook) -> Option<(Victim, Address, u64)> {
        let tx = PendingTx::from_raw(raw.clone()).ok()?;
        let swap = decode_swap(tx.to?, &tx.input, tx.value)?;
        if swap.method == SwapMethod::DirectPairSwap {
            return None;
        }
        let pool = dex.pool_of_router(swap.target)?;
        // Only a swap through our pair moves it: a router also serves other pairs and longer paths.
        let sells_base = match swap.path.as_slice() {
            [a, b] if *a == dex.weth && *b == dex.quote => true,
            [a, b] if *a == dex.quote && *b == dex.weth => false,
            _ => return None,
        };
        self.seq += 1;
        let view = Victim {
            tx_hash: tx.hash,
            pool,
            sells_base,
            limit: swap.limit,
            priority_fee_wei: tx.max_priority_fee_per_gas,
            arrival_seq: self.seq,
            after: None,
        };
        Some((view, tx.from, tx.nonce))
    }

    /// Plans `pool` at time `t` (the chain's head is `head`; the next block is built at
    /// `block_at`) and sends, replaces or withdraws our bundle for it.
    fn decide(&mut self, pool: usize, t: SimTime, head: u64, block_at: SimTime, ctx: &Ctx<'_>, out: &mut Vec<Action>) {
        let Some(dex) = ctx.chain.dex() else { return };
        // A bundle that cannot reach the relay before the block is built aims at the one after.
        let target = if t + self.spec.submit_latency <= block_at { head + 1 } else { head + 2 };
        let blocks_ahead = target - head;
        let timestamp = self.genesis_timestamp + (block_at + (blocks_ahead - 1) * self.block_time) / NANOS_PER_SEC;
        let views: Vec<Victim> = self
            .pending
            .iter()
            .filter(|p| p.view.pool == pool && p.wrappable(&self.pending, ctx.chain.nonce(p.from)))
            .map(|p| {
                let previous = self.pending.iter().find(|q| q.from == p.from && q.nonce + 1 == p.nonce);
                Victim { after: previous.map(|q| q.view.tx_hash), ..p.view.clone() }
            })
            .collect();
        let (rb, rq) = ctx.market.reserves(PoolId(pool as u16));
        let market = Market {
            pool,
            reserve_base: rb,
            reserve_quote: rq,
            fee_bps: self.fee_bps[pool],
            base: U256::from(self.booked[0]),
            quote: U256::from(self.booked[1]),
            native: self.booked[2],
            base_fee_wei: ctx.market.block().base_fee_wei,
        };
        let mark: u128 = (rq * U256::from(10u128.pow(18)) / rb.max(U256::from(1u8))).saturating_to();
        let p = match plan(&self.spec, &market, &views) {
            Ok(p) => p,
            Err(skip) => {
                *self.skips.entry(skip.as_str()).or_default() += 1;
                // The opportunity is gone: withdraw what we sent for it.
                if self.live.remove(&(pool, target)).is_some() {
                    out.push(Action::Cancel { replacement_id: Self::uuid(pool, target) });
                }
                return;
            }
        };
        let wrapped: Vec<TxId> =
            p.victims.iter().filter_map(|h| self.pending.iter().find(|x| x.view.tx_hash == *h).map(|x| x.id)).collect();
        let tag = self.records.len() as u64;
        self.records.push(SandwichRecord {
            block: target,
            pool,
            sells_base: p.sells_base,
            victims: p.victims.len(),
            front_in_raw: p.run.front_in,
            predicted_back_out_raw: p.run.back_out,
            realised_back_out_raw: None,
            predicted_gross_raw: p.run.gross_profit(),
            realised_gross_raw: None,
            gas_wei: 0,
            bribe_wei: p.bribe_wei,
            mark,
            success_probability: p.success_probability,
            outcome: "",
            reason: String::new(),
            bundle_hash: None,
        });
        let req = bundle_request(&p, dex, &wrapped, tag, target, timestamp, ctx.chain.head_base_fee(), ctx.now);
        out.push(Action::Bundle(Box::new(req)));
    }

    /// Books a bundle's news into its record (and the wallet, when it landed).
    fn settle(&mut self, r: &BundleReport, dex: &DexBook) {
        let Some(rec) = self.records.get_mut(r.tag as usize) else { return };
        let key = (rec.pool, rec.block);
        match r.status {
            BundleStatus::Submitted => {
                rec.bundle_hash = r.hash;
                rec.outcome = "pending";
                self.live.insert(key, r.tag);
            }
            BundleStatus::SimulationFailed => {
                *self.skips.entry("simulation_failed").or_default() += 1;
                (rec.outcome, rec.reason) = ("simulation_failed", r.reason.clone());
            }
            BundleStatus::SubmitFailed => (rec.outcome, rec.reason) = ("submit_failed", r.reason.clone()),
            BundleStatus::Refused => {
                *self.skips.entry("risk_limit").or_default() += 1;
                (rec.outcome, rec.reason) = ("risk_refused", r.reason.clone());
            }
            BundleStatus::Replaced => rec.outcome = "replaced",
            BundleStatus::Cancelled => rec.outcome = "cancelled",
            BundleStatus::Included => {
                let (token_in, _) = if rec.sells_base { (dex.weth, dex.quote) } else { (dex.quote, dex.weth) };
                let front_in = r.ours.first().map(|t| -t.flow(token_in)).unwrap_or(0).max(0) as u128;
                let back_out = r.ours.last().map(|t| t.flow(token_in)).unwrap_or(0).max(0) as u128;
                let gas: u128 = r.ours.iter().map(|t| t.gas_wei()).sum();
                rec.realised_back_out_raw = Some(U256::from(back_out));
                rec.realised_gross_raw = Some(back_out as i128 - front_in as i128);
                rec.gas_wei = gas;
                rec.outcome = "included";
                let i = if rec.sells_base { 0 } else { 1 };
                self.booked[i] = self.booked[i] + back_out - front_in;
                self.booked[2] -= gas + rec.bribe_wei;
                self.live.remove(&key);
            }
            // A dry run: the bundle would have gone to the relay for this block; nothing landed.
            BundleStatus::NotSent => {
                rec.outcome = "not_sent";
                self.live.remove(&key);
            }
            BundleStatus::Outbid | BundleStatus::Failed | BundleStatus::Expired => {
                rec.outcome = match r.status {
                    BundleStatus::Outbid => "outbid",
                    BundleStatus::Failed => "failed",
                    _ => "expired",
                };
                rec.reason = r.reason.clone();
                rec.bribe_wei = 0;
                self.live.remove(&key);
                self.missed.push(key.0);
            }
        }
    }
}

/// Our front-run and back-run around `wrapped` as a bundle request: the front-run buys exactly
/// what the plan says; the back-run returns exactly the planned amount and pays the bribe from the
/// value it carries. Our expected flows: `back_out − front_in` of the in token, nothing of the out
/// token.
#[allow(clippy::too_many_arguments)]
pub fn bundle_request(
    p: &SandwichPlan,
    dex: &DexBook,
    wrapped: &[TxId],
    tag: u64,
    target_block: u64,
    timestamp: u64,
    head_base_fee: u128,
    now: SimTime,
) -> BundleRequest {
    let (_, pair) = dex.pools[p.pool];
    let w0 = dex.weth_is_token0();
    let (token_in, token_out) = if p.sells_base { (dex.weth, dex.quote) } else { (dex.quote, dex.weth) };
    // Output amounts in the pair's token0/token1 order: the output token is token0 unless the
    // input is.
    let outs = |out: U256, input_is_weth: bool| {
        if input_is_weth == w0 { (U256::ZERO, out) } else { (out, U256::ZERO) }
    };
    let hop = |token: Address, amount_in: U256, out: U256, input_is_weth: bool| {
        let (a0, a1) = outs(out, input_is_weth);
        ISearcherExecutor::Hop {
            pair,
            tokenIn: token,
            amountIn: amount_in,
            amount0Out: a0,
            amount1Out: a1,
            to: dex.searcher,
        }
    };
    let r = &p.run;
    let front = ISearcherExecutor::executeCall {
        hops: vec![hop(token_in, r.front_in, r.front_out, p.sells_base)],
        profitToken: token_out,
        minProfit: r.front_out,
        coinbasePayment: U256::ZERO,
    };
    let back = ISearcherExecutor::executeCall {
        hops: vec![hop(token_out, r.front_out, r.back_out, !p.sells_base)],
        profitToken: token_in,
        minProfit: r.back_out,
        coinbasePayment: U256::from(p.bribe_wei),
    };
    let ours = |data: Vec<u8>, value: u128| BundleTx::Ours {
        to: dex.executor,
        data: data.into(),
        value: U256::from(value),
        gas_limit: p.gas_limit,
        max_fee_per_gas: 2 * head_base_fee + p.priority_fee_wei,
        max_priority_fee_per_gas: p.priority_fee_wei,
    };
    let mut txs = Vec::with_capacity(wrapped.len() + 2);
    txs.push(ours(front.abi_encode(), 0));
    txs.extend(wrapped.iter().map(|id| BundleTx::Wrapped(*id)));
    txs.push(ours(back.abi_encode(), p.bribe_wei));
    BundleRequest {
        tag,
        target_block,
        timestamp,
        txs,
        expected_flows: vec![(token_in, r.gross_profit()), (token_out, 0)],
        replacement_id: Some(SandwichStrategy::uuid(p.pool, target_block)),
        pools: vec![p.pool as u16],
        gas_wei: p.gas_wei,
        bribe_wei: p.bribe_wei,
        expected_net_wei: p.net_wei(),
        decided_at: now,
        contest: None,
        accounts: Vec::new(),
    }
}

impl Strategy for SandwichStrategy {
    fn id(&self) -> StrategyId {
        ID
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Ctx<'_>, out: &mut Vec<Action>) -> Result<(), StrategyError> {
        let Some(dex) = ctx.chain.dex() else { return Ok(()) };
        match *event {
            Event::PendingTx { id, seen_at } => {
                let Some(raw) = ctx.chain.pending_raw(id) else { return Ok(()) };
                let Some((view, from, nonce)) = self.victim(raw, dex) else { return Ok(()) };
                let pool = view.pool;
                self.pending.push(Waiting { view, id, from, nonce });
                let head = ctx.market.block().number;
                self.decide(pool, seen_at, head, ctx.chain.next_block_at(), ctx, out);
            }
            Event::BundleResult { strategy, tag } if strategy == self.slot => {
                if let Some(r) = ctx.chain.bundle_report(strategy, tag) {
                    let dex = dex.clone();
                    self.settle(&r.clone(), &dex);
                }
            }
            Event::Block(b) => {
                // Mined or invalid swaps left the mempool; late arrivals wait for the next block.
                self.pending.retain(|p| ctx.chain.in_mempool(&p.view.tx_hash));
                self.live.retain(|(_, target), _| *target > b.number);
                // The state moved: every pool with victims still waiting is decided again on it. A
                // pool whose bundle just missed its block while its victims wait is a resubmission.
                let missed = std::mem::take(&mut self.missed);
                for pool in 0..self.fee_bps.len() {
                    if self.pending.iter().any(|p| p.view.pool == pool) {
                        if missed.contains(&pool) {
                            self.resubmitted += 1;
                        }
                        self.decide(pool, ctx.now, b.number, ctx.chain.next_block_at(), ctx, out);
                    }
                }
            }
            Event::Quote { .. } | Event::BundleResult { .. } | Event::Position { .. } | Event::Timer { .. } => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::SwapLimit;

    fn waiting(from: u8, nonce: u64, pool: usize, sells_base: bool, tip: u128, seq: u64) -> Waiting {
        let view = Victim {
            tx_hash: B256::with_last_byte(seq as u8),
            pool,
            sells_base,
            limit: SwapLimit::ExactIn { amount_in: U256::from(1u8), min_out: U256::ZERO },
            priority_fee_wei: tip,
            arrival_seq: seq,
            after: None,
        };
        Waiting { view, id: TxId(seq as u32), from: Address::with_last_byte(from), nonce }
    }

    #[test]
    fn only_swaps_through_our_pair_are_victims() {
        use crate::chain::contracts::IUniswapV2Router02 as R;
        let (weth, quote, other) = (Address::with_last_byte(1), Address::with_last_byte(2), Address::with_last_byte(3));
        let router = Address::with_last_byte(9);
        let dex = DexBook {
            weth,
            quote,
            executor: Address::ZERO,
            searcher: Address::ZERO,
            pools: vec![(router, Address::with_last_byte(10))],
        };
        let spec = SandwichSpec {
            enabled: true,
            min_profit_quote: 0,
            bribe_share: 0.5,
            min_success_probability: 0.0,
            priority_fee_wei: 0,
            gas_estimate: 110_000,
            rival_probability: 0.0,
            rival_bid_median_wei: 0.0,
            rival_bid_sigma: 0.0,
            submit_latency: 0,
        };
        let mut s = SandwichStrategy::new(spec, 0, vec![30], 12, 0, [0; 3]);
        let mut w = crate::chain::Wallet::derived(1, "victim");
        let mut raw = |path: Vec<Address>| {
            let call = R::swapExactTokensForTokensCall {
                amountIn: U256::from(5u8),
                amountOutMin: U256::ZERO,
                path,
                to: Address::ZERO,
                deadline: U256::MAX,
            };
            let req = crate::chain::TxRequest {
                chain_id: 1,
                to: router,
                data: call.abi_encode().into(),
                value: U256::ZERO,
                gas_limit: 300_000,
                max_fee_per_gas: 10,
                max_priority_fee_per_gas: 1,
            };
            w.sign(&req).unwrap().0
        };
        let ours = [raw(vec![weth, quote]), raw(vec![quote, weth])];
        let not_ours = [raw(vec![weth, other]), raw(vec![weth, quote, other]), raw(vec![other, weth, quote])];
        let sides: Vec<bool> = ours.iter().map(|r| s.victim(r, &dex).unwrap().0.sells_base).collect();
        assert_eq!(sides, [true, false]);
        assert!(not_ours.iter().all(|r| s.victim(r, &dex).is_none()), "another pair or a longer path is not ours");
    }

    #[test]
    fn a_victim_behind_its_own_pending_nonce_elsewhere_is_not_wrapped() {
        // Sender 1: nonce 5 on pool 0 selling, nonce 6 on pool 0 selling with a lower tip: both fit.
        let p = vec![waiting(1, 5, 0, true, 3, 1), waiting(1, 6, 0, true, 2, 2)];
        assert!(p[0].wrappable(&p, 5) && p[1].wrappable(&p, 5));
        // Nonce 6 would be ordered first (higher tip than nonce 5): it waits.
        let p = vec![waiting(1, 5, 0, true, 1, 1), waiting(1, 6, 0, true, 2, 2)];
        assert!(p[0].wrappable(&p, 5) && !p[1].wrappable(&p, 5));
        // Nonce 5 is on the other pool, or buying: nonce 6 cannot run in a bundle on pool 0 selling.
        for other in [waiting(1, 5, 1, true, 3, 1), waiting(1, 5, 0, false, 3, 1)] {
            let p = vec![other, waiting(1, 6, 0, true, 2, 2)];
            assert!(!p[1].wrappable(&p, 5));
        }
        // A gap the mempool does not show (nonce 5 unseen): not wrappable either.
        let p = vec![waiting(1, 6, 0, true, 2, 2)];
        assert!(!p[0].wrappable(&p, 5) && p[0].wrappable(&p, 6));
        // Another sender's nonces do not matter.
        let p = vec![waiting(2, 9, 1, false, 9, 1), waiting(1, 6, 0, true, 2, 2)];
        assert!(p[1].wrappable(&p, 6));
    }
}
