//! The sandwich world: our DEX contracts on a SimChain held by the embedded relay, victims signed by
//! their own wallets arriving in the public mempool (a fixture's exact list, then generated
//! intents), rival sandwichers bidding at the builder, and blocks: bundles first by payment per
//! gas, then the public swaps that reached the builder in time. Our bundles go through the bundle
//! manager (sign → simulate → flows checked to the wei → relay over HTTP).

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;
use rand::RngExt;
use rand_distr::StandardNormal;
use revm::database::DatabaseRef;

use super::desk::{BundleDesk, RelayHost};
use crate::chain::contracts::IUniswapV2Router02 as R;
use crate::chain::simchain::actor;
use crate::chain::world::{DexDeployment, deploy_dex_for};
use crate::chain::{ChainError, Receipt, SimChain, TxRequest, Wallet};
use crate::config::RunSpec;
use crate::core::rng::{SimRng, component_rng};
use crate::core::strategy::{AssetSpec, CexSpec, Inventory, MarketView, PoolSpec};
use crate::core::{
    Action, AssetId, BLOCK_GAS_LIMIT, BlockInfo, BookSnapshot, BundleReport, BundleStatus, ChainView, DexBook, Event,
    NANOS_PER_SEC, OurTxEffect, PoolId, SimTime, SkipReason, TxId, VenueId, next_base_fee,
};
use crate::engine::driver::{Assessment, Decision, Schedule, World};
use crate::engine::sandwich::VictimRecord;
use crate::execution::bundle_manager::{BundleManager, Simulated, token_flows_of, victim_amounts};
use crate::market::dex::GENESIS_TIMESTAMP;
use crate::mempool::generator::{Intent, intents, limit_for};
use crate::mempool::{SwapLimit, SwapMethod};
use crate::relay::{BlockBuild, BundleOutcome, Relay, RelayClient, RivalBid};
use crate::risk::RiskGate;
use crate::strategies::sandwich::Victim;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SandwichEvent {
    /// The i-th victim (fixture first, then generated, by arrival) reaches the mempool.
    Arrival(u32),
    /// Block k is built (at k × block time).
    Block(u64),
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

enum Arrival {
    Fixture(usize),
    Generated(usize),
}

/// One bundle of ours at the relay.
struct Live {
    strategy: u16,
    tag: u64,
    pool: usize,
    target: u64,
    hash: B256,
    sim: Simulated,
}

const VICTIM_WALLETS: usize = 16;

/// The sandwich flow: victims arriving in the public mempool, rival sandwichers, our bundles at the
/// relay and what became of every victim. It owns no chain and no relay: the world that does (this
/// file's `SandwichWorld`, or a world with other flows on the same chain) lends them at each step.
pub struct SandwichFlow<'a> {
    spec: &'a RunSpec,
    pub dex: DexDeployment,
    book: DexBook,
    victim_wallets: BTreeMap<String, Wallet>,
    arrivals: Vec<(SimTime, u64, Arrival)>,
    generated: Vec<Intent>,
    rng_rivals: SimRng,
    rng_gas: SimRng,
    builder: Address,
    pub base_fee: u128,
    pub head_base_fee: u128,
    pub head: u64,
    pub next_block_at: SimTime,
    blocks: u64,
    pending: Vec<Pending>,
    seq: u64,
    /// Our bundles at the relay, by replacement id.
    live: BTreeMap<String, Live>,
    pub victims_out: Vec<VictimRecord>,
    me: Address,
    pools: Vec<PoolSpec>,
    /// Block timestamps are this plus simulated seconds (our genesis's, or a forked block's).
    pub genesis_ts: u64,
}

/// The sandwich world on its own chain: our DEX contracts, our wallet, the victims' wallets, and
/// the embedded relay.
pub struct SandwichWorld<'a, X: DatabaseRef = crate::chain::fork::Below> {
    /// The chain is the world's; the relay's book borrows it to build a block.
    chain: SimChain<X>,
    host: RelayHost,
    pub desk: BundleDesk,
    pub flow: SandwichFlow<'a>,
    pub initial: [u128; 3],
}

/// What a block's build needs from the flow before the builder runs: each pending victim's outcome
/// without us, and the rivals' bids.
pub struct PreBuild {
    alone: BTreeMap<B256, U256>,
    pub rivals: Vec<RivalBid>,
    target: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SandwichRunError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("forked state: {0}")]
    Fork(#[from] crate::chain::fork::ForkError),
    #[error("{0}")]
    Forked(String),
    #[error("relay: {0}")]
    Relay(String),
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl<'a> SandwichWorld<'a> {
    /// Genesis: our contracts, our wallet exactly as `[account]` says, victims' wallets rich and
    /// approved; the relay listening on loopback.
    pub fn new(spec: &'a RunSpec) -> Result<Self, SandwichRunError> {
        let mut chain = SimChain::new(spec.chain_id);
        let me = Wallet::derived(spec.seed, "xcrack/searcher").address();
        let reserves: Vec<_> = spec.dex.iter().map(|d| (d.reserve_base, d.reserve_quote)).collect();
        let dex = deploy_dex_for(&mut chain, spec.quote_decimals as u8, &reserves, me)?;
        SandwichWorld::assemble(spec, chain, dex, GENESIS_TIMESTAMP)
    }
}

impl<'a, S: crate::chain::fork::StateSource> SandwichWorld<'a, crate::chain::fork::ForkDb<S>> {
    /// Genesis on a fork (`[chain.fork]`): the chain continues from the pinned block's state
    /// (`timestamp` its time); the pools, tokens and router are the chain's own (`venues`), our
    /// executor is deployed there and our wallet and the victims' funded in memory, as in ours.
    pub fn forked(
        spec: &'a RunSpec,
        db: crate::chain::fork::ForkDb<S>,
        timestamp: u64,
        venues: Vec<crate::chain::world::DexVenue>,
    ) -> Result<Self, SandwichRunError> {
        let fork = spec.chain.fork.as_ref().ok_or(SandwichRunError::Internal("no [chain.fork]"))?;
        let pin = db.pin();
        let mut chain = SimChain::over(db, spec.chain_id);
        chain.set_spec(crate::chain::simchain::spec_for(spec.chain_id, pin.number + 1, timestamp));
        chain.start_block(pin.number + 1, timestamp, 0, actor("xcrack/builder"));
        let me = Wallet::derived(spec.seed, "xcrack/searcher").address();
        chain.set_balance(me, U256::from(10u128.pow(22)));
        let dex = DexDeployment::existing(&mut chain, (fork.weth, fork.quote), venues, fork.quote_balance_slot, me)?;
        chain.set_balance(me, U256::ZERO);
        SandwichWorld::assemble(spec, chain, dex, timestamp)
    }
}

impl<'a, X: DatabaseRef> SandwichWorld<'a, X> {
    /// Our wallet exactly as `[account]` says and approved for the executor, the victims' flow,
    /// the first block at `genesis_ts`, and the relay listening on loopback.
    fn assemble(
        spec: &'a RunSpec,
        mut chain: SimChain<X>,
        dex: DexDeployment,
        genesis_ts: u64,
    ) -> Result<Self, SandwichRunError> {
        let wallet = Wallet::derived(spec.seed, "xcrack/searcher");
        let me = wallet.address();
        let initial = [spec.wallet_base, spec.wallet_quote, spec.wallet_native];
        dex.fund_exactly(&mut chain, me, initial)?;
        dex.approve(&mut chain, me, &[(dex.weth, dex.executor), (dex.usdc, dex.executor)])?;
        let mut flow = SandwichFlow::new(spec, &mut chain, dex, me)?;
        flow.genesis_ts = genesis_ts;
        let base_fee = spec.chain.base_fee_wei;
        chain.advance_block(genesis_ts, base_fee.min(u128::from(u64::MAX)) as u64, flow.builder);
        chain.end_block();
        flow.head = chain.block_number();
        flow.head_base_fee = u128::from(chain.base_fee());
        let block_s = (spec.chain.block_time / NANOS_PER_SEC).max(1);
        let host = RelayHost::start(&chain, block_s).map_err(|e| SandwichRunError::Relay(e.to_string()))?;
        let client = RelayClient::new(host.addr(), Wallet::derived(spec.seed, "xcrack/flashbots-auth"));
        let manager = BundleManager::new(wallet, client, spec.chain_id);
        Ok(SandwichWorld { chain, host, desk: BundleDesk::new(manager), flow, initial })
    }

    /// The chain's database (a fork's reads and counters).
    pub fn db(&mut self) -> &mut crate::chain::simchain::Db<X> {
        self.chain.db()
    }

    pub fn blocks(&self) -> u64 {
        self.flow.blocks
    }

    pub fn base_fee(&self) -> u128 {
        self.flow.base_fee
    }

    /// Our wallet on the chain (WETH, quote, ETH) and the relay's counters; stops the relay.
    pub fn finish(
        mut self,
    ) -> Result<([u128; 3], crate::relay::RelayStats, BundleManager, Vec<VictimRecord>), ChainError> {
        let on_chain = wallet_on_chain(&mut self.chain, &self.flow.dex, self.flow.me)?;
        let stats = self.host.lock().stats.clone();
        self.host.stop();
        Ok((on_chain, stats, self.desk.manager, self.flow.victims_out))
    }

    /// Block `k`: rivals bid on pools with victims; bundles first (payment per gas), then the public
    /// swaps that reached the builder in time; our bundles' fates reported; the base fee moves.
    fn block(&mut self, now: SimTime, risk: &mut RiskGate, out: &mut Vec<Event>) {
        let flow = &mut self.flow;
        let pre = flow.before_build(&mut self.chain, now);
        let timestamp = flow.genesis_ts + now / NANOS_PER_SEC;
        let mut r = self.host.lock();
        let base_fee = flow.base_fee.min(u128::from(u64::MAX)) as u64;
        let build = r.build_block(&mut self.chain, timestamp, base_fee, flow.builder, &pre.rivals);
        let news = flow.settle(&mut self.chain, &r, &build, &mut self.desk, pre, now, risk);
        drop(r);
        flow.close_block(&mut self.chain, now);
        for (strategy, report) in news {
            self.desk.report(strategy, report, out);
        }
        out.push(Event::Block(flow.block_info()));
    }
}

/// `me`'s (WETH, quote, ETH) on the chain, through the tokens' own `balanceOf`.
pub fn wallet_on_chain<X: DatabaseRef>(
    chain: &mut SimChain<X>,
    dex: &DexDeployment,
    me: Address,
) -> Result<[u128; 3], ChainError> {
    let bal = |c: &mut SimChain<X>, t: Address| -> Result<u128, ChainError> {
        let call = crate::chain::contracts::ITestERC20::balanceOfCall { owner: me };
        let o = c.view(me, t, call.abi_encode().into())?;
        Ok(U256::from_be_slice(o.output.get(..32).unwrap_or_default()).saturating_to())
    };
    Ok([bal(chain, dex.weth)?, bal(chain, dex.usdc)?, chain.balance(me).saturating_to()])
}

impl<'a> SandwichFlow<'a> {
    /// The victims' wallets (named fixture senders plus a pool of generated ones, all rich and
    /// approved) on `chain`, where `dex` is deployed and `me` is our address; the flow of victims.
    pub fn new<X: DatabaseRef>(
        spec: &'a RunSpec,
        chain: &mut SimChain<X>,
        dex: DexDeployment,
        me: Address,
    ) -> Result<Self, ChainError> {
        let mut names: Vec<String> = spec.mempool.pending.iter().map(|p| p.sender.clone()).collect();
        names.extend((0..VICTIM_WALLETS).map(|i| format!("generated-{i}")));
        names.sort();
        names.dedup();
        let mut victim_wallets: BTreeMap<String, Wallet> = BTreeMap::new();
        for n in names {
            let w = Wallet::derived(spec.seed, &format!("victim/{n}"));
            dex.fund_deep(chain, w.address())?;
            victim_wallets.insert(n, w);
        }
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
        let book = dex.book();
        let pools = spec
            .dex
            .iter()
            .enumerate()
            .map(|(i, d)| PoolSpec {
                id: PoolId(i as u16),
                name: d.name.clone(),
                asset: AssetId(0),
                fee_bps: d.fee_bps,
                swap_gas: 0,
            })
            .collect();
        Ok(SandwichFlow {
            spec,
            dex,
            book,
            victim_wallets,
            arrivals,
            generated,
            rng_rivals: component_rng(spec.seed, "sandwich/rivals"),
            rng_gas: component_rng(spec.seed, "chain/utilization"),
            builder: actor("xcrack/builder"),
            base_fee: spec.chain.base_fee_wei,
            head_base_fee: 0,
            head: 0,
            next_block_at: spec.chain.block_time,
            blocks: spec.duration / spec.chain.block_time,
            pending: Vec::new(),
            seq: 0,
            live: BTreeMap::new(),
            victims_out: Vec::new(),
            me,
            pools,
            genesis_ts: GENESIS_TIMESTAMP,
        })
    }

    pub fn book(&self) -> &DexBook {
        &self.book
    }

    /// Schedules every victim's arrival before the run's last block, as `event(i)`.
    pub fn schedule_arrivals<E>(&self, q: &mut dyn Schedule<E>, event: impl Fn(u32) -> E) {
        let last = self.blocks * self.spec.chain.block_time;
        for (i, a) in self.arrivals.iter().enumerate() {
            if a.0 < last {
                q.schedule(a.0, event(i as u32));
            }
        }
    }

    /// The i-th victim reaches the mempool: announced to the strategies.
    pub fn on_arrival<X: DatabaseRef>(
        &mut self,
        chain: &mut SimChain<X>,
        desk: &mut BundleDesk,
        i: u32,
        out: &mut Vec<Event>,
    ) {
        let Some(p) = self.arrive(chain, i as usize) else { return };
        let id = desk.announce(p.raw.clone(), p.from);
        let seen_at = p.at;
        self.pending.push(p);
        out.push(Event::PendingTx { id, seen_at });
    }

    /// The replacement ids of our bundles for `block`.
    pub fn bundles_for(&self, block: u64) -> Vec<String> {
        self.live.iter().filter(|(_, l)| l.target == block).map(|(u, _)| u.clone()).collect()
    }

    pub fn in_mempool(&self, hash: &B256) -> bool {
        self.pending.iter().any(|p| p.view.tx_hash == *hash)
    }

    /// Our bundles at the relay (a replacement takes its predecessor's place).
    pub fn bundles_out(&self, req: &crate::core::BundleRequest) -> u32 {
        super::desk::bundles_out(&self.live, req)
    }

    /// Does the bundle move a token the allowlist does not name?
    pub fn foreign(&self, req: &crate::core::BundleRequest) -> bool {
        super::desk::moves_foreign_token(self.spec, self.dex.weth, self.dex.usdc, req)
    }

    /// A victim reaches the mempool, signed by its wallet.
    fn arrive<X: DatabaseRef>(&mut self, chain: &mut SimChain<X>, i: usize) -> Option<Pending> {
        let spec = self.spec;
        let (at, _, a) = &self.arrivals[i];
        let at = *at;
        let (pool, sells_base, method, limit, fee, sender) = match *a {
            Arrival::Fixture(i) => {
                let p = &spec.mempool.pending[i];
                (p.pool, p.sells_base, p.method, p.limit, p.priority_fee_wei, p.sender.clone())
            }
            Arrival::Generated(i) => {
                let g = &self.generated[i];
                let (rb, rq) = self.dex.reserves(chain, g.pool);
                let (method, limit) = limit_for(g, rb, rq, spec.dex[g.pool].fee_bps, spec.quote_decimals)?;
                (g.pool, g.sells_base, method, limit, g.priority_fee_wei, format!("generated-{}", i % VICTIM_WALLETS))
            }
        };
        let w = self.victim_wallets.get_mut(&sender)?;
        let addr = w.address();
        // Nonces: the chain's, plus this sender's transactions still waiting.
        w.nonce = chain.nonce(addr) + self.pending.iter().filter(|p| p.from == addr).count() as u64;
        let (data, value) = router_call(method, limit, sells_base, &self.dex, addr);
        let req = TxRequest {
            chain_id: spec.chain_id,
            to: self.dex.venues[pool].router,
            data: data.into(),
            value,
            gas_limit: 300_000,
            max_fee_per_gas: 4 * self.base_fee + fee,
            max_priority_fee_per_gas: fee,
        };
        let (raw, hash) = w.sign(&req).ok()?;
        self.seq += 1;
        Some(Pending {
            view: Victim {
                tx_hash: hash,
                pool,
                sells_base,
                limit,
                priority_fee_wei: fee,
                arrival_seq: self.seq,
                after: None,
            },
            raw,
            from: addr,
            method,
            at,
        })
    }

    /// What each pending victim would get (or pay) without us: all of them in builder order on
    /// the current state, as block `number`.
    fn alone<X: DatabaseRef>(&mut self, chain: &mut SimChain<X>, number: u64, timestamp: u64) -> BTreeMap<B256, U256> {
        let mut order: Vec<&Pending> = self.pending.iter().collect();
        order.sort_by(|a, b| Victim::builder_order(&a.view, &b.view));
        let raws: Vec<Bytes> = order.iter().map(|p| p.raw.clone()).collect();
        let senders: Vec<Address> = order.iter().map(|p| p.from).collect();
        let mut out = BTreeMap::new();
        if let Ok(receipts) = chain.simulate_signed_from(&raws, &senders, number, timestamp) {
            for (p, rc) in order.iter().zip(&receipts) {
                if let Some(a) = victim_side(rc, p, &self.dex) {
                    out.insert(p.view.tx_hash, a);
                }
            }
        }
        out
    }

    /// Before block `head + 1` is built: what each victim would get without us, and the rivals'
    /// bids on pools with victims.
    pub fn before_build<X: DatabaseRef>(&mut self, chain: &mut SimChain<X>, now: SimTime) -> PreBuild {
        let spec = self.spec;
        let target = self.head + 1;
        let timestamp = self.genesis_ts + now / NANOS_PER_SEC;
        let alone = self.alone(chain, target, timestamp);
        let mut rivals = Vec::new();
        for pool in 0..spec.dex.len() {
            if self.pending.iter().any(|p| p.view.pool == pool) {
                let ours = self.live.values().find(|l| l.pool == pool && l.target == target).map(|l| &l.sim);
                rival_bid(spec, &mut self.rng_rivals, &self.dex, pool, ours, &mut rivals);
            }
        }
        PreBuild { alone, rivals, target }
    }

    /// After the builder put the bundles on top of the block: our bundles' fates (what to report to
    /// which strategy), then the public swaps that reached the builder in time, and each victim's
    /// record. The block stays open.
    #[allow(clippy::too_many_arguments)]
    pub fn settle<X: DatabaseRef>(
        &mut self,
        chain: &mut SimChain<X>,
        r: &Relay,
        build: &BlockBuild,
        desk: &mut BundleDesk,
        pre: PreBuild,
        now: SimTime,
        risk: &mut RiskGate,
    ) -> Vec<(u16, BundleReport)> {
        let spec = self.spec;
        let PreBuild { alone, target, .. } = pre;
        let mut mined: BTreeMap<B256, Receipt> = BTreeMap::new();
        let mut in_bundle: BTreeMap<B256, ()> = BTreeMap::new();
        for (_, receipts) in &build.included {
            for rc in receipts {
                mined.insert(rc.tx_hash, rc.clone());
                in_bundle.insert(rc.tx_hash, ());
            }
        }
        // Our bundles for this block, in (pool, block) order.
        let mut ours: Vec<(usize, String)> =
            self.live.iter().filter(|(_, l)| l.target == target).map(|(u, l)| (l.pool, u.clone())).collect();
        ours.sort();
        let mut news = Vec::new();
        for (_, uuid) in ours {
            let Some(l) = self.live.remove(&uuid) else { continue };
            let outcome = r.outcome(&l.hash).cloned().unwrap_or(BundleOutcome::Pending);
            desk.manager.record(&outcome);
            let receipts =
                build.included.iter().find(|(bh, _)| *bh == l.hash).map(|(_, rc)| rc.clone()).unwrap_or_default();
            let (status, reason) = match &outcome {
                BundleOutcome::Included { .. } => (BundleStatus::Included, String::new()),
                BundleOutcome::Outbid { rival_gas_price, .. } => {
                    (BundleStatus::Outbid, format!("a rival paid {rival_gas_price} wei per gas"))
                }
                BundleOutcome::Failed { reason, .. } => (BundleStatus::Failed, reason.clone()),
                other => (BundleStatus::Expired, format!("{other:?}")),
            };
            let mut effects = Vec::new();
            if status == BundleStatus::Included {
                for rc in [receipts.first(), receipts.last()].into_iter().flatten() {
                    let flows = token_flows_of(std::slice::from_ref(rc), self.me);
                    effects.push(OurTxEffect {
                        gas_used: rc.gas_used,
                        effective_gas_price: rc.effective_gas_price,
                        flows,
                    });
                }
                risk.record_gas(now, effects.iter().map(|e| e.gas_wei()).sum());
            }
            news.push((l.strategy, BundleReport { tag: l.tag, status, hash: Some(l.hash), reason, ours: effects }));
        }
        let mut public: Vec<&Pending> = self
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
        for p in &self.pending {
            let Some(rc) = mined.get(&p.view.tx_hash) else { continue };
            let actual = if rc.success { victim_side(rc, p, &self.dex) } else { None };
            let alone_v = alone.get(&p.view.tx_hash).copied();
            let exact_in = matches!(p.view.limit, SwapLimit::ExactIn { .. });
            let loss = match (alone_v, actual) {
                (Some(a), Some(b)) if exact_in => a.saturating_to::<i128>() - b.saturating_to::<i128>(),
                (Some(a), Some(b)) => b.saturating_to::<i128>() - a.saturating_to::<i128>(),
                _ => 0,
            };
            // Exact in: the loss is in the token received; exact out: in the token paid.
            let loss_in_base = p.view.sells_base != exact_in;
            self.victims_out.push(VictimRecord {
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
        self.pending.retain(|p| !mined.contains_key(&p.view.tx_hash) && !dropped.contains_key(&p.view.tx_hash));
        news
    }

    /// Closes the block on its own chain: the base fee moves with the rest of mainnet (utilisation
    /// model) plus what our chain used.
    fn close_block<X: DatabaseRef>(&mut self, chain: &mut SimChain<X>, now: SimTime) {
        let spec = self.spec;
        let z: f64 = self.rng_gas.sample(StandardNormal);
        let u = (spec.chain.utilization_mean + spec.chain.utilization_sigma * z).clamp(0.0, 2.0);
        let used =
            ((u * (BLOCK_GAS_LIMIT / 2) as f64) as u64).saturating_add(chain.block_gas_used()).min(BLOCK_GAS_LIMIT);
        if !spec.chain.fixed_base_fee {
            self.base_fee = next_base_fee(self.base_fee, used, BLOCK_GAS_LIMIT);
        }
        chain.end_block();
        self.closed(chain, now);
    }

    /// The block is closed (by whoever owns the chain): the head moves on.
    pub fn closed<X: DatabaseRef>(&mut self, chain: &SimChain<X>, now: SimTime) {
        self.head = chain.block_number();
        self.head_base_fee = u128::from(chain.base_fee());
        self.next_block_at = now + self.spec.chain.block_time;
    }

    pub fn block_info(&self) -> BlockInfo {
        BlockInfo { number: self.head, timestamp: 0, base_fee_wei: self.base_fee }
    }

    /// Signs, simulates and sends a bundle, or cancels one of ours; orders are not this flow's.
    #[allow(clippy::too_many_arguments)]
    pub fn execute<X: DatabaseRef>(
        &mut self,
        chain: &mut SimChain<X>,
        desk: &mut BundleDesk,
        strategy: u16,
        action: Action,
        now: SimTime,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) -> Result<(), SkipReason> {
        match action {
            Action::Bundle(req) => {
                let confirmed = desk.confirm(strategy, &req, chain, now, risk, out)?;
                let sent = desk.submit(strategy, &req, confirmed, now, risk, out);
                if let Some((h, sim)) = sent {
                    let uuid = req.replacement_id.clone().unwrap_or_else(|| format!("{h}"));
                    let pool = req.pools.first().copied().unwrap_or(0) as usize;
                    let live = Live { strategy, tag: req.tag, pool, target: req.target_block, hash: h, sim };
                    if let Some(old) = self.live.insert(uuid, live) {
                        desk.manager.stats.replaced += 1;
                        desk.tell(old.strategy, old.tag, BundleStatus::Replaced, Some(old.hash), out);
                    }
                }
                Ok(())
            }
            Action::Cancel { replacement_id } => {
                if let Some(l) = self.live.remove(&replacement_id)
                    && desk.manager.cancel(&replacement_id).is_ok()
                {
                    desk.tell(l.strategy, l.tag, BundleStatus::Cancelled, Some(l.hash), out);
                }
                Ok(())
            }
            Action::Arbitrage(_) | Action::AtomicArb(_) => Err(SkipReason::VenueBusy),
        }
    }
}

impl<X: DatabaseRef> World for SandwichWorld<'_, X> {
    type Event = SandwichEvent;

    /// Blocks first, then arrivals: a victim arriving at a block's very instant waits for the next.
    fn start(&mut self, q: &mut dyn Schedule<SandwichEvent>) {
        let bt = self.flow.spec.chain.block_time;
        for k in 1..=self.flow.blocks {
            q.schedule(k * bt, SandwichEvent::Block(k));
        }
        self.flow.schedule_arrivals(q, SandwichEvent::Arrival);
    }

    fn advance(
        &mut self,
        now: SimTime,
        event: SandwichEvent,
        _q: &mut dyn Schedule<SandwichEvent>,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) {
        // Outside callers' eth_callBundle run on the chain between the world's own steps.
        self.host.inbox.serve(&mut self.chain);
        match event {
            SandwichEvent::Arrival(i) => self.flow.on_arrival(&mut self.chain, &mut self.desk, i, out),
            SandwichEvent::Block(_) => self.block(now, risk, out),
        }
    }

    fn market(&self) -> &dyn MarketView {
        self
    }

    fn chain(&self) -> &dyn ChainView {
        self
    }

    /// Bundles are gated on the bundles we have out (a replacement takes its predecessor's place)
    /// and their gas; a cancel only takes risk away.
    fn assess(&self, _strategy: u16, action: &Action) -> Assessment {
        match action {
            Action::Bundle(req) => Assessment {
                in_flight: self.flow.bundles_out(req),
                gas_wei: req.gas_wei.max(1),
                foreign_token: self.flow.foreign(req),
                ..Assessment::default()
            },
            Action::Cancel { .. } => Assessment { reduces_risk: true, ..Assessment::default() },
            Action::Arbitrage(_) | Action::AtomicArb(_) => {
                Assessment { refuse: Some(SkipReason::VenueBusy), ..Assessment::default() }
            }
        }
    }

    fn execute(
        &mut self,
        strategy: u16,
        action: Action,
        now: SimTime,
        _q: &mut dyn Schedule<SandwichEvent>,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) -> Result<(), SkipReason> {
        self.flow.execute(&mut self.chain, &mut self.desk, strategy, action, now, risk, out)
    }

    fn declined(&mut self, strategy: u16, action: &Action, decision: Decision, out: &mut Vec<Event>) {
        self.desk.declined(strategy, action, decision, out);
    }
}

impl<X: DatabaseRef> ChainView for SandwichWorld<'_, X> {
    fn chain_id(&self) -> u64 {
        self.flow.spec.chain_id
    }
    fn pending_raw(&self, id: TxId) -> Option<&Bytes> {
        self.desk.pending_raw(id)
    }
    fn in_mempool(&self, hash: &B256) -> bool {
        self.flow.in_mempool(hash)
    }
    fn next_block_at(&self) -> SimTime {
        self.flow.next_block_at
    }
    fn head_base_fee(&self) -> u128 {
        self.flow.head_base_fee
    }
    fn storage(&self, contract: Address, slot: U256) -> U256 {
        self.chain.storage_ref(contract, slot)
    }
    fn nonce(&self, who: Address) -> u64 {
        self.chain.nonce_ref(who)
    }
    fn dex(&self) -> Option<&DexBook> {
        Some(&self.flow.book)
    }
    fn bundle_report(&self, strategy: u16, tag: u64) -> Option<&BundleReport> {
        self.desk.bundle_report(strategy, tag)
    }
}

/// What strategies may read of this world's market: the pools' reserves and the block.
impl<X: DatabaseRef> MarketView for SandwichWorld<'_, X> {
    fn assets(&self) -> &[AssetSpec] {
        &[]
    }
    fn quote_decimals(&self) -> u32 {
        self.flow.spec.quote_decimals
    }
    fn venues(&self) -> &[CexSpec] {
        &[]
    }
    fn pools(&self) -> &[PoolSpec] {
        &self.flow.pools
    }
    fn book(&self, _venue: VenueId) -> Option<&BookSnapshot> {
        None
    }
    fn reserves(&self, pool: PoolId) -> (U256, U256) {
        self.flow.dex.reserves(&self.chain, pool.0 as usize)
    }
    fn block(&self) -> BlockInfo {
        self.flow.block_info()
    }
    fn inventory(&self) -> &Inventory {
        &crate::core::strategy::NO_INVENTORY
    }
    fn mark_price(&self, _asset: AssetId) -> Option<u128> {
        None
    }
}

/// What the victim received (exact in) or paid (exact out), from its receipt's Swap event.
fn victim_side(rc: &Receipt, p: &Pending, dex: &DexDeployment) -> Option<U256> {
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
    rng: &mut SimRng,
    dex: &DexDeployment,
    pool: usize,
    ours: Option<&Simulated>,
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
