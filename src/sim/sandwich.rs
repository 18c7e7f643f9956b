//! The sandwich world: our DEX contracts on a SimChain held by the embedded relay, victims signed by
//! their own wallets arriving in the public mempool (a fixture's exact list, then generated
//! intents), rival sandwichers bidding at the builder, and blocks: bundles first by payment per
//! gas, then the public swaps that reached the builder in time. Our bundles go through the bundle
//! manager (sign → simulate → flows checked to the wei → relay over HTTP).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;
use rand::RngExt;
use rand_distr::StandardNormal;

use super::desk::BundleDesk;
use crate::chain::contracts::IUniswapV2Router02 as R;
use crate::chain::simchain::actor;
use crate::chain::world::{DexDeployment, deploy_dex_for};
use crate::chain::{ChainError, Receipt, SimChain, TxRequest, Wallet};
use crate::config::RunSpec;
use crate::core::rng::{SimRng, component_rng};
use crate::core::strategy::{AssetSpec, CexSpec, Inventory, MarketView, PoolSpec};
use crate::core::{
    Action, AssetId, BLOCK_GAS_LIMIT, BlockInfo, BookSnapshot, BundleReport, BundleStatus, ChainView, DexBook, Event,
    LegVenue, NANOS_PER_SEC, OurTxEffect, PoolId, SimTime, SkipReason, TxId, VenueId, next_base_fee,
};
use crate::engine::driver::{Assessment, Decision, Schedule, World};
use crate::engine::sandwich::VictimRecord;
use crate::execution::bundle_manager::{BundleManager, Simulated, token_flows_of, victim_amounts};
use crate::market::dex::GENESIS_TIMESTAMP;
use crate::mempool::generator::{Intent, intents, limit_for};
use crate::mempool::{SwapLimit, SwapMethod};
use crate::relay::{BundleOutcome, ChainInbox, Relay, RelayClient, RelayServer, RivalBid, SharedRelay, chain_port};
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

pub struct SandwichWorld<'a> {
    spec: &'a RunSpec,
    pub dex: DexDeployment,
    book: DexBook,
    /// The chain is the world's; the relay's book borrows it to build a block.
    chain: SimChain,
    relay: SharedRelay,
    inbox: ChainInbox,
    server: RelayServer,
    pub desk: BundleDesk,
    victim_wallets: BTreeMap<String, Wallet>,
    arrivals: Vec<(SimTime, u64, Arrival)>,
    generated: Vec<Intent>,
    rng_rivals: SimRng,
    rng_gas: SimRng,
    builder: Address,
    pub base_fee: u128,
    head_base_fee: u128,
    head: u64,
    next_block_at: SimTime,
    blocks: u64,
    pending: Vec<Pending>,
    seq: u64,
    /// Our bundles at the relay, by replacement id.
    live: BTreeMap<String, Live>,
    pub victims_out: Vec<VictimRecord>,
    pub initial: [u128; 3],
    me: Address,
    pools: Vec<PoolSpec>,
}

fn lock(relay: &SharedRelay) -> MutexGuard<'_, Relay> {
    relay.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, thiserror::Error)]
pub enum SandwichRunError {
    #[error(transparent)]
    Chain(#[from] ChainError),
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
        let head = chain.block_number();
        let head_base_fee = u128::from(chain.base_fee());

        let relay = Arc::new(Mutex::new(Relay::new(&chain, block_s)));
        let (port, inbox) = chain_port();
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        let server =
            RelayServer::start(relay.clone(), port, loopback).map_err(|e| SandwichRunError::Relay(e.to_string()))?;
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
        Ok(SandwichWorld {
            spec,
            dex,
            book,
            chain,
            relay,
            inbox,
            server,
            desk: BundleDesk::new(manager),
            victim_wallets,
            arrivals,
            generated,
            rng_rivals: component_rng(spec.seed, "sandwich/rivals"),
            rng_gas: component_rng(spec.seed, "chain/utilization"),
            builder,
            base_fee,
            head_base_fee,
            head,
            next_block_at: spec.chain.block_time,
            blocks: spec.duration / spec.chain.block_time,
            pending: Vec::new(),
            seq: 0,
            live: BTreeMap::new(),
            victims_out: Vec::new(),
            initial,
            me,
            pools,
        })
    }

    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Does the bundle move a token the allowlist does not name?
    fn foreign(&self, req: &crate::core::BundleRequest) -> bool {
        let safety = &self.spec.safety;
        let base = safety.allows(&self.spec.base_symbol) || safety.allows(&format!("W{}", self.spec.base_symbol));
        req.expected_flows.iter().any(|(t, _)| {
            if *t == self.dex.weth { !base } else { *t != self.dex.usdc || !safety.allows(&self.spec.quote_symbol) }
        })
    }

    /// Our wallet on the chain (WETH, quote, ETH) and the relay's counters; stops the relay.
    pub fn finish(
        mut self,
    ) -> Result<([u128; 3], crate::relay::RelayStats, BundleManager, Vec<VictimRecord>), ChainError> {
        let me = self.me;
        let on_chain = {
            let chain = &mut self.chain;
            let bal = |c: &mut SimChain, t: Address| -> Result<u128, ChainError> {
                let call = crate::chain::contracts::ITestERC20::balanceOfCall { owner: me };
                let o = c.view(me, t, call.abi_encode().into())?;
                Ok(U256::from_be_slice(o.output.get(..32).unwrap_or_default()).saturating_to())
            };
            [bal(chain, self.dex.weth)?, bal(chain, self.dex.usdc)?, chain.balance(me).saturating_to()]
        };
        let stats = lock(&self.relay).stats.clone();
        self.server.stop();
        Ok((on_chain, stats, self.desk.manager, self.victims_out))
    }

    /// A victim reaches the mempool, signed by its wallet.
    fn arrive(&mut self, i: usize) -> Option<Pending> {
        let spec = self.spec;
        let (at, _, a) = &self.arrivals[i];
        let at = *at;
        let chain = &mut self.chain;
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
    fn alone(&mut self, number: u64, timestamp: u64) -> BTreeMap<B256, U256> {
        let mut order: Vec<&Pending> = self.pending.iter().collect();
        order.sort_by(|a, b| Victim::builder_order(&a.view, &b.view));
        let raws: Vec<Bytes> = order.iter().map(|p| p.raw.clone()).collect();
        let senders: Vec<Address> = order.iter().map(|p| p.from).collect();
        let mut out = BTreeMap::new();
        if let Ok(receipts) = self.chain.simulate_signed_from(&raws, &senders, number, timestamp) {
            for (p, rc) in order.iter().zip(&receipts) {
                if let Some(a) = victim_side(rc, p, &self.dex) {
                    out.insert(p.view.tx_hash, a);
                }
            }
        }
        out
    }

    /// Block `k`: rivals bid on pools with victims; bundles first (payment per gas), then the public
    /// swaps that reached the builder in time; our bundles' fates reported; the base fee moves.
    fn block(&mut self, now: SimTime, risk: &mut RiskGate, out: &mut Vec<Event>) {
        let spec = self.spec;
        let target = self.head + 1;
        let timestamp = GENESIS_TIMESTAMP + now / NANOS_PER_SEC;
        let alone = self.alone(target, timestamp);
        let mut rivals = Vec::new();
        for pool in 0..spec.dex.len() {
            if self.pending.iter().any(|p| p.view.pool == pool) {
                let ours = self.live.values().find(|l| l.pool == pool && l.target == target).map(|l| &l.sim);
                rival_bid(spec, &mut self.rng_rivals, &self.dex, pool, ours, &mut rivals);
            }
        }
        let relay = self.relay.clone();
        let mut r = lock(&relay);
        let build = r.build_block(
            &mut self.chain,
            timestamp,
            self.base_fee.min(u128::from(u64::MAX)) as u64,
            self.builder,
            &rivals,
        );
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
            self.desk.manager.record(&outcome);
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
        drop(r);
        let chain = &mut self.chain;
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
        // Base fee: the rest of mainnet (utilisation model) plus what our chain used.
        let z: f64 = self.rng_gas.sample(StandardNormal);
        let u = (spec.chain.utilization_mean + spec.chain.utilization_sigma * z).clamp(0.0, 2.0);
        let used =
            ((u * (BLOCK_GAS_LIMIT / 2) as f64) as u64).saturating_add(chain.block_gas_used()).min(BLOCK_GAS_LIMIT);
        if !spec.chain.fixed_base_fee {
            self.base_fee = next_base_fee(self.base_fee, used, BLOCK_GAS_LIMIT);
        }
        chain.end_block();
        self.head = chain.block_number();
        self.head_base_fee = u128::from(chain.base_fee());
        self.next_block_at = now + spec.chain.block_time;
        for (strategy, report) in news {
            self.desk.report(strategy, report, out);
        }
        out.push(Event::Block(self.block_info()));
    }

    fn block_info(&self) -> BlockInfo {
        BlockInfo { number: self.head, timestamp: 0, base_fee_wei: self.base_fee }
    }
}

impl World for SandwichWorld<'_> {
    type Event = SandwichEvent;

    /// Blocks first, then arrivals: a victim arriving at a block's very instant waits for the next.
    fn start(&mut self, q: &mut dyn Schedule<SandwichEvent>) {
        let bt = self.spec.chain.block_time;
        for k in 1..=self.blocks {
            q.schedule(k * bt, SandwichEvent::Block(k));
        }
        let last = self.blocks * bt;
        for (i, a) in self.arrivals.iter().enumerate() {
            if a.0 < last {
                q.schedule(a.0, SandwichEvent::Arrival(i as u32));
            }
        }
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
        self.inbox.serve(&mut self.chain);
        match event {
            SandwichEvent::Arrival(i) => {
                let Some(p) = self.arrive(i as usize) else { return };
                let id = self.desk.announce(p.raw.clone(), p.from);
                let seen_at = p.at;
                self.pending.push(p);
                out.push(Event::PendingTx { id, seen_at });
            }
            SandwichEvent::Block(_) => self.block(now, risk, out),
        }
    }

    fn market(&self) -> &dyn MarketView {
        self
    }

    fn chain(&self) -> &dyn ChainView {
        self
    }

    fn free_trade_slots(&self) -> usize {
        0
    }

    fn is_busy(&self, _venue: LegVenue) -> bool {
        false
    }

    /// Bundles are gated on the bundles we have out (a replacement takes its predecessor's place)
    /// and their gas; a cancel only takes risk away.
    fn assess(&self, action: &Action) -> Assessment {
        match action {
            Action::Bundle(req) => {
                let replaces = req.replacement_id.as_ref().is_some_and(|u| self.live.contains_key(u));
                Assessment {
                    in_flight: (self.live.len() - usize::from(replaces)) as u32,
                    gas_wei: req.gas_wei.max(1),
                    foreign_token: self.foreign(req),
                    ..Assessment::default()
                }
            }
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
        match action {
            Action::Bundle(req) => {
                let confirmed = self.desk.confirm(strategy, &req, &mut self.chain, now, risk, out)?;
                let sent = self.desk.submit(strategy, &req, confirmed, now, risk, out);
                if let Some((h, sim)) = sent {
                    let uuid = req.replacement_id.clone().unwrap_or_else(|| format!("{h}"));
                    let pool = req.pools.first().copied().unwrap_or(0) as usize;
                    let live = Live { strategy, tag: req.tag, pool, target: req.target_block, hash: h, sim };
                    if let Some(old) = self.live.insert(uuid, live) {
                        self.desk.manager.stats.replaced += 1;
                        self.desk.tell(old.strategy, old.tag, BundleStatus::Replaced, Some(old.hash), out);
                    }
                }
                Ok(())
            }
            Action::Cancel { replacement_id } => {
                if let Some(l) = self.live.remove(&replacement_id)
                    && self.desk.manager.cancel(&replacement_id).is_ok()
                {
                    self.desk.tell(l.strategy, l.tag, BundleStatus::Cancelled, Some(l.hash), out);
                }
                Ok(())
            }
            Action::Arbitrage(_) | Action::AtomicArb(_) => Err(SkipReason::VenueBusy),
        }
    }

    fn declined(&mut self, strategy: u16, action: &Action, decision: Decision, out: &mut Vec<Event>) {
        self.desk.declined(strategy, action, decision, out);
    }
}

impl ChainView for SandwichWorld<'_> {
    fn chain_id(&self) -> u64 {
        self.spec.chain_id
    }
    fn pending_raw(&self, id: TxId) -> Option<&Bytes> {
        self.desk.pending_raw(id)
    }
    fn in_mempool(&self, hash: &B256) -> bool {
        self.pending.iter().any(|p| p.view.tx_hash == *hash)
    }
    fn next_block_at(&self) -> SimTime {
        self.next_block_at
    }
    fn head_base_fee(&self) -> u128 {
        self.head_base_fee
    }
    fn storage(&self, contract: Address, slot: U256) -> U256 {
        self.chain.storage_ref(contract, slot)
    }
    fn nonce(&self, who: Address) -> u64 {
        self.chain.nonce_ref(who)
    }
    fn dex(&self) -> Option<&DexBook> {
        Some(&self.book)
    }
    fn bundle_report(&self, strategy: u16, tag: u64) -> Option<&BundleReport> {
        self.desk.bundle_report(strategy, tag)
    }
}

/// What strategies may read of this world's market: the pools' reserves and the block.
impl MarketView for SandwichWorld<'_> {
    fn assets(&self) -> &[AssetSpec] {
        &[]
    }
    fn quote_decimals(&self) -> u32 {
        self.spec.quote_decimals
    }
    fn venues(&self) -> &[CexSpec] {
        &[]
    }
    fn pools(&self) -> &[PoolSpec] {
        &self.pools
    }
    fn book(&self, _venue: VenueId) -> Option<&BookSnapshot> {
        None
    }
    fn reserves(&self, pool: PoolId) -> (U256, U256) {
        self.dex.reserves(&self.chain, pool.0 as usize)
    }
    fn block(&self) -> BlockInfo {
        self.block_info()
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
