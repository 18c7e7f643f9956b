//! The sandwich backtest: pending victim swaps arrive (generated or replayed from a fixture), the
//! sandwich strategy sizes a bundle per pool, the BundleManager signs and simulates it and sends it
//! over real HTTP to our relay, whose builder puts the winning bundles at the top of the next block;
//! the rest of the public mempool follows. Everything runs in the EVM, block by block.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;
use rand::RngExt;
use rand_distr::StandardNormal;

use crate::chain::contracts::{ITestERC20, IUniswapV2Router02 as R};
use crate::chain::simchain::actor;
use crate::chain::world::{DexDeployment, deploy_dex_for};
use crate::chain::{ChainError, SimChain, TxRequest, Wallet};
use crate::config::RunSpec;
use crate::core::rng::component_rng;
use crate::core::{BLOCK_GAS_LIMIT, NANOS_PER_SEC, SimTime, next_base_fee};
use crate::execution::bundle_manager::{BundleManager, BundleStats, Simulated, realised_amounts, victim_amounts};
use crate::market::dex::GENESIS_TIMESTAMP;
use crate::mempool::generator::{intents, limit_for};
use crate::mempool::{SwapLimit, SwapMethod};
use crate::relay::{BundleOutcome, Relay, RelayClient, RelayServer, RelayStats, RivalBid};
use crate::strategies::sandwich::{Market, Victim, plan};

#[derive(Debug, thiserror::Error)]
pub enum SandwichRunError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("relay: {0}")]
    Relay(String),
}

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
    /// Realised gross in quote raw units at the mark.
    pub fn gross_quote(&self) -> i128 {
        let g = self.realised_gross_raw.unwrap_or(0);
        if self.sells_base { g * self.mark as i128 / 10i128.pow(18) } else { g }
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

/// A victim swap and what it cost the victim to be sandwiched, versus executing without us.
#[derive(Clone, Debug, PartialEq)]
pub struct VictimRecord {
    pub tx_hash: B256,
    pub block: Option<u64>,
    pub pool: usize,
    pub method: SwapMethod,
    pub sells_base: bool,
    pub sandwiched: bool,
    pub succeeded: bool,
    /// Exact in: what it received; exact out: what it paid (raw units of that token).
    pub alone_raw: Option<U256>,
    pub actual_raw: Option<U256>,
    /// Positive = the victim is worse off by this many raw units of the token above.
    pub loss_raw: i128,
    /// Decimals of the token `loss_raw` is in.
    pub loss_decimals: u32,
}

pub struct SandwichResult {
    pub records: Vec<SandwichRecord>,
    pub victims: Vec<VictimRecord>,
    pub bundles: BundleStats,
    pub relay: RelayStats,
    pub skips: BTreeMap<&'static str, u64>,
    pub blocks: u64,
    /// Our wallet: booked (initial + every realised change) vs on the chain, (WETH, quote, ETH).
    pub booked: [u128; 3],
    pub on_chain: [u128; 3],
    pub initial: [u128; 3],
    pub final_base_fee_wei: u128,
}

/// A victim waiting in the public mempool.
struct Pending {
    view: Victim,
    raw: Bytes,
    from: Address,
    method: SwapMethod,
    /// When it reached the mempool (the builder sees it `propagation` later).
    at: SimTime,
}

/// The sandwich loop's own state between blocks.
struct Loop<'a> {
    spec: &'a RunSpec,
    dex: &'a DexDeployment,
    relay: Arc<Mutex<Relay>>,
    manager: BundleManager,
    pending: Vec<Pending>,
    records: Vec<SandwichRecord>,
    skips: BTreeMap<&'static str, u64>,
    /// Our wallet as booked: (WETH, quote, ETH).
    booked: [u128; 3],
    base_fee: u128,
    /// Our live bundle per (pool, target block): its record and simulation.
    live: BTreeMap<(usize, u64), (usize, Simulated)>,
}

impl Loop<'_> {
    fn uuid(pool: usize, block: u64) -> String {
        format!("sandwich-pool-{pool}-block-{block}")
    }

    /// Plans `pool` at time `t` (the chain's head is `head`; the next block is built at
    /// `block_at`) and sends, replaces or withdraws our bundle for it.
    fn decide(&mut self, pool: usize, t: SimTime, head: u64, block_at: SimTime) {
        let spec = self.spec;
        // A bundle that cannot reach the relay before the block is built aims at the one after.
        let target = if t + spec.sandwich.submit_latency <= block_at { head + 1 } else { head + 2 };
        let blocks_ahead = target - head;
        let timestamp = GENESIS_TIMESTAMP + (block_at + (blocks_ahead - 1) * spec.chain.block_time) / NANOS_PER_SEC;
        let views: Vec<Victim> = self.pending.iter().filter(|p| p.view.pool == pool).map(|p| p.view.clone()).collect();
        let mut r = lock(&self.relay);
        let chain = r.chain();
        let (rb, rq) = self.dex.reserves(chain, pool);
        let market = Market {
            pool,
            reserve_base: rb,
            reserve_quote: rq,
            fee_bps: spec.dex[pool].fee_bps,
            base: U256::from(self.booked[0]),
            quote: U256::from(self.booked[1]),
            native: self.booked[2],
            base_fee_wei: self.base_fee,
        };
        let mark: u128 = (rq * U256::from(10u128.pow(18)) / rb.max(U256::from(1u8))).saturating_to();
        let p = match plan(&spec.sandwich, &market, &views) {
            Ok(p) => p,
            Err(skip) => {
                drop(r);
                *self.skips.entry(skip.as_str()).or_default() += 1;
                // The opportunity is gone: withdraw what we sent for it.
                if let Some((idx, _)) = self.live.remove(&(pool, target))
                    && self.manager.cancel(&Self::uuid(pool, target)).is_ok()
                {
                    self.records[idx].outcome = "cancelled";
                }
                return;
            }
        };
        let raws: Vec<(Bytes, Address)> = p
            .victims
            .iter()
            .filter_map(|h| self.pending.iter().find(|x| x.view.tx_hash == *h).map(|x| (x.raw.clone(), x.from)))
            .collect();
        let mut rec = SandwichRecord {
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
        };
        let confirmed = self
            .manager
            .build(&p, self.dex, &raws, chain, target)
            .and_then(|b| self.manager.simulate(b, &p, self.dex, chain, timestamp));
        drop(r);
        let confirmed = match confirmed {
            Ok(c) => c,
            Err(reason) => {
                *self.skips.entry("simulation_failed").or_default() += 1;
                rec.outcome = "simulation_failed";
                rec.reason = reason;
                self.records.push(rec);
                return;
            }
        };
        match self.manager.submit(&confirmed, Some(Self::uuid(pool, target))) {
            Ok(h) => {
                rec.bundle_hash = Some(h);
                rec.outcome = "pending";
                if let Some((old, _)) = self.live.insert((pool, target), (self.records.len(), confirmed.sim)) {
                    self.records[old].outcome = "replaced";
                    self.manager.stats.replaced += 1;
                }
            }
            Err(e) => {
                rec.outcome = "submit_failed";
                rec.reason = e;
            }
        }
        self.records.push(rec);
    }

    /// What each pending victim would get (or pay) without us: all of them in builder order on
    /// the current state, as block `number`.
    fn alone(&mut self, number: u64, timestamp: u64) -> BTreeMap<B256, U256> {
        let mut order: Vec<&Pending> = self.pending.iter().collect();
        order.sort_by(|a, b| Victim::builder_order(&a.view, &b.view));
        let raws: Vec<Bytes> = order.iter().map(|p| p.raw.clone()).collect();
        let senders: Vec<Address> = order.iter().map(|p| p.from).collect();
        let mut out = BTreeMap::new();
        let mut r = lock(&self.relay);
        if let Ok(receipts) = r.chain().simulate_signed_from(&raws, &senders, number, timestamp) {
            for (p, rc) in order.iter().zip(&receipts) {
                if let Some(a) = victim_side(rc, p, self.dex) {
                    out.insert(p.view.tx_hash, a);
                }
            }
        }
        out
    }

    /// Books a bundle's fate: realised amounts and gas when included.
    fn settle(&mut self, idx: usize, outcome: BundleOutcome, receipts: &[crate::chain::Receipt]) {
        let rec = &mut self.records[idx];
        match outcome {
            BundleOutcome::Included { .. } => {
                let pair = self.dex.venues[rec.pool].pair;
                let (front_in, back_out) =
                    realised_amounts(receipts, pair, self.dex.weth_is_token0(), rec.sells_base).unwrap_or_default();
                let ours = [receipts.first(), receipts.last()];
                let gas: u128 = ours.iter().flatten().map(|rc| u128::from(rc.gas_used) * rc.effective_gas_price).sum();
                rec.realised_back_out_raw = Some(back_out);
                rec.realised_gross_raw = Some(back_out.saturating_to::<i128>() - front_in.saturating_to::<i128>());
                rec.gas_wei = gas;
                rec.outcome = "included";
                let i = if rec.sells_base { 0 } else { 1 };
                self.booked[i] = self.booked[i] + back_out.saturating_to::<u128>() - front_in.saturating_to::<u128>();
                self.booked[2] -= gas + rec.bribe_wei;
            }
            BundleOutcome::Outbid { rival_gas_price, .. } => {
                rec.outcome = "outbid";
                rec.reason = format!("a rival paid {rival_gas_price} wei per gas");
                rec.bribe_wei = 0;
            }
            BundleOutcome::Failed { reason, .. } => {
                rec.outcome = "failed";
                rec.reason = reason;
                rec.bribe_wei = 0;
            }
            other => {
                rec.outcome = "expired";
                rec.reason = format!("{other:?}");
                rec.bribe_wei = 0;
            }
        }
    }
}

/// Everyone's chain state lives in the relay (its builder mines the blocks); we hold its lock only
/// between HTTP calls.
fn lock(relay: &Arc<Mutex<Relay>>) -> MutexGuard<'_, Relay> {
    relay.lock().unwrap_or_else(|p| p.into_inner())
}

const VICTIM_WALLETS: usize = 16;

pub fn run(spec: &RunSpec) -> Result<SandwichResult, SandwichRunError> {
    let mut chain = SimChain::new(spec.chain_id);
    let wallet = Wallet::derived(spec.seed, "xcrack/searcher");
    let me = wallet.address();
    let reserves: Vec<_> = spec.dex.iter().map(|d| (d.reserve_base, d.reserve_quote)).collect();
    let dex = deploy_dex_for(&mut chain, spec.quote_decimals as u8, &reserves, me)?;
    let initial = [spec.wallet_base, spec.wallet_quote, spec.wallet_native];
    dex.fund_exactly(&mut chain, me, initial)?;
    dex.approve(&mut chain, me, &[(dex.weth, dex.executor), (dex.usdc, dex.executor)])?;
    // Victims: named fixture senders plus a pool of generated wallets, all rich and approved.
    let mut names: Vec<String> = spec.mempool.pending.iter().map(|p| p.sender.clone()).collect();
    names.extend((0..VICTIM_WALLETS).map(|i| format!("generated-{i}")));
    names.sort();
    names.dedup();
    let mut victim_wallets: BTreeMap<String, Wallet> = BTreeMap::new();
    for n in names {
        let w = Wallet::derived(spec.seed, &format!("victim/{n}"));
        dex.fund_deep(&mut chain, w.address())?;
        victim_wallets.insert(n, w);
    }
    let base_fee = spec.chain.base_fee_wei;
    let block_s = (spec.chain.block_time / NANOS_PER_SEC).max(1);
    let builder = actor("xcrack/builder");
    chain.advance_block(GENESIS_TIMESTAMP, base_fee.min(u128::from(u64::MAX)) as u64, builder);
    chain.end_block();

    let relay = Arc::new(Mutex::new(Relay::new(chain, block_s)));
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut server = RelayServer::start(relay.clone(), loopback).map_err(|e| SandwichRunError::Relay(e.to_string()))?;
    tracing::info!(target: "xcrack::relay", addr = %server.addr(), "embedded relay listening");
    let client = RelayClient::new(server.addr(), Wallet::derived(spec.seed, "xcrack/flashbots-auth"));
    let manager = BundleManager::new(wallet, client, spec.chain_id);

    // The flow of victims: the fixture's exact list, then generated intents, by arrival.
    let mut rng_victims = component_rng(spec.seed, "mempool/victims");
    let generated = intents(&spec.mempool, spec.dex.len(), spec.duration, &mut rng_victims);
    let mut arrivals: Vec<(SimTime, u64, Arrival)> = Vec::new();
    for (i, p) in spec.mempool.pending.iter().enumerate() {
        arrivals.push((p.at, i as u64, Arrival::Fixture(i)));
    }
    for (i, g) in generated.iter().enumerate() {
        arrivals.push((g.at, (spec.mempool.pending.len() + i) as u64, Arrival::Generated(i)));
    }
    arrivals.sort_by_key(|a| (a.0, a.1));
    let mut next_arrival = 0;
    let mut rng_rivals = component_rng(spec.seed, "sandwich/rivals");
    let mut rng_gas = component_rng(spec.seed, "chain/utilization");

    let mut lp = Loop {
        spec,
        dex: &dex,
        relay: relay.clone(),
        manager,
        pending: Vec::new(),
        records: Vec::new(),
        skips: BTreeMap::new(),
        booked: initial,
        base_fee,
        live: BTreeMap::new(),
    };
    let mut victims_out: Vec<VictimRecord> = Vec::new();
    let mut seq = 0u64;
    let blocks = spec.duration / spec.chain.block_time;
    for k in 1..=blocks {
        let now = k * spec.chain.block_time;
        let head = lock(&relay).chain().block_number();
        // 1. Victims arrive during the slot, signed by their wallets; each arrival re-decides its
        //    pool (a bigger bundle replaces the smaller one under the same replacementUuid).
        while next_arrival < arrivals.len() && arrivals[next_arrival].0 < now {
            let (at, _, a) = &arrivals[next_arrival];
            let (at, a) = (*at, a);
            next_arrival += 1;
            let signed = {
                let mut r = lock(&relay);
                let chain = r.chain();
                let (pool, sells_base, method, limit, fee, sender) = match *a {
                    Arrival::Fixture(i) => {
                        let p = &spec.mempool.pending[i];
                        (p.pool, p.sells_base, p.method, p.limit, p.priority_fee_wei, p.sender.clone())
                    }
                    Arrival::Generated(i) => {
                        let g = &generated[i];
                        let (rb, rq) = dex.reserves(chain, g.pool);
                        let Some((method, limit)) = limit_for(g, rb, rq, spec.dex[g.pool].fee_bps, spec.quote_decimals)
                        else {
                            continue;
                        };
                        (
                            g.pool,
                            g.sells_base,
                            method,
                            limit,
                            g.priority_fee_wei,
                            format!("generated-{}", i % VICTIM_WALLETS),
                        )
                    }
                };
                let Some(w) = victim_wallets.get_mut(&sender) else { continue };
                let addr = w.address();
                // Nonces: the chain's, plus this sender's transactions still waiting.
                w.nonce = chain.nonce(addr) + lp.pending.iter().filter(|p| p.from == addr).count() as u64;
                let (data, value) = router_call(method, limit, sells_base, &dex, addr);
                let req = TxRequest {
                    chain_id: spec.chain_id,
                    to: dex.venues[pool].router,
                    data: data.into(),
                    value,
                    gas_limit: 300_000,
                    max_fee_per_gas: 4 * lp.base_fee + fee,
                    max_priority_fee_per_gas: fee,
                };
                let Ok((raw, hash)) = w.sign(&req) else { continue };
                seq += 1;
                Pending {
                    view: Victim { tx_hash: hash, pool, sells_base, limit, priority_fee_wei: fee, arrival_seq: seq },
                    raw,
                    from: addr,
                    method,
                    at,
                }
            };
            let pool = signed.view.pool;
            lp.pending.push(signed);
            lp.decide(pool, at, head, now);
        }
        // 2. What each pending victim would get without us (builder order, on the pre-block state).
        let target = head + 1;
        let timestamp = GENESIS_TIMESTAMP + now / NANOS_PER_SEC;
        let alone = lp.alone(target, timestamp);
        // 3. The block: rivals bid on pools with victims; bundles first (payment per gas), then the
        //    public swaps that reached the builder in time.
        let mut rivals = Vec::new();
        for pool in 0..spec.dex.len() {
            if lp.pending.iter().any(|p| p.view.pool == pool) {
                let ours = lp.live.get(&(pool, target)).map(|(_, sim)| sim);
                rival_bid(spec, &mut rng_rivals, &dex, pool, ours, &mut rivals);
            }
        }
        let mut r = lock(&relay);
        let build = r.build_block(timestamp, lp.base_fee.min(u128::from(u64::MAX)) as u64, builder, &rivals);
        let mut mined: BTreeMap<B256, crate::chain::Receipt> = BTreeMap::new();
        let mut in_bundle: BTreeMap<B256, ()> = BTreeMap::new();
        for (_, receipts) in &build.included {
            for rc in receipts {
                mined.insert(rc.tx_hash, rc.clone());
                in_bundle.insert(rc.tx_hash, ());
            }
        }
        let mut missed_pools = Vec::new();
        let ours: Vec<(usize, (usize, Simulated))> =
            lp.live.iter().filter(|((_, b), _)| *b == target).map(|((p, _), v)| (*p, v.clone())).collect();
        for (pool, (idx, _)) in ours {
            lp.live.remove(&(pool, target));
            let h = lp.records[idx].bundle_hash.unwrap_or_default();
            let outcome = r.outcome(&h).cloned().unwrap_or(BundleOutcome::Pending);
            lp.manager.record(&outcome);
            let receipts = build.included.iter().find(|(bh, _)| *bh == h).map(|(_, rc)| rc.clone()).unwrap_or_default();
            if !matches!(outcome, BundleOutcome::Included { .. }) {
                missed_pools.push(pool);
            }
            lp.settle(idx, outcome, &receipts);
        }
        let chain = r.chain();
        let mut public: Vec<&Pending> = lp
            .pending
            .iter()
            .filter(|p| !mined.contains_key(&p.view.tx_hash) && p.at + spec.mempool.propagation <= now)
            .collect();
        public.sort_by(|a, b| Victim::builder_order(&a.view, &b.view));
        let mut dropped: BTreeMap<B256, ()> = BTreeMap::new();
        for p in public {
            match chain.apply_raw(&p.raw) {
                Ok(rc) => {
                    mined.insert(p.view.tx_hash, rc);
                }
                Err(_) => {
                    dropped.insert(p.view.tx_hash, ());
                }
            }
        }
        for p in &lp.pending {
            let Some(rc) = mined.get(&p.view.tx_hash) else { continue };
            let actual = if rc.success { victim_side(rc, p, &dex) } else { None };
            let alone_v = alone.get(&p.view.tx_hash).copied();
            let exact_in = matches!(p.view.limit, SwapLimit::ExactIn { .. });
            let loss = match (alone_v, actual) {
                (Some(a), Some(b)) if exact_in => a.saturating_to::<i128>() - b.saturating_to::<i128>(),
                (Some(a), Some(b)) => b.saturating_to::<i128>() - a.saturating_to::<i128>(),
                _ => 0,
            };
            // Exact in: the loss is in the token received; exact out: in the token paid.
            let loss_in_base = p.view.sells_base != exact_in;
            victims_out.push(VictimRecord {
                tx_hash: p.view.tx_hash,
                block: Some(target),
                pool: p.view.pool,
                method: p.method,
                sells_base: p.view.sells_base,
                sandwiched: in_bundle.contains_key(&p.view.tx_hash),
                succeeded: rc.success,
                alone_raw: alone_v,
                actual_raw: actual,
                loss_raw: loss,
                loss_decimals: if loss_in_base { 18 } else { spec.quote_decimals },
            });
        }
        // Mined or invalid swaps leave the mempool; late arrivals wait for the next block.
        lp.pending.retain(|p| !mined.contains_key(&p.view.tx_hash) && !dropped.contains_key(&p.view.tx_hash));
        // 4. Base fee: the rest of mainnet (utilisation model) plus what our chain used.
        let z: f64 = rng_gas.sample(StandardNormal);
        let u = (spec.chain.utilization_mean + spec.chain.utilization_sigma * z).clamp(0.0, 2.0);
        let used =
            ((u * (BLOCK_GAS_LIMIT / 2) as f64) as u64).saturating_add(chain.block_gas_used()).min(BLOCK_GAS_LIMIT);
        if !spec.chain.fixed_base_fee {
            lp.base_fee = next_base_fee(lp.base_fee, used, BLOCK_GAS_LIMIT);
        }
        chain.end_block();
        drop(r);
        // 5. The state moved: every pool with victims still waiting is decided again on it. A pool
        //    whose bundle just missed its block while its victims wait is a resubmission.
        let next_head = target;
        for pool in 0..spec.dex.len() {
            if lp.pending.iter().any(|p| p.view.pool == pool) {
                if missed_pools.contains(&pool) {
                    lp.manager.stats.resubmitted += 1;
                }
                lp.decide(pool, now, next_head, now + spec.chain.block_time);
            }
        }
    }
    let (records, skips, booked, base_fee, manager) = (lp.records, lp.skips, lp.booked, lp.base_fee, lp.manager);
    let (relay_stats, on_chain) = {
        let mut r = lock(&relay);
        let chain = r.chain();
        let bal = |c: &mut SimChain, t: Address| -> Result<u128, ChainError> {
            let o = c.view(me, t, ITestERC20::balanceOfCall { owner: me }.abi_encode().into())?;
            Ok(U256::from_be_slice(o.output.get(..32).unwrap_or_default()).saturating_to())
        };
        let on_chain = [bal(chain, dex.weth)?, bal(chain, dex.usdc)?, chain.balance(me).saturating_to()];
        (r.stats.clone(), on_chain)
    };
    server.stop();
    Ok(SandwichResult {
        records,
        victims: victims_out,
        bundles: manager.stats.clone(),
        relay: relay_stats,
        skips,
        blocks,
        booked,
        on_chain,
        initial,
        final_base_fee_wei: base_fee,
    })
}

enum Arrival {
    Fixture(usize),
    Generated(usize),
}

/// What the victim received (exact in) or paid (exact out), from its receipt's Swap event.
fn victim_side(rc: &crate::chain::Receipt, p: &Pending, dex: &DexDeployment) -> Option<U256> {
    let pair = dex.venues[p.view.pool].pair;
    let (paid, got) = victim_amounts(rc, pair, dex.weth_is_token0(), p.view.sells_base)?;
    Some(if matches!(p.view.limit, SwapLimit::ExactIn { .. }) { got } else { paid })
}

/// A rival sandwicher, present with the configured probability, bidding a lognormal total payment.
/// Its payment per gas is taken on our bundle's gas (the same victims, the same work); without a
/// bundle of ours there is nothing for it to beat, but the draw is made anyway so that our choices
/// do not shift the rivals' random stream.
fn rival_bid(
    spec: &RunSpec,
    rng: &mut crate::core::rng::SimRng,
    dex: &DexDeployment,
    pool: usize,
    ours: Option<&crate::execution::bundle_manager::Simulated>,
    out: &mut Vec<RivalBid>,
) {
    let s = &spec.sandwich;
    let present = rng.random::<f64>() < s.rival_probability;
    let z: f64 = rng.sample(StandardNormal);
    let payment = s.rival_bid_median_wei * (s.rival_bid_sigma * z).exp();
    let (Some(sim), true) = (ours, present) else { return };
    // The victims' own tips are in every sandwich of them, the rival's too.
    let victim_tips: U256 =
        sim.receipts[1..sim.receipts.len() - 1].iter().map(|r| r.coinbase_diff).fold(U256::ZERO, |a, c| a + c);
    let total = U256::from(payment as u128) + victim_tips;
    let per_gas = (total / U256::from(sim.gas_used.max(1))).saturating_to();
    out.push(RivalBid { pools: vec![dex.venues[pool].pair], gas_price: per_gas });
}

/// Router02 calldata and value for a victim's swap.
fn router_call(
    method: SwapMethod,
    limit: SwapLimit,
    sells_base: bool,
    dex: &DexDeployment,
    to: Address,
) -> (Vec<u8>, U256) {
    let path = if sells_base { vec![dex.weth, dex.usdc] } else { vec![dex.usdc, dex.weth] };
    let deadline = U256::MAX;
    let (ai, ao) = match limit {
        SwapLimit::ExactIn { amount_in, min_out } => (amount_in, min_out),
        SwapLimit::ExactOut { amount_out, max_in } => (max_in, amount_out),
        SwapLimit::PairOut { .. } => (U256::ZERO, U256::ZERO),
    };
    match method {
        SwapMethod::ExactTokensForTokens => (
            R::swapExactTokensForTokensCall { amountIn: ai, amountOutMin: ao, path, to, deadline }.abi_encode(),
            U256::ZERO,
        ),
        SwapMethod::TokensForExactTokens => (
            R::swapTokensForExactTokensCall { amountOut: ao, amountInMax: ai, path, to, deadline }.abi_encode(),
            U256::ZERO,
        ),
        SwapMethod::ExactEthForTokens => {
            (R::swapExactETHForTokensCall { amountOutMin: ao, path, to, deadline }.abi_encode(), ai)
        }
        SwapMethod::EthForExactTokens => {
            (R::swapETHForExactTokensCall { amountOut: ao, path, to, deadline }.abi_encode(), ai)
        }
        SwapMethod::ExactTokensForEth => (
            R::swapExactTokensForETHCall { amountIn: ai, amountOutMin: ao, path, to, deadline }.abi_encode(),
            U256::ZERO,
        ),
        SwapMethod::TokensForExactEth => (
            R::swapTokensForExactETHCall { amountOut: ao, amountInMax: ai, path, to, deadline }.abi_encode(),
            U256::ZERO,
        ),
        SwapMethod::DirectPairSwap => (Vec::new(), U256::ZERO),
    }
}
