//! Live mode through the one driver: `LiveSource` turns the node's news into the driver's events
//! (new heads over the WebSocket `HeadFollower`, the pending pool read every `live.poll`, the stop
//! and go files) and `LiveWorld` is the world they happen to: each head pins the node's state for
//! the strategies and settles our bundles for it from the block's receipts; pending swaps on our
//! pools are announced; bundles are signed, simulated on the pinned state, and sent through the
//! journaled sink to every relay. Nothing is laid over the chain: our wallet and executor are the
//! chain's own.
//!
//! Time is the chain's clock since the first head (its timestamps), advanced between heads by the
//! wall clock (live mode is not deterministic): the strategies' block arithmetic stays right on a
//! node whose blocks come faster or slower than their timestamps say.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes, U256};

use crate::chain::SimChain;
use crate::chain::fork::{ForkDb, Pin};
use crate::chain::heads::{HeadEvent, HeadFollower};
use crate::chain::rpc::{BlockHead, RpcSource};
use crate::chain::world::DexVenue;
use crate::config::{ForkSpec, RunSpec};
use crate::core::strategy::{AssetSpec, CexSpec, Inventory, MarketView, PoolSpec};
use crate::core::{
    Action, AssetId, BlockInfo, BookSnapshot, BundleReport, BundleStatus, ChainView, DexBook, Event, NANOS_PER_SEC,
    OurTxEffect, PoolId, SimTime, SkipReason, TxId, VenueId, next_base_fee,
};
use crate::engine::driver::{Assessment, Decision, Schedule, Source, World};
use crate::risk::RiskGate;
use crate::sim::desk::BundleDesk;

/// With pending transactions by subscription, how often the whole pool is read anyway (what a
/// subscription can miss: transactions from before it, or announced while a fetch failed).
pub const POOL_BACKFILL: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LiveEvent {
    /// The i-th head (canonical block) arrived.
    Head(u32),
    /// The i-th pending transaction was seen.
    Pending(u32),
    /// Trading may start.
    Go,
    /// Trading stops (the stop file): outstanding bundles are cancelled.
    Stop,
    /// No head for a second or more (or the node is down): health and alerts are checked.
    Quiet,
}

/// What the source saw, for the world to read by index.
#[derive(Default)]
pub struct Inbox {
    pub heads: Vec<BlockHead>,
    pub pending: Vec<(B256, Bytes)>,
    /// Why trading was told to stop.
    pub stop: Option<String>,
    /// Seconds since the last head came (at the last `Quiet`).
    pub silent_s: f64,
}

pub struct LiveSource {
    inbox: Rc<RefCell<Inbox>>,
    follower: HeadFollower,
    rpc: RpcSource,
    seen: BTreeSet<B256>,
    queue: VecDeque<(SimTime, LiveEvent)>,
    /// The chain's clock: the run starts at `genesis_ts`; the last head's time and when it came.
    genesis_ts: u64,
    block_ns: u64,
    last_head: (u64, Instant),
    poll: Duration,
    /// Pending transactions come by subscription (the pool read only as a backfill: at the
    /// start, after a reconnect, every `POOL_BACKFILL`), or by reading the pool every look.
    subscribed: bool,
    pool_read: Option<(Instant, u64)>,
    blocks_left: Option<u64>,
    stop_file: PathBuf,
    go_file: PathBuf,
    paused: bool,
    done: bool,
    last_quiet: Instant,
    /// Raised by the control endpoint or a signal: why each one stops trading.
    stop_flags: Vec<(std::sync::Arc<std::sync::atomic::AtomicBool>, &'static str)>,
    /// Why the source gave up (the node gone beyond its retries).
    pub failure: Option<String>,
    pub reorgs: u64,
    /// Pending transactions first seen by the subscription, and by reading the pool.
    pub by_subscription: u64,
    pub by_pool: u64,
}

impl LiveSource {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inbox: Rc<RefCell<Inbox>>,
        follower: HeadFollower,
        rpc: RpcSource,
        (genesis_ts, block_time): (u64, SimTime),
        poll: Duration,
        blocks: Option<u64>,
        (stop_file, go_file): (PathBuf, PathBuf),
        paused: bool,
    ) -> Self {
        LiveSource {
            inbox,
            follower,
            rpc,
            seen: BTreeSet::new(),
            queue: VecDeque::new(),
            genesis_ts,
            block_ns: block_time.max(NANOS_PER_SEC),
            last_head: (genesis_ts, Instant::now()),
            poll,
            subscribed: false,
            pool_read: None,
            blocks_left: blocks,
            stop_file,
            go_file,
            paused,
            done: false,
            last_quiet: Instant::now(),
            stop_flags: Vec::new(),
            failure: None,
            reorgs: 0,
            by_subscription: 0,
            by_pool: 0,
        }
    }

    /// Time on the chain's clock (what the strategies' block times are measured in): the last
    /// head's time, plus the wall time since it came, short of the next block's.
    /// Also stop when `flag` is raised (the control endpoint, a signal), for the reason `why`.
    pub fn stopped_by(mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>, why: &'static str) -> Self {
        self.stop_flags.push((flag, why));
        self
    }

    /// Pending transactions by the follower's subscription (see `HeadFollower::with_pending`).
    pub fn subscribed(mut self) -> Self {
        self.subscribed = true;
        self
    }

    /// Times the WebSocket was reopened.
    pub fn reconnects(&self) -> u64 {
        self.follower.reconnects
    }

    fn now(&self) -> SimTime {
        let since = (self.last_head.1.elapsed().as_nanos() as u64).min(self.block_ns - crate::core::NANOS_PER_MS);
        self.last_head.0.saturating_sub(self.genesis_ts) * NANOS_PER_SEC + since
    }

    /// One look at the node: new heads (waiting up to `poll` for one), then the pending pool.
    fn look(&mut self) {
        match self.follower.next(self.poll) {
            Ok(news) => {
                for n in news {
                    match n {
                        HeadEvent::Block(h) => {
                            self.last_head = (h.timestamp.max(self.last_head.0), Instant::now());
                            let mut inbox = self.inbox.borrow_mut();
                            inbox.heads.push(h);
                            let i = inbox.heads.len() as u32 - 1;
                            drop(inbox);
                            self.queue.push_back((self.now(), LiveEvent::Head(i)));
                            self.blocks_left = self.blocks_left.map(|b| b.saturating_sub(1));
                        }
                        HeadEvent::Reorg { to, depth } => {
                            self.reorgs += 1;
                            tracing::warn!(target: "xcrack::live", to = to.number, depth, "reorg: the new branch follows");
                        }
                    }
                }
            }
            Err(e) => {
                self.failure = Some(format!("following heads: {e}"));
                self.done = true;
                return;
            }
        }
        let silent = self.last_head.1.elapsed();
        if silent >= Duration::from_secs(1) && self.last_quiet.elapsed() >= Duration::from_secs(1) {
            self.last_quiet = Instant::now();
            self.inbox.borrow_mut().silent_s = silent.as_secs_f64();
            self.queue.push_back((self.now(), LiveEvent::Quiet));
        }
        if self.follower.down_since().is_some() {
            // The node is down: its pool is not read (the follower retries on its own clock).
            return;
        }
        let announced: Vec<B256> =
            self.follower.take_pending().into_iter().filter(|h| !self.seen.contains(h)).collect();
        if !announced.is_empty() {
            match self.rpc.pending_txs(&announced) {
                Ok(txs) => self.by_subscription += self.arrived(txs),
                Err(e) => tracing::warn!(target: "xcrack::live", error = %e, "announced pending transactions not read"),
            }
        }
        let reconnects = self.follower.reconnects;
        let backfill =
            !self.subscribed || self.pool_read.is_none_or(|(at, r)| r != reconnects || at.elapsed() >= POOL_BACKFILL);
        if backfill {
            match self.rpc.txpool() {
                Ok(txs) => {
                    self.pool_read = Some((Instant::now(), reconnects));
                    self.by_pool += self.arrived(txs);
                }
                Err(e) => tracing::warn!(target: "xcrack::live", error = %e, "pending pool not read"),
            }
        }
    }

    /// Pending transactions read from the node: the ones not seen before are announced (how many).
    fn arrived(&mut self, txs: Vec<crate::chain::rpc::LandedTx>) -> u64 {
        let mut new = 0;
        for t in txs {
            if self.seen.insert(t.hash) {
                new += 1;
                let mut inbox = self.inbox.borrow_mut();
                inbox.pending.push((t.hash, t.raw));
                let i = inbox.pending.len() as u32 - 1;
                drop(inbox);
                self.queue.push_back((self.now(), LiveEvent::Pending(i)));
            }
        }
        new
    }
}

impl Schedule<LiveEvent> for LiveSource {
    fn schedule(&mut self, at: SimTime, event: LiveEvent) {
        self.queue.push_back((at, event));
    }
}

impl Source<LiveEvent> for LiveSource {
    fn next_event(&mut self) -> Option<(SimTime, LiveEvent)> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if self.done || self.blocks_left == Some(0) {
                return None;
            }
            let flagged = self.stop_flags.iter().find(|(f, _)| f.load(std::sync::atomic::Ordering::SeqCst));
            let why =
                flagged.map(|(_, why)| *why).or_else(|| self.stop_file.exists().then_some("the stop file exists"));
            if let Some(why) = why {
                self.done = true;
                self.inbox.borrow_mut().stop = Some(why.into());
                return Some((self.now(), LiveEvent::Stop));
            }
            if self.paused && self.go_file.exists() {
                self.paused = false;
                return Some((self.now(), LiveEvent::Go));
            }
            self.look();
        }
    }
}

/// A bundle of ours at the relays, until its block.
struct Out {
    strategy: u16,
    tag: u64,
    target: u64,
    hash: B256,
    ours: Vec<B256>,
    uuid: Option<String>,
}

/// What the run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveCounts {
    pub heads: u64,
    /// The first and last head's numbers.
    pub first_head: u64,
    pub last_head: u64,
    pub pending_seen: u64,
    pub announced: u64,
    pub bundles_sent: u64,
    pub included: u64,
    pub not_included: u64,
    pub refused_paused: u64,
    /// Our transactions in included bundles (the nonces they used).
    pub bundle_txs_landed: u64,
    /// How the nonce ledger saw the chain's count of our transactions move: nonces our
    /// transactions took, nonces we had signed that another transaction of our key took, nonces
    /// no transaction of ours was signed for (another process using the key), and nonces freed
    /// because their bundles' blocks passed without them.
    pub nonces_mined_ours: u64,
    pub nonces_taken: u64,
    pub nonces_foreign: u64,
    pub nonces_expired: u64,
}

pub struct LiveWorld<'a> {
    spec: &'a RunSpec,
    fork: &'a ForkSpec,
    rpc: RpcSource,
    inbox: Rc<RefCell<Inbox>>,
    genesis_ts: u64,
    block_s: u64,
    chain: Option<SimChain<ForkDb<RpcSource>>>,
    head: BlockHead,
    venues: Vec<DexVenue>,
    pools: Vec<PoolSpec>,
    reserves: Vec<(U256, U256)>,
    book: DexBook,
    pub desk: BundleDesk,
    me: Address,
    live: BTreeMap<B256, Out>,
    /// Announced transactions still pending (they leave with the head that mines them).
    pending: Vec<B256>,
    /// The cheap look before a signer is recovered: our pools' routers and pairs, swap methods.
    pub filter: crate::mempool::filter::PendingFilter,
    inventory: Inventory,
    journal: super::LiveJournal,
    pub nonces: crate::execution::nonce::NonceLedger,
    /// Our transactions the blocks since the last head included (for the nonce ledger).
    landed_ours: Vec<B256>,
    /// Atomic arbitrages asked for (each one's bundle tag).
    atomic_tags: u64,
    paused: bool,
    pub stopped: Option<String>,
    pub counts: LiveCounts,
    metrics: Option<std::sync::Arc<super::metrics::LiveMetrics>>,
    alerter: Option<super::alerts::Alerter>,
    /// Net of gas (quote raw) of our included bundles: their token flows, WETH and gas at the pool's
    /// price when they settled.
    pub pnl_quote_raw: i128,
    /// The first failure reading the node's state: the run stops.
    pub failure: Option<String>,
    /// Our bundles settled during the run, for the report.
    pub settled: Vec<crate::report::live::LiveBundle>,
}

/// Everything a `LiveWorld` is built from.
pub struct LiveParts {
    pub rpc: RpcSource,
    pub inbox: Rc<RefCell<Inbox>>,
    pub head: BlockHead,
    pub genesis_ts: u64,
    pub venues: Vec<DexVenue>,
    pub desk: BundleDesk,
    pub journal: super::LiveJournal,
    /// Seeded from the node's counts at `head` (and the journal's bundles still out).
    pub nonces: crate::execution::nonce::NonceLedger,
    pub wallet: [u128; 3],
    pub paused: bool,
    pub metrics: Option<std::sync::Arc<super::metrics::LiveMetrics>>,
    pub alerter: Option<super::alerts::Alerter>,
}

impl<'a> LiveWorld<'a> {
    pub fn new(spec: &'a RunSpec, p: LiveParts) -> Result<Self, String> {
        let fork = spec.fork.as_ref().ok_or("live mode trades [fork]'s pools: no [fork] section")?;
        let live = spec.live.as_ref().ok_or("no [live] section")?;
        let me = p.desk.manager.address();
        let pools = fork
            .pools
            .iter()
            .enumerate()
            .map(|(i, f)| PoolSpec {
                id: PoolId(i as u16),
                name: f.name.clone(),
                asset: AssetId(0),
                fee_bps: f.fee_bps,
                swap_gas: f.swap_gas,
            })
            .collect();
        let book = DexBook {
            weth: fork.weth,
            quote: fork.quote,
            executor: live.executor,
            searcher: me,
            pools: p.venues.iter().map(|v| (v.router, v.pair)).collect(),
        };
        let [base, quote, native] = p.wallet;
        let filter = crate::mempool::filter::PendingFilter::new(
            p.venues.iter().flat_map(|v| [v.router, v.pair]),
            crate::mempool::SWAP_SELECTORS,
            100_000,
        )
        .bounded(U256::MAX, crate::mempool::MIN_SWAP_GAS);
        let mut w = LiveWorld {
            spec,
            fork,
            rpc: p.rpc,
            inbox: p.inbox,
            genesis_ts: p.genesis_ts,
            block_s: (spec.chain.block_time / NANOS_PER_SEC).max(1),
            chain: None,
            head: p.head,
            venues: p.venues,
            pools,
            reserves: Vec::new(),
            book,
            desk: p.desk,
            me,
            live: BTreeMap::new(),
            pending: Vec::new(),
            filter,
            inventory: Inventory {
                cex_base: Vec::new(),
                cex_quote: Vec::new(),
                wallet_base: vec![base],
                wallet_quote: quote,
                wallet_native: native,
            },
            journal: p.journal,
            nonces: p.nonces,
            landed_ours: Vec::new(),
            atomic_tags: 0,
            paused: p.paused,
            stopped: None,
            counts: LiveCounts::default(),
            metrics: p.metrics,
            alerter: p.alerter,
            pnl_quote_raw: 0,
            failure: None,
            settled: Vec::new(),
        };
        w.pin(p.head)?;
        Ok(w)
    }

    /// The node's state at `head` for the strategies: a fresh pin, the pools' reserves read.
    fn pin(&mut self, head: BlockHead) -> Result<(), String> {
        let pin = Pin { chain_id: self.spec.chain_id, number: head.number, hash: head.hash };
        let db = ForkDb::new(self.rpc.clone(), pin);
        let hot: Vec<(Address, U256)> =
            self.venues.iter().flat_map(|v| (6..=12u64).map(move |s| (v.pair, U256::from(s)))).collect();
        db.prefetch(&hot).map_err(|e| e.to_string())?;
        let mut chain = SimChain::over(db, self.spec.chain_id);
        // Our next bundle's nonce is the ledger's (after our public transactions still open).
        let nonce = self.nonces.bundle_start();
        if let Some(m) = &self.metrics {
            m.set_nonce_next(nonce);
        }
        if chain.nonce(self.me) != nonce {
            chain.set_nonce(self.me, nonce);
        }
        let next_ts = head.timestamp + self.block_s;
        chain.set_spec(crate::chain::simchain::spec_for(self.spec.chain_id, head.number + 1, next_ts));
        let base_fee = next_base_fee(head.base_fee, head.gas_used, head.gas_limit).min(u128::from(u64::MAX)) as u64;
        chain.start_block(head.number + 1, next_ts, base_fee, head.coinbase);
        let reserves =
            crate::sim::fork::pair_reserves(&mut chain, self.me, &self.venues, (self.fork.weth, self.fork.quote))
                .map_err(|e| e.to_string())?;
        // Our wallet as the chain holds it now (what the strategies size against).
        let balance = |chain: &mut SimChain<ForkDb<RpcSource>>, token: Address| -> u128 {
            let call = crate::chain::contracts::ITestERC20::balanceOfCall { owner: self.me };
            let data = alloy_sol_types::SolCall::abi_encode(&call);
            chain
                .view(self.me, token, data.into())
                .ok()
                .filter(|o| o.success)
                .map(|o| U256::from_be_slice(o.output.get(..32).unwrap_or_default()).saturating_to())
                .unwrap_or_default()
        };
        let wallet = [balance(&mut chain, self.fork.weth), balance(&mut chain, self.fork.quote)];
        let native: u128 = chain.balance(self.me).saturating_to();
        if let Some(e) = chain.db_ref().db.failure() {
            return Err(format!("reading the node's state at block {}: {e}", head.number));
        }
        self.inventory.wallet_base = vec![wallet[0]];
        self.inventory.wallet_quote = wallet[1];
        self.inventory.wallet_native = native;
        self.reserves = reserves;
        self.chain = Some(chain);
        self.head = head;
        Ok(())
    }

    /// Our bundles for blocks up to `head`: included when every transaction of ours is in its
    /// target block (read from the block's receipts), otherwise not; the strategy hears it, the
    /// journal records it.
    fn settle(&mut self, head: &BlockHead, blocks: &mut LandedBlocks<'_>, out: &mut Vec<Event>) {
        let due: Vec<B256> = self.live.iter().filter(|(_, o)| o.target <= head.number).map(|(h, _)| *h).collect();
        for hash in due {
            let Some(o) = self.live.remove(&hash) else { continue };
            let landed = match blocks.get(o.target) {
                Ok(txs) => txs,
                Err(err) => {
                    tracing::warn!(target: "xcrack::live", block = o.target, error = %err, "block not read; bundle settled later");
                    self.live.insert(hash, o);
                    continue;
                }
            };
            let ours: Vec<&crate::chain::rpc::LandedTx> =
                o.ours.iter().filter_map(|h| landed.iter().find(|t| t.hash == *h)).collect();
            let included = !o.ours.is_empty() && ours.len() == o.ours.len();
            let (status, state) = if included {
                self.counts.included += 1;
                self.counts.bundle_txs_landed += ours.len() as u64;
                self.landed_ours.extend(ours.iter().map(|t| t.hash));
                (BundleStatus::Included, super::State::Included)
            } else {
                self.counts.not_included += 1;
                (BundleStatus::Expired, super::State::NotIncluded)
            };
            if let Err(e) = self.journal.mark_hash(hash, o.target, state, Some(o.target)) {
                tracing::error!(target: "xcrack::live", error = %e, "outcome not journaled");
            }
            let effects: Vec<OurTxEffect> = ours
                .iter()
                .map(|t| OurTxEffect {
                    gas_used: t.gas_used,
                    effective_gas_price: t.effective_gas_price,
                    flows: crate::execution::bundle_manager::transfer_flows(
                        t.logs.iter().map(|l| (l.address, &l.topics[..], &l.data[..])),
                        self.me,
                    ),
                })
                .collect();
            if included {
                self.pnl_quote_raw += self.value_quote_raw(&effects);
            }
            // A bundle that missed its block: what the relays say of it, for the record.
            let reason = if included {
                String::new()
            } else {
                let stats = self.desk.manager.relay_stats(hash, o.target);
                tracing::info!(target: "xcrack::live", %hash, block = o.target, stats = ?stats, "bundle not included");
                if stats.is_empty() {
                    format!("not in block {}", o.target)
                } else {
                    format!("not in block {}; relays: {}", o.target, stats.join("; "))
                }
            };
            self.settled.push(crate::report::live::LiveBundle {
                strategy: o.strategy,
                tag: o.tag,
                target_block: o.target,
                bundle_hash: hash,
                included,
                reason: reason.clone(),
                ours: if included {
                    ours.iter()
                        .zip(&effects)
                        .map(|(t, e)| crate::report::live::LiveTx {
                            hash: t.hash,
                            gas_used: e.gas_used,
                            effective_gas_price: e.effective_gas_price,
                            flows: e.flows.clone(),
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            });
            let report = BundleReport {
                tag: o.tag,
                status,
                hash: Some(hash),
                reason,
                ours: if included { effects } else { Vec::new() },
            };
            self.desk.report(o.strategy, report, out);
        }
    }

    /// What `effects` came to in quote raw units: the quote token's flow, WETH's and the gas at the
    /// first pool's price now.
    fn value_quote_raw(&self, effects: &[OurTxEffect]) -> i128 {
        let price = self.mark_price(AssetId(0)).unwrap_or(0) as i128;
        let at_price = |wei: i128| wei.saturating_mul(price) / 10i128.pow(18);
        effects
            .iter()
            .map(|e| {
                let flow = |t: Address| e.flows.iter().filter(|(a, _)| *a == t).map(|(_, v)| *v).sum::<i128>();
                flow(self.fork.quote) + at_price(flow(self.fork.weth)) - at_price(e.gas_wei() as i128)
            })
            .sum()
    }

    /// Health now, for `/health` and the alerts: how long the heads have been silent; the
    /// breaker; a stop.
    fn check_alerts(&mut self, breaker_open: bool, silent_s: f64) {
        let health = super::metrics::Health {
            lag_s: vec![("heads".into(), silent_s)],
            breaker_open,
            stopped: self.stopped.clone(),
        };
        let pnl = self.pnl_quote_raw as f64 / 10f64.powi(self.spec.quote_decimals as i32);
        if let Some(m) = &self.metrics {
            m.set_health(health.clone());
            m.set_pnl(pnl);
        }
        if let Some(a) = self.alerter.as_mut() {
            for alert in a.check(&health, pnl) {
                a.send(&alert);
            }
        }
    }

    fn on_head(&mut self, i: u32, out: &mut Vec<Event>) {
        let Some(head) = self.inbox.borrow().heads.get(i as usize).copied() else { return };
        if self.counts.heads == 0 {
            self.counts.first_head = head.number;
        }
        self.counts.heads += 1;
        self.counts.last_head = head.number;
        let rpc = self.rpc.clone();
        let mut blocks = LandedBlocks::new(&rpc);
        self.settle(&head, &mut blocks, out);
        // Bundles an earlier process journaled (and may have sent) for blocks up to this one.
        let skip: BTreeSet<B256> = self.live.keys().copied().collect();
        match settle_journal(&mut self.journal, &mut blocks, head.number, self.me, &skip) {
            Ok(s) => {
                self.counts.bundle_txs_landed += s.ours_landed.len() as u64;
                self.landed_ours.extend(s.ours_landed);
            }
            Err(e) => {
                tracing::warn!(target: "xcrack::live", error = %e, "journal's open bundles not settled; tried again next head")
            }
        }
        match self.rpc.transaction_counts(self.me, head.number) {
            Ok((mined, _)) => self.nonces_at(head.number, mined),
            Err(e) => tracing::warn!(target: "xcrack::live", error = %e, "our nonce not read; the last count holds"),
        }
        if let Err(e) = self.pin(head) {
            self.failure = Some(e);
            return;
        }
        // What the block mined leaves the mempool.
        if let Ok(txs) = blocks.get(head.number) {
            let mined: BTreeSet<B256> = txs.iter().map(|t| t.hash).collect();
            self.pending.retain(|h| !mined.contains(h));
        }
        out.push(Event::Block(self.block_info()));
    }

    fn on_pending(&mut self, i: u32, now: SimTime, out: &mut Vec<Event>) {
        let Some((hash, raw)) = self.inbox.borrow().pending.get(i as usize).cloned() else { return };
        self.counts.pending_seen += 1;
        use crate::mempool::filter::Verdict;
        let verdict = self.filter.check(&raw);
        if let Some(m) = &self.metrics {
            m.record_pending(match verdict {
                Verdict::Pass(_) => "passed",
                Verdict::Duplicate => "duplicate",
                Verdict::Undecodable => "undecodable",
                Verdict::NotWatched => "not_our_pools",
                Verdict::OtherMethod => "other_method",
                Verdict::OutOfBounds => "out_of_bounds",
            });
        }
        if !matches!(verdict, Verdict::Pass(_)) {
            return;
        }
        let Ok(p) = crate::mempool::PendingTx::from_raw(raw.clone()) else { return };
        self.counts.announced += 1;
        let id = self.desk.announce(raw, p.from);
        self.pending.push(hash);
        out.push(Event::PendingTx { id, seen_at: now });
    }

    /// The nonce ledger at a head where the chain counts `mined` transactions of ours: each nonce
    /// settled, and what moved the count that we never signed.
    fn nonces_at(&mut self, block: u64, mined: u64) {
        use crate::execution::nonce::Settled;
        let before = self.nonces.mined();
        let landed = std::mem::take(&mut self.landed_ours);
        let (mut ours, mut taken) = (0, 0);
        for s in self.nonces.on_head(block, mined, &landed) {
            match s {
                Settled::Mined { .. } => ours += 1,
                Settled::Taken { nonce, ours } => {
                    taken += 1;
                    tracing::warn!(target: "xcrack::live", nonce, signed = ours.len(), "a nonce we signed was taken by another transaction of our key");
                }
                Settled::Expired { .. } => self.counts.nonces_expired += 1,
            }
        }
        let foreign = mined.saturating_sub(before).saturating_sub(ours + taken);
        if foreign > 0 {
            tracing::warn!(target: "xcrack::live", foreign, mined, "our key's count moved by transactions we never signed: is another process using it?");
        }
        self.counts.nonces_mined_ours += ours;
        self.counts.nonces_taken += taken;
        self.counts.nonces_foreign += foreign;
    }

    /// Stops trading: every outstanding bundle cancelled at the relays.
    fn stop(&mut self, why: &str, out: &mut Vec<Event>) {
        self.stopped = Some(why.to_string());
        tracing::warn!(target: "xcrack::live", reason = why, "trading stopped");
        for (hash, o) in std::mem::take(&mut self.live) {
            if let Some(uuid) = &o.uuid
                && let Err(e) = self.desk.manager.cancel(uuid)
            {
                tracing::warn!(target: "xcrack::live", %hash, error = %e, "cancel not delivered");
            }
            self.desk.tell(o.strategy, o.tag, BundleStatus::Cancelled, Some(hash), out);
        }
    }

    fn block_info(&self) -> BlockInfo {
        BlockInfo {
            number: self.head.number,
            timestamp: 0,
            base_fee_wei: next_base_fee(self.head.base_fee, self.head.gas_used, self.head.gas_limit),
        }
    }

    pub fn metrics(&self) -> Option<&super::metrics::LiveMetrics> {
        self.metrics.as_deref()
    }

    /// Counts the events the strategies are about to hear (and the bundle news among them).
    fn observe(&self, news: &[Event]) {
        let Some(m) = &self.metrics else { return };
        for e in news {
            m.record_event(e);
            if let Event::BundleResult { strategy, tag } = e
                && let Some(r) = self.desk.bundle_report(*strategy, *tag)
            {
                m.record_bundle(r.status);
            }
        }
    }
}

impl World for LiveWorld<'_> {
    type Event = LiveEvent;

    fn start(&mut self, _q: &mut dyn Schedule<LiveEvent>) {}

    fn advance(
        &mut self,
        now: SimTime,
        event: LiveEvent,
        _q: &mut dyn Schedule<LiveEvent>,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) {
        if self.failure.is_some() {
            return;
        }
        let from = out.len();
        match event {
            LiveEvent::Head(i) => {
                self.on_head(i, out);
                self.check_alerts(risk.breaker_is_open(now), 0.0);
            }
            LiveEvent::Pending(i) => self.on_pending(i, now, out),
            LiveEvent::Go => {
                self.paused = false;
                tracing::info!(target: "xcrack::live", "trading started");
            }
            LiveEvent::Stop => {
                let why = self.inbox.borrow().stop.clone().unwrap_or_else(|| "stop requested".into());
                self.stop(&why, out);
                self.check_alerts(risk.breaker_is_open(now), 0.0);
            }
            LiveEvent::Quiet => {
                let silent = self.inbox.borrow().silent_s;
                self.check_alerts(risk.breaker_is_open(now), silent);
            }
        }
        self.observe(&out[from..]);
    }

    fn market(&self) -> &dyn MarketView {
        self
    }

    fn chain(&self) -> &dyn ChainView {
        self
    }

    /// Arbitrages open as bundles do: as many as the concurrency limit leaves beside those out.
    fn free_trade_slots(&self) -> usize {
        self.spec.micro.max_concurrent_trades.saturating_sub(self.live.len())
    }

    fn assess(&self, _strategy: u16, action: &Action) -> Assessment {
        let refuse = (self.paused || self.stopped.is_some()).then_some(SkipReason::RiskLimit);
        match action {
            Action::Bundle(req) => Assessment {
                refuse,
                in_flight: self.live.len() as u32,
                gas_wei: req.gas_wei.max(1),
                foreign_token: crate::sim::desk::moves_foreign_token(self.spec, self.fork.weth, self.fork.quote, req),
                ..Assessment::default()
            },
            Action::Cancel { .. } => Assessment { reduces_risk: true, ..Assessment::default() },
            Action::AtomicArb(p) => Assessment {
                refuse,
                in_flight: self.live.len() as u32,
                ..crate::sim::desk::assess_atomic(self.spec, p, self.block_info().base_fee_wei)
            },
            Action::Arbitrage(_) => Assessment { refuse: Some(SkipReason::VenueBusy), ..Assessment::default() },
        }
    }

    fn execute(
        &mut self,
        strategy: u16,
        action: Action,
        now: SimTime,
        _q: &mut dyn Schedule<LiveEvent>,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) -> Result<(), SkipReason> {
        let from = out.len();
        let kind = action.kind();
        let r = self.carry_out(strategy, action, now, risk, out);
        if let Some(m) = &self.metrics {
            m.record_action(strategy, kind, r.map_or_else(Decision::Skipped, |_| Decision::Executed));
        }
        self.observe(&out[from..]);
        r
    }

    fn declined(&mut self, strategy: u16, action: &Action, decision: Decision, out: &mut Vec<Event>) {
        if (self.paused || self.stopped.is_some()) && decision == Decision::Skipped(SkipReason::RiskLimit) {
            self.counts.refused_paused += 1;
        }
        if let Some(m) = &self.metrics {
            m.record_action(strategy, action.kind(), decision);
        }
        let from = out.len();
        self.desk.declined(strategy, action, decision, out);
        self.observe(&out[from..]);
    }
}

impl LiveWorld<'_> {
    /// Signs, simulates and sends a bundle (or withdraws one): the world's side of `execute`.
    fn carry_out(
        &mut self,
        strategy: u16,
        action: Action,
        now: SimTime,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) -> Result<(), SkipReason> {
        if self.paused || self.stopped.is_some() {
            self.counts.refused_paused += 1;
            return Err(SkipReason::RiskLimit);
        }
        let took = Instant::now();
        let r = match action {
            Action::Bundle(req) => {
                let Some(chain) = self.chain.as_mut() else { return Err(SkipReason::SimulationFailed) };
                let confirmed = match self.desk.confirm(strategy, &req, chain, now, risk, out) {
                    Ok(c) => c,
                    Err(e) => {
                        let why =
                            self.desk.bundle_report(strategy, req.tag).map(|r| r.reason.clone()).unwrap_or_default();
                        tracing::info!(target: "xcrack::live", strategy, tag = req.tag, reason = %why, "bundle not sent: its simulation failed");
                        return Err(e);
                    }
                };
                let confirmed_ours_raw: Vec<Bytes> = confirmed
                    .bundle
                    .txs
                    .iter()
                    .zip(&confirmed.bundle.senders)
                    .filter(|(_, s)| **s == self.me)
                    .map(|(t, _)| t.clone())
                    .collect();
                let ours: Vec<B256> = confirmed_ours_raw.iter().map(|t| crate::relay::rpc::tx_hash(t)).collect();
                match self.desk.submit(strategy, &req, confirmed, now, risk, out) {
                    Some((hash, _)) => {
                        self.counts.bundles_sent += 1;
                        if let Some(uuid) = &req.replacement_id {
                            self.live.retain(|_, o| o.uuid.as_ref() != Some(uuid));
                        }
                        for raw in confirmed_ours_raw {
                            if let Some(n) = crate::mempool::decode::nonce_of(&raw) {
                                let hash = crate::relay::rpc::tx_hash(&raw);
                                let signed = crate::execution::nonce::Signed {
                                    hash,
                                    until_block: req.target_block,
                                    public: false,
                                };
                                self.nonces.signed(n, signed);
                            }
                        }
                        let o = Out {
                            strategy,
                            tag: req.tag,
                            target: req.target_block,
                            hash,
                            ours,
                            uuid: req.replacement_id.clone(),
                        };
                        self.live.insert(hash, o);
                        Ok(())
                    }
                    None => Err(SkipReason::SimulationFailed),
                }
            }
            Action::Cancel { replacement_id } => {
                let hit: Vec<B256> = self
                    .live
                    .iter()
                    .filter(|(_, o)| o.uuid.as_ref() == Some(&replacement_id))
                    .map(|(h, _)| *h)
                    .collect();
                for h in hit {
                    if let Some(o) = self.live.remove(&h) {
                        let _ = self.desk.manager.cancel(&replacement_id);
                        self.desk.tell(o.strategy, o.tag, BundleStatus::Cancelled, Some(o.hash), out);
                    }
                }
                Ok(())
            }
            // A cross-DEX plan: one executor transaction, as a bundle for the next block.
            Action::AtomicArb(plan) => {
                let pair =
                    |p: PoolId| self.venues.get(p.0 as usize).map(|v| v.pair).ok_or(SkipReason::SimulationFailed);
                let route = crate::sim::desk::AtomicRoute {
                    weth: self.fork.weth,
                    quote: self.fork.quote,
                    buy_pair: pair(plan.buy_pool)?,
                    sell_pair: pair(plan.sell_pool)?,
                    executor: self.book.executor,
                    me: self.me,
                };
                self.atomic_tags += 1;
                let next = (self.head.number + 1, self.head.timestamp + self.block_s);
                let base_fee = self.block_info().base_fee_wei;
                let mut req =
                    crate::sim::desk::atomic_bundle_request(&plan, &route, next, base_fee, self.atomic_tags, now);
                // Named, so a stop can withdraw it from the relays.
                req.replacement_id =
                    Some(format!("cross-dex-{}-{}-block-{}", plan.buy_pool.0, plan.sell_pool.0, next.0));
                return self.carry_out(strategy, Action::Bundle(Box::new(req)), now, risk, out);
            }
            Action::Arbitrage(_) => Err(SkipReason::VenueBusy),
        };
        if let Some(m) = &self.metrics {
            m.observe_decision(took.elapsed());
        }
        r
    }
}

impl ChainView for LiveWorld<'_> {
    fn chain_id(&self) -> u64 {
        self.spec.chain_id
    }
    fn pending_raw(&self, id: TxId) -> Option<&Bytes> {
        self.desk.pending_raw(id)
    }
    fn in_mempool(&self, hash: &B256) -> bool {
        self.pending.contains(hash)
    }
    /// When the next block is due, on the node's clock (its head's time plus the block time).
    fn next_block_at(&self) -> SimTime {
        (self.head.timestamp + self.block_s).saturating_sub(self.genesis_ts) * NANOS_PER_SEC
    }
    fn head_base_fee(&self) -> u128 {
        self.head.base_fee
    }
    fn storage(&self, contract: Address, slot: U256) -> U256 {
        self.chain.as_ref().map(|c| c.storage_ref(contract, slot)).unwrap_or_default()
    }
    fn nonce(&self, who: Address) -> u64 {
        self.chain.as_ref().map(|c| c.nonce_ref(who)).unwrap_or_default()
    }
    fn dex(&self) -> Option<&DexBook> {
        Some(&self.book)
    }
    fn bundle_report(&self, strategy: u16, tag: u64) -> Option<&BundleReport> {
        self.desk.bundle_report(strategy, tag)
    }
}

impl MarketView for LiveWorld<'_> {
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
        self.reserves.get(pool.0 as usize).copied().unwrap_or_default()
    }
    fn block(&self) -> BlockInfo {
        self.block_info()
    }
    fn inventory(&self) -> &Inventory {
        &self.inventory
    }
    fn mark_price(&self, asset: AssetId) -> Option<u128> {
        crate::sim::fork::weth_price(*self.reserves.first().filter(|_| asset == AssetId(0))?)
    }
}

/// The blocks' mined transactions read for one head, each block once: settling our bundles, the
/// journal's open ones and pruning the mempool all ask for the same blocks.
pub struct LandedBlocks<'r> {
    rpc: &'r RpcSource,
    blocks: BTreeMap<u64, Vec<crate::chain::rpc::LandedTx>>,
}

impl<'r> LandedBlocks<'r> {
    pub fn new(rpc: &'r RpcSource) -> Self {
        LandedBlocks { rpc, blocks: BTreeMap::new() }
    }

    /// Block `number`'s transactions (read from the node the first time it is asked for).
    pub fn get(&mut self, number: u64) -> Result<&[crate::chain::rpc::LandedTx], crate::chain::fork::ForkError> {
        if let std::collections::btree_map::Entry::Vacant(e) = self.blocks.entry(number) {
            e.insert(self.rpc.landed(number)?);
        }
        Ok(self.blocks.get(&number).map(Vec::as_slice).unwrap_or_default())
    }
}

/// What `settle_journal` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    pub bundles: usize,
    pub included: usize,
    /// Transactions of `me` in the included ones (the nonces they used).
    pub ours_landed: Vec<B256>,
}

/// The journal's bundles still open for blocks up to `head` (but those in `skip`, which their
/// owner settles): included when every transaction is in its target block, otherwise not.
pub fn settle_journal(
    journal: &mut super::LiveJournal,
    blocks: &mut LandedBlocks<'_>,
    head: u64,
    me: Address,
    skip: &BTreeSet<B256>,
) -> Result<Settled, String> {
    let open: Vec<_> = journal
        .open_until(head)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|e| !skip.contains(&e.bundle_hash))
        .collect();
    let mut done = Settled::default();
    for e in &open {
        let landed = blocks.get(e.target_block).map_err(|err| format!("block {}: {err}", e.target_block))?;
        let held = !e.txs.is_empty()
            && e.txs.iter().all(|raw| {
                let h = crate::relay::rpc::tx_hash(raw);
                landed.iter().any(|t| t.hash == h)
            });
        let state = if held { super::State::Included } else { super::State::NotIncluded };
        journal.mark(e.seq, state, None, Some(e.target_block)).map_err(|err| err.to_string())?;
        done.bundles += 1;
        if held {
            done.included += 1;
            done.ours_landed.extend(
                e.txs
                    .iter()
                    .filter_map(|raw| crate::mempool::PendingTx::from_raw(raw.clone()).ok())
                    .filter(|p| p.from == me)
                    .map(|p| p.hash),
            );
        }
    }
    Ok(done)
}
