//! Fork mode's world: real chain state from a node (pinned block by block, read through
//! `ForkDb`), the transactions of each next block offered as pending in their order, our bundles
//! confirmed by simulation on that state and recorded by the dry-run sink — nothing is sent — and
//! each block as it actually landed compared with what we would have done.
//!
//! Per pinned block N+k the world lays our dry-run overlay on the real state (never on the node):
//! our searcher wallet funded as `[account]` says, our executor contract deployed and approved —
//! what a searcher who had been running at that block would have held. Reserves, victims' balances
//! and nonces, token and pair code are the chain's.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;

use super::desk::BundleDesk;
use crate::chain::contracts::{self, ITestERC20, IUniswapV2Pair, IWETH9};
use crate::chain::fork::{FetchStats, ForkDb, Pin};
use crate::chain::rpc::{BlockHead, LandedTx, RpcSource};
use crate::chain::simchain::mapping_slot;
use crate::chain::world::DexVenue as Venue;
use crate::chain::{ChainError, SimChain, Wallet};
use crate::config::{ForkSpec, PendingFlow, RunSpec};
use crate::core::strategy::{AssetSpec, CexSpec, Inventory, MarketView, PoolSpec};
use crate::core::{
    Action, AssetId, BlockInfo, BookSnapshot, BundleReport, BundleStatus, ChainView, DexBook, Event, NANOS_PER_SEC,
    OurTxEffect, PoolId, SimTime, SkipReason, TxId, VenueId, next_base_fee,
};
use crate::engine::driver::{Assessment, Decision, Schedule, World};
use crate::execution::bundle_manager::{BundleManager, DryRunSink, token_flows_of};
use crate::mempool::{PendingTx, target_of};
use crate::risk::RiskGate;

mod blocks;
mod cex;
pub mod forked_chain;
mod lending;
mod rivals;
mod sink;

pub use blocks::venues_of;
use blocks::{Blocks, listen, pool, walk};
pub use cex::ForkCex;
pub use lending::{ForkLendingMarket, RivalLiquidation};
pub use rivals::RivalSandwich;
use sink::Live;
pub use sink::{AtomicRecord, WouldSend};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ForkEvent {
    /// The i-th offered transaction reaches the mempool.
    Pending(u32),
    /// Block N+k is about to be built (the liquidation strategy decides).
    Deadline(u32),
    /// Block N+k is built (k from 1).
    Block(u32),
    /// Recorded CEX book i becomes its venue's; it reaches our feed.
    CexBook(u32),
    Quote(u32),
    /// Our CEX order reaches its venue; the venue's report of it reaches us.
    OrderArrive(u32),
    OrderReport(u32),
    /// DEX legs sent when no walked block was left settle (as not sent).
    LegsDue,
}

/// One DEX leg of a DEX-CEX arbitrage (`LegOrder::Dex`), for the next walked block.
#[derive(Clone, Copy, Debug)]
pub(super) struct DexLeg {
    pub(super) pool: PoolId,
    pub(super) side: crate::core::Side,
    pub(super) base_raw: u128,
    pub(super) quote_limit: u128,
    pub(super) gas_limit: u64,
    pub(super) priority_fee_wei: u128,
}

#[derive(Debug, thiserror::Error)]
pub enum ForkRunError {
    #[error(transparent)]
    Fork(#[from] crate::chain::fork::ForkError),
    #[error("{0}")]
    Chain(#[from] ChainError),
    #[error("{key}: {message}")]
    Config { key: String, message: String },
    #[error("internal: {0}")]
    Internal(&'static str),
}

/// What the run read and how often it asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForkCounts {
    pub pins: u64,
    pub fetch: FetchStats,
    /// Transactions of the walked blocks, those calling our routers or pairs, and those announced.
    pub offered: u64,
    pub to_our_pools: u64,
    pub announced: u64,
    /// Requests made while strategies decided and their bundles were simulated (after the pin's
    /// prefetch and warm-up): 0 once warm.
    pub decision_requests: u64,
}

pub struct ForkWorld<'a> {
    spec: &'a RunSpec,
    fork: &'a ForkSpec,
    rpc: RpcSource,
    /// N, N+1, … N+K.
    heads: Vec<BlockHead>,
    /// Block N+k's transactions at [k-1].
    landed: Vec<Vec<LandedTx>>,
    /// The i-th offered transaction: (k, its index in block N+k).
    offered: Vec<(u32, usize)>,
    chain: SimChain<ForkDb<RpcSource>>,
    /// Blocks built so far: the head is N+k.
    k: usize,
    pub desk: BundleDesk,
    book: DexBook,
    pools: Vec<PoolSpec>,
    /// The pools' router and pair (found through the factory where the config names one).
    venues: Vec<Venue>,
    /// (WETH, quote) reserves per pool at the head, and as the pools' math sees them.
    reserves: Vec<(U256, U256)>,
    cp_pools: Vec<crate::market::amm::CpPool>,
    /// The CEX venues' recorded books and our orders there (`fork.cex_quotes`), when the
    /// micro-arbitrage strategy runs.
    pub cex: Option<ForkCex>,
    /// Offered transactions still pending (they leave at their block).
    pending: Vec<B256>,
    live: BTreeMap<String, Live>,
    pub would_send: Vec<WouldSend>,
    pub rivals: Vec<RivalSandwich>,
    /// `[fork.lending]`'s market once read (at the first pin), and the liquidations that landed.
    pub lending: Option<ForkLendingMarket>,
    pub rival_liquidations: Vec<RivalLiquidation>,
    pub atomic: Vec<AtomicRecord>,
    /// Our dry-run wallet as `[account]` gives it at every pin (nothing we would send lands).
    inventory: Inventory,
    /// Borrowers whose position the last pin changed (announced with the block).
    moved: Vec<u32>,
    pub counts: ForkCounts,
    quote_slot: Option<u64>,
    /// Where each pin's reads are kept (`fork.cache_dir`), if anywhere.
    cache: Option<std::path::PathBuf>,
    me: Address,
    pub initial: [u128; 3],
    /// The first failure of the node or of our overlay: the run fails, no report is written.
    failure: Option<String>,
    /// Signs the builders' requests (`[keys] relay_auth`, else a simulation key): never the
    /// searcher's key.
    relay_auth: Wallet,
}

impl<'a> ForkWorld<'a> {
    /// Pins the first block (chain id and hash checked), reads the blocks to walk and their
    /// transactions, and lays our overlay on the first pinned state.
    pub fn new(spec: &'a RunSpec, rpc: RpcSource) -> Result<Self, ForkRunError> {
        let fork = spec.fork.as_ref().ok_or(ForkRunError::Internal("fork mode without [fork]"))?;
        // The searcher's own key when `[keys]` names one (bundles.jsonl then holds exactly what
        // it would have signed), else a simulation key from the seed.
        let wallet = match &spec.keys.searcher {
            Some(source) => source
                .load()
                .map_err(|e| ForkRunError::Config { key: "keys.searcher".into(), message: e.to_string() })?,
            None => Wallet::derived(spec.seed, "xcrack/searcher"),
        };
        let relay_auth = match &spec.keys.relay_auth {
            Some(source) => source
                .load()
                .map_err(|e| ForkRunError::Config { key: "keys.relay_auth".into(), message: e.to_string() })?,
            None => Wallet::derived(spec.seed, "xcrack/flashbots-auth"),
        };
        let Blocks { pin, heads, pending: landed } = match fork.pending {
            PendingFlow::NextBlock => {
                let (pin, heads) = walk(&rpc, spec, fork)?;
                let pending = heads[1..].iter().map(|h| rpc.landed(h.number)).collect::<Result<Vec<_>, _>>()?;
                Blocks { pin, heads, pending }
            }
            PendingFlow::Txpool => pool(&rpc, spec, fork)?,
            PendingFlow::Subscribe(window) => listen(&rpc, spec, fork, window)?,
        };
        let venues = venues_of(&rpc, &pin, fork)?;
        let cex = match (spec.micro.enabled, &fork.cex_quotes) {
            (false, _) => None,
            (true, Some(path)) => {
                let to = heads.last().map_or(0, |h| h.timestamp);
                Some(ForkCex::load(spec, path, heads[0].timestamp, to)?)
            }
            (true, None) => return Err(ForkRunError::Internal("micro-arbitrage without fork.cex_quotes")),
        };

        let me = wallet.address();
        let manager = BundleManager::with_sink(wallet, Box::new(DryRunSink::default()), spec.chain_id);
        let pools = fork
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| PoolSpec {
                id: PoolId(i as u16),
                name: p.name.clone(),
                asset: AssetId(0),
                fee_bps: p.fee_bps,
                swap_gas: p.swap_gas,
            })
            .collect();
        let mut offered = Vec::new();
        for (k, txs) in landed.iter().enumerate() {
            offered.extend((0..txs.len()).map(|j| (k as u32 + 1, j)));
        }
        let chain = SimChain::over(ForkDb::new(rpc.clone(), pin_of(spec, &heads[0])), spec.chain_id);
        let mut world = ForkWorld {
            spec,
            fork,
            rpc,
            heads,
            landed,
            offered,
            chain,
            k: 0,
            desk: BundleDesk::new(manager),
            book: DexBook { weth: fork.weth, quote: fork.quote, executor: Address::ZERO, searcher: me, pools: vec![] },
            pools,
            venues,
            reserves: Vec::new(),
            cp_pools: Vec::new(),
            cex,
            pending: Vec::new(),
            live: BTreeMap::new(),
            would_send: Vec::new(),
            rivals: Vec::new(),
            lending: None,
            rival_liquidations: Vec::new(),
            atomic: Vec::new(),
            inventory: Inventory {
                cex_base: spec.cex.iter().map(|c| c.balance_base).collect(),
                cex_quote: spec.cex.iter().map(|c| c.balance_quote).collect(),
                wallet_base: vec![spec.wallet_base],
                wallet_quote: spec.wallet_quote,
                wallet_native: spec.wallet_native,
            },
            moved: Vec::new(),
            counts: ForkCounts::default(),
            quote_slot: fork.quote_balance_slot,
            cache: fork.cache_dir.clone(),
            me,
            initial: [spec.wallet_base, spec.wallet_quote, spec.wallet_native],
            failure: None,
            relay_auth,
        };
        world.repin(0)?;
        Ok(world)
    }

    /// The blocks walked (K).
    pub fn blocks(&self) -> u64 {
        self.heads.len() as u64 - 1
    }

    pub fn first_block(&self) -> &BlockHead {
        &self.heads[0]
    }

    /// SimTime of block N+k: seconds after the pinned block.
    fn time_of(&self, k: usize) -> SimTime {
        (self.heads[k].timestamp - self.heads[0].timestamp) * NANOS_PER_SEC
    }

    /// The base fee of block N+k+1 as known at N+k (EIP-1559 from its parent's header).
    fn next_base_fee(&self) -> u128 {
        let h = &self.heads[self.k];
        next_base_fee(h.base_fee, h.gas_used, h.gas_limit)
    }

    /// The base fee of the first block built (N+1), as known at N.
    pub fn head_base_fee_next(&self) -> u128 {
        self.next_base_fee()
    }

    /// The run's failure, if any (the node, or a read of our overlay).
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Moves to block N+k's state: a new pin read through the node, our overlay laid on it, the
    /// pools' reserves read. A failed read of the node is the run's failure, named as the node's.
    fn repin(&mut self, k: usize) -> Result<(), ForkRunError> {
        let head = self.heads[k];
        let next = self.heads.get(k + 1).copied().unwrap_or(head);
        let pin = pin_of(self.spec, &head);
        let db = match self.cache.as_deref().map(|d| crate::chain::fork::load(d, &pin)) {
            Some(Ok(Some(state))) => ForkDb::with_state(self.rpc.clone(), pin, &state)?,
            Some(Err(e)) => {
                tracing::warn!(target: "xcrack::fork", error = %e, "fork cache unreadable; reading the node");
                ForkDb::new(self.rpc.clone(), pin)
            }
            _ => ForkDb::new(self.rpc.clone(), pin),
        };
        let mut chain = SimChain::over(db, self.spec.chain_id);
        chain.set_spec(crate::chain::simchain::spec_for(self.spec.chain_id, next.number, next.timestamp));
        let (accounts, slots) = self.hot(k);
        let fetched = chain.db().db.prefetch_accounts(&accounts).and_then(|_| chain.db().db.prefetch(&slots));
        if let Err(e) = fetched {
            return Err(ForkRunError::Fork(e));
        }
        // Our overlay runs free of charge in the block being built, before its real base fee is set.
        chain.start_block(head.number + 1, next.timestamp, 0, next.coinbase);
        let laid = self.overlay(&mut chain);
        if let Some(e) = chain.db().db.failure() {
            return Err(source_failure(e));
        }
        laid?;
        if self.fork.lending.is_some() {
            let laid = self.lay_lending(&mut chain, &pin);
            if let Some(e) = chain.db().db.failure() {
                return Err(source_failure(e));
            }
            laid?;
        }
        let old = std::mem::replace(&mut self.chain, chain);
        self.absorb(old.db_ref().db.stats());
        if k > 0 {
            self.save_cache(&old);
        }
        self.k = k;
        let base_fee = self.next_base_fee().min(u128::from(u64::MAX)) as u64;
        self.chain.start_block(head.number + 1, next.timestamp, base_fee, next.coinbase);
        self.counts.pins += 1;
        let read = if k == 0 { self.check_pools().and_then(|_| self.read_reserves()) } else { self.read_reserves() };
        self.warm(k, next);
        if let Some(e) = self.chain.db().db.failure() {
            return Err(source_failure(e));
        }
        read
    }

    fn check_source(&mut self) -> Result<(), ForkRunError> {
        match self.chain.db().db.failure() {
            Some(e) => Err(source_failure(e)),
            None => Ok(()),
        }
    }

    /// What the next pin reads before the EVM runs, in two batches: at the first pin the pools'
    /// pairs and tokens and the pairs' own slots (Uniswap V2's layout: token0, token1, reserves,
    /// price accumulators, kLast, lock); at later pins everything the pin before it read, the
    /// strategies' hot set.
    fn hot(&self, k: usize) -> (Vec<Address>, Vec<(Address, U256)>) {
        if k == 0 {
            let mut accounts = vec![self.fork.weth, self.fork.quote, self.me];
            let mut slots = Vec::new();
            for p in &self.venues {
                accounts.push(p.pair);
                accounts.push(p.router);
                slots.extend((6..=12u64).map(|s| (p.pair, U256::from(s))));
            }
            return (accounts, slots);
        }
        let state = self.chain.db_ref().db.state();
        // The balance-slot probe's misses are no one's hot set.
        let probes: std::collections::BTreeSet<U256> =
            (0..=100u64).filter(|s| Some(*s) != self.quote_slot).map(|s| mapping_slot(self.me, s)).collect();
        let slots = state
            .storage
            .iter()
            .filter(|(a, s, _)| !(*a == self.fork.quote && probes.contains(s)))
            .map(|&(a, s, _)| (a, s))
            .collect();
        (state.accounts.keys().copied().collect(), slots)
    }

    /// Runs block N+k+1's transactions to our pools once on the pinned state, each alone and
    /// rolled back, so that what they read (the senders, their token balances) is fetched here,
    /// before the strategies hear of them, and not on the decision path.
    fn warm(&mut self, k: usize, next: BlockHead) {
        let Some(txs) = self.landed.get(k) else { return };
        for t in txs {
            let to_us = target_of(&t.raw).is_some_and(|to| self.watches(to));
            let Some(p) = to_us.then(|| PendingTx::from_raw(t.raw.clone()).ok()).flatten() else { continue };
            let _ =
                self.chain.simulate_signed_from(std::slice::from_ref(&t.raw), &[p.from], next.number, next.timestamp);
        }
    }

    /// Keeps what a pin read in the cache directory, if there is one (a failure only warns: the
    /// run does not depend on it).
    fn save_cache(&self, chain: &SimChain<ForkDb<RpcSource>>) {
        let Some(dir) = &self.cache else { return };
        let saved = std::fs::create_dir_all(dir)
            .map_err(|e| e.to_string())
            .and_then(|_| crate::chain::fork::save(dir, &chain.db_ref().db.state()).map_err(|e| e.to_string()));
        if let Err(e) = saved {
            tracing::warn!(target: "xcrack::fork", error = %e, "fork cache not written");
        }
    }

    /// Adds a finished pin's counts.
    fn absorb(&mut self, s: FetchStats) {
        let f = &mut self.counts.fetch;
        f.account_requests += s.account_requests;
        f.storage_requests += s.storage_requests;
        f.storage_slots += s.storage_slots;
        f.block_hash_requests += s.block_hash_requests;
        f.cache_hits += s.cache_hits;
    }

    /// Our dry-run wallet and executor on the pinned state: ETH for gas, WETH wrapped by a real
    /// deposit, the quote token credited in its balance mapping, the executor deployed and approved.
    fn overlay(&mut self, chain: &mut SimChain<ForkDb<RpcSource>>) -> Result<(), ForkRunError> {
        let me = self.me;
        let [base, quote, native] = self.initial;
        chain.set_balance(me, U256::from(native) + U256::from(base));
        let executor = chain.deploy(me, contracts::executor(), &[])?;
        if base > 0 {
            chain
                .call(me, self.fork.weth, IWETH9::depositCall {}.abi_encode().into(), U256::from(base))?
                .require("WETH.deposit (fork.weth)")?;
        }
        if quote > 0 {
            let slot = match self.quote_slot {
                Some(s) => s,
                None => find_balance_slot(chain, self.fork.quote, me)?,
            };
            self.quote_slot = Some(slot);
            chain.set_storage(self.fork.quote, mapping_slot(me, slot), U256::from(quote));
            if balance_of(chain, self.fork.quote, me)? != U256::from(quote) {
                return Err(ForkRunError::Config {
                    key: "fork.quote_balance_slot".into(),
                    message: format!("slot {slot} is not {}'s balanceOf mapping", self.fork.quote),
                });
            }
        }
        // The routers only when our DEX-CEX legs swap through them: an approval is a state read.
        let routers = self.cex.as_ref().map(|_| self.venues.iter().map(|v| v.router)).into_iter().flatten();
        for spender in std::iter::once(executor).chain(routers) {
            for token in [self.fork.weth, self.fork.quote] {
                let approve = ITestERC20::approveCall { spender, value: U256::MAX }.abi_encode();
                chain.call(me, token, approve.into(), U256::ZERO)?.require("approve (our executor and routers)")?;
            }
        }
        self.book.executor = executor;
        self.book.pools = self.venues.iter().map(|p| (p.router, p.pair)).collect();
        Ok(())
    }

    /// Every pair must hold exactly `fork.weth` and `fork.quote`.
    fn check_pools(&mut self) -> Result<(), ForkRunError> {
        let (weth, quote) = (self.fork.weth, self.fork.quote);
        for (i, p) in self.venues.clone().iter().enumerate() {
            let t0 = self.address_call(p.pair, IUniswapV2Pair::token0Call {}.abi_encode())?;
            let t1 = self.address_call(p.pair, IUniswapV2Pair::token1Call {}.abi_encode())?;
            let (lo, hi) = if weth < quote { (weth, quote) } else { (quote, weth) };
            if (t0, t1) != (lo, hi) {
                return Err(ForkRunError::Config {
                    key: format!("fork.pools[{i}].pair"),
                    message: format!("{} pairs {t0} with {t1}, not fork.weth with fork.quote", p.pair),
                });
            }
        }
        self.check_source()
    }

    fn address_call(&mut self, to: Address, data: Vec<u8>) -> Result<Address, ForkRunError> {
        let o = self.chain.view(self.me, to, data.into())?;
        match o.output.get(12..32) {
            Some(a) if o.success && o.output.len() == 32 => Ok(Address::from_slice(a)),
            _ => Err(ForkRunError::Config {
                key: "fork.pools".into(),
                message: format!("{to} is not a Uniswap V2 pair"),
            }),
        }
    }

    /// (WETH, quote) reserves of every pool, through the pair's own `getReserves`.
    fn read_reserves(&mut self) -> Result<(), ForkRunError> {
        let out = pair_reserves(&mut self.chain, self.me, &self.venues, (self.fork.weth, self.fork.quote))?;
        self.cp_pools = out
            .iter()
            .zip(&self.pools)
            .map(|(&(b, q), p)| crate::market::amm::CpPool { reserve_base: b, reserve_quote: q, fee_bps: p.fee_bps })
            .collect();
        self.reserves = out;
        Ok(())
    }

    /// Offered transaction `i` reaches the mempool: announced when it calls one of our routers or
    /// pairs (read without recovering its signer first).
    fn on_pending(&mut self, i: u32, out: &mut Vec<Event>) {
        let Some(&(k, j)) = self.offered.get(i as usize) else { return };
        let tx = &self.landed[k as usize - 1][j];
        self.counts.offered += 1;
        let ours = target_of(&tx.raw).is_some_and(|to| self.watches(to));
        if !ours {
            return;
        }
        self.counts.to_our_pools += 1;
        let Ok(p) = PendingTx::from_raw(tx.raw.clone()) else { return };
        self.counts.announced += 1;
        let id = self.desk.announce(tx.raw.clone(), p.from);
        self.pending.push(tx.hash);
        out.push(Event::PendingTx { id, seen_at: self.time_of(k as usize - 1) });
    }

    /// Block N+k as it landed: our bundles for it end (never sent), the rivals' sandwiches in it
    /// are labelled, its transactions leave the mempool, and the state moves to it.
    fn on_block(&mut self, k: u32, out: &mut Vec<Event>) -> Result<(), ForkRunError> {
        let k = k as usize;
        let number = self.heads[k].number;
        let ours: Vec<String> = self.live.iter().filter(|(_, l)| l.target == number).map(|(u, _)| u.clone()).collect();
        let mut news = Vec::new();
        for uuid in ours {
            let Some(l) = self.live.remove(&uuid) else { continue };
            let effects = l.sim.receipts.iter().filter(|r| r.from == self.me).map(|rc| OurTxEffect {
                gas_used: rc.gas_used,
                effective_gas_price: rc.effective_gas_price,
                flows: token_flows_of(std::slice::from_ref(rc), self.me),
            });
            news.push((
                l.strategy,
                BundleReport {
                    tag: l.tag,
                    status: BundleStatus::NotSent,
                    hash: Some(l.hash),
                    reason: "dry run: recorded, never sent".into(),
                    ours: effects.collect(),
                },
            ));
        }
        self.label_rivals(k);
        if let Some(m) = &self.lending {
            let found = m.liquidations_in(&self.landed[k - 1], self.heads[k].number);
            self.rival_liquidations.extend(found);
        }
        let landed: Vec<B256> = self.landed[k - 1].iter().map(|t| t.hash).collect();
        self.pending.retain(|h| !landed.contains(h));
        if k < self.heads.len() - 1 {
            self.repin(k)?;
        } else {
            self.k = k;
        }
        for (strategy, report) in news {
            self.desk.report(strategy, report, out);
        }
        out.extend(std::mem::take(&mut self.moved).into_iter().map(|account| Event::Position { account }));
        out.push(Event::Block(self.block_info()));
        Ok(())
    }

    /// Does a transaction to `to` concern our strategies: our pools' routers and pairs, and the
    /// lending oracle whose updates the liquidation strategy reads?
    fn watches(&self, to: Address) -> bool {
        self.venues.iter().any(|p| p.router == to || p.pair == to)
            || self.lending.as_ref().is_some_and(|m| m.book.market.oracle == to)
    }

    /// The lending market on the new pin (read at the first), our flash liquidator and approvals
    /// laid on it, its prices and the borrowers' positions read: whose changed is announced.
    fn lay_lending(&mut self, chain: &mut SimChain<ForkDb<RpcSource>>, pin: &Pin) -> Result<(), ForkRunError> {
        let Some(l) = &self.fork.lending else { return Ok(()) };
        let mut market = match self.lending.take() {
            Some(mut m) => {
                m.read_prices(chain);
                let positions = m.read_positions(chain);
                self.moved =
                    (0..positions.len()).filter(|&i| positions[i] != m.positions[i]).map(|i| i as u32).collect();
                m.positions = positions;
                m
            }
            None => {
                let pairs: Vec<Address> = self.venues.iter().map(|v| v.pair).collect();
                let dex = crate::chain::world::DexDeployment {
                    deployer: self.me,
                    weth: self.fork.weth,
                    usdc: self.fork.quote,
                    venues: self.venues.clone(),
                    executor: self.book.executor,
                    searcher: self.me,
                    reserves_slot: crate::chain::world::reserves_slot_of(chain, &pairs, self.me)?,
                    quote_balance_slot: self.quote_slot.unwrap_or_default(),
                    quote_mintable: false,
                };
                let fee = self.fork.pools[0].fee_bps;
                ForkLendingMarket::read(chain, &self.rpc, pin, self.fork, l, dex, fee)?
            }
        };
        let laid = market.lay(chain);
        self.lending = Some(market);
        laid.map_err(ForkRunError::from)
    }

    /// Sandwiches of our pools' victims in block N+k as it landed (`rivals::sandwiches_in`).
    fn label_rivals(&mut self, k: usize) {
        let pairs: Vec<Address> = self.venues.iter().map(|v| v.pair).collect();
        let found = rivals::sandwiches_in(
            &self.landed[k - 1],
            &pairs,
            (self.fork.weth, self.fork.quote),
            &self.heads[k],
            &self.rpc,
        );
        self.rivals.extend(found);
    }

    fn block_info(&self) -> BlockInfo {
        BlockInfo { number: self.heads[self.k].number, timestamp: 0, base_fee_wei: self.next_base_fee() }
    }

    /// What the fork cost in reads, including the pin in use.
    pub fn finish(mut self) -> ForkCounts {
        let s = self.chain.db_ref().db.stats();
        self.absorb(s);
        self.save_cache(&self.chain);
        self.counts
    }

    fn fail(&mut self, e: impl std::fmt::Display) {
        if self.failure.is_none() {
            tracing::error!(target: "xcrack::fork", error = %e, "fork run failed");
            self.failure = Some(e.to_string());
        }
    }
}

/// (WETH, quote) reserves of each venue's pair on `chain`, through the pair's own `getReserves`.
pub fn pair_reserves<X: revm::database::DatabaseRef>(
    chain: &mut SimChain<X>,
    caller: Address,
    venues: &[Venue],
    (weth, quote): (Address, Address),
) -> Result<Vec<(U256, U256)>, ForkRunError> {
    let mut out = Vec::with_capacity(venues.len());
    for p in venues {
        let o = chain.view(caller, p.pair, IUniswapV2Pair::getReservesCall {}.abi_encode().into())?;
        let r = IUniswapV2Pair::getReservesCall::abi_decode_returns(&o.output).map_err(|e| ForkRunError::Config {
            key: "fork.pools".into(),
            message: format!("{}: getReserves: {e}", p.pair),
        })?;
        let (r0, r1) = (U256::from(r.reserve0), U256::from(r.reserve1));
        out.push(if weth < quote { (r0, r1) } else { (r1, r0) });
    }
    Ok(out)
}

/// Quote raw per whole WETH at a pool's (WETH, quote) reserves (none for an empty pool).
pub fn weth_price((w, q): (U256, U256)) -> Option<u128> {
    (!w.is_zero()).then(|| (q * U256::from(10u128.pow(18)) / w).saturating_to())
}

fn source_failure(message: String) -> ForkRunError {
    ForkRunError::Fork(crate::chain::fork::ForkError::Source { method: "reading state", message })
}

fn pin_of(spec: &RunSpec, h: &BlockHead) -> Pin {
    Pin { chain_id: spec.chain_id, number: h.number, hash: h.hash }
}

fn balance_of(chain: &mut SimChain<ForkDb<RpcSource>>, token: Address, who: Address) -> Result<U256, ChainError> {
    let o = chain.view(who, token, ITestERC20::balanceOfCall { owner: who }.abi_encode().into())?;
    Ok(if o.success && o.output.len() >= 32 { U256::from_be_slice(&o.output[..32]) } else { U256::ZERO })
}

/// The slot of `token`'s `balanceOf` mapping: its 101 candidates for `who` fetched in one batch,
/// then probed (`chain::world::balance_slot`).
fn find_balance_slot(
    chain: &mut SimChain<ForkDb<RpcSource>>,
    token: Address,
    who: Address,
) -> Result<u64, ForkRunError> {
    let candidates: Vec<(Address, U256)> = (0..=100u64).map(|s| (token, mapping_slot(who, s))).collect();
    chain.db().db.prefetch(&candidates).map_err(ForkRunError::Fork)?;
    crate::chain::world::balance_slot(chain, token, who)?.ok_or_else(|| ForkRunError::Config {
        key: "fork.quote_balance_slot".into(),
        message: format!("no slot 0..=100 of {token} is its balanceOf mapping; set it"),
    })
}

impl World for ForkWorld<'_> {
    type Event = ForkEvent;

    /// Blocks first, then the offered transactions: block N+k's transactions are offered at
    /// N+k-1's time, after that block's event.
    fn start(&mut self, q: &mut dyn Schedule<ForkEvent>) {
        for k in 1..self.heads.len() {
            q.schedule(self.time_of(k), ForkEvent::Block(k as u32));
        }
        // The liquidation strategy decides when the block is about to be built: after the last
        // transaction offered for it (offered at its parent's time; timestamps strictly increase).
        if self.lending.is_some() {
            for k in 1..self.heads.len() {
                q.schedule(self.time_of(k) - 1, ForkEvent::Deadline(k as u32));
            }
        }
        for (i, &(k, _)) in self.offered.iter().enumerate() {
            q.schedule(self.time_of(k as usize - 1), ForkEvent::Pending(i as u32));
        }
        for (i, b) in self.cex.iter().flat_map(|c| c.books.iter()).enumerate() {
            q.schedule(b.exchange, ForkEvent::CexBook(i as u32));
            q.schedule(b.received, ForkEvent::Quote(i as u32));
        }
    }

    fn advance(
        &mut self,
        now: SimTime,
        event: ForkEvent,
        q: &mut dyn Schedule<ForkEvent>,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) {
        if self.failure.is_some() {
            return;
        }
        match event {
            ForkEvent::Pending(i) => self.on_pending(i, out),
            ForkEvent::Deadline(_) => out.push(Event::Timer { id: crate::core::BUILD_DEADLINE }),
            ForkEvent::Block(k) => {
                if let Err(e) = self.on_block(k, out) {
                    self.fail(e);
                    out.clear();
                    return;
                }
                let number = self.heads[k as usize].number;
                self.settle_legs(number, now, q, risk, out);
            }
            ForkEvent::CexBook(i) => {
                if let Some(c) = self.cex.as_mut() {
                    c.goes_live(i);
                }
            }
            ForkEvent::Quote(i) => {
                if let Some(venue) = self.cex.as_mut().and_then(|c| c.heard(i)) {
                    out.push(Event::Quote { venue });
                }
            }
            ForkEvent::OrderArrive(o) => self.with_executor(now, q, risk, out, |e, v| e.on_order_arrive(o, now, v)),
            ForkEvent::OrderReport(o) => self.with_executor(now, q, risk, out, |e, v| e.on_order_report(o, now, v)),
            ForkEvent::LegsDue => self.settle_legs(0, now, q, risk, out),
        }
    }

    fn market(&self) -> &dyn MarketView {
        self
    }

    fn chain(&self) -> &dyn ChainView {
        self
    }

    /// Atomic arbitrages are bundles here: as many out at once as `max_concurrent_trades` allows;
    /// DEX-CEX trades hold the order executor's permits too.
    fn free_trade_slots(&self) -> usize {
        let bundles = self.spec.micro.max_concurrent_trades.saturating_sub(self.live.len());
        match self.cex.as_ref().and_then(|c| c.exec.as_ref()) {
            Some(e) => bundles.min(e.free_permits()),
            None => bundles,
        }
    }

    fn is_busy(&self, venue: crate::core::LegVenue) -> bool {
        self.cex.as_ref().and_then(|c| c.exec.as_ref()).is_some_and(|e| e.is_busy(venue))
    }

    fn assess(&self, _strategy: u16, action: &Action) -> Assessment {
        match action {
            Action::Bundle(req) => Assessment {
                in_flight: super::desk::bundles_out(&self.live, req),
                gas_wei: req.gas_wei.max(1),
                foreign_token: match &self.lending {
                    Some(m) => lending::moves_foreign_reserve(self.spec, m, &req.expected_flows),
                    None => super::desk::moves_foreign_token(self.spec, self.fork.weth, self.fork.quote, req),
                },
                ..Assessment::default()
            },
            Action::Cancel { .. } => Assessment { reduces_risk: true, ..Assessment::default() },
            // At the last walked block the state is its parent's: its reserves are stale.
            Action::AtomicArb(_) if self.k + 1 >= self.heads.len() => {
                Assessment { refuse: Some(SkipReason::StaleQuote), ..Assessment::default() }
            }
            Action::AtomicArb(p) => crate::sim::desk::assess_atomic(self.spec, p, self.next_base_fee()),
            Action::Arbitrage(p) => self.assess_arbitrage(p),
        }
    }

    fn execute(
        &mut self,
        strategy: u16,
        action: Action,
        now: SimTime,
        q: &mut dyn Schedule<ForkEvent>,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) -> Result<(), SkipReason> {
        if self.failure.is_some() {
            return Err(SkipReason::SimulationFailed);
        }
        let before = self.rpc.requests();
        let r = match action {
            Action::Arbitrage(plan) => {
                self.with_executor(now, q, risk, out, |e, v| e.execute(strategy, plan, now, v));
                Ok(())
            }
            action => self.carry_out(strategy, action, now, risk, out),
        };
        self.counts.decision_requests += self.rpc.requests() - before;
        r
    }

    fn declined(&mut self, strategy: u16, action: &Action, decision: Decision, out: &mut Vec<Event>) {
        self.desk.declined(strategy, action, decision, out);
    }
}

impl ChainView for ForkWorld<'_> {
    fn chain_id(&self) -> u64 {
        self.spec.chain_id
    }
    fn pending_raw(&self, id: TxId) -> Option<&Bytes> {
        self.desk.pending_raw(id)
    }
    fn in_mempool(&self, hash: &B256) -> bool {
        self.pending.contains(hash)
    }
    fn next_block_at(&self) -> SimTime {
        if self.k + 1 < self.heads.len() { self.time_of(self.k + 1) } else { SimTime::MAX }
    }
    fn head_base_fee(&self) -> u128 {
        self.heads[self.k].base_fee
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

/// What strategies may read of the forked market: the pools' reserves at the head and the block.
impl MarketView for ForkWorld<'_> {
    fn assets(&self) -> &[AssetSpec] {
        self.cex.as_ref().map_or(&[], |c| &c.assets)
    }
    fn quote_decimals(&self) -> u32 {
        self.spec.quote_decimals
    }
    fn venues(&self) -> &[CexSpec] {
        self.cex.as_ref().map_or(&[], |c| &c.specs)
    }
    fn pools(&self) -> &[PoolSpec] {
        &self.pools
    }
    fn book(&self, venue: VenueId) -> Option<&BookSnapshot> {
        self.cex.as_ref()?.feed_book(venue)
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
    /// Quote raw per whole WETH, to value gas: with CEX books, the median of their mids as our
    /// feed has them (the pool may be the mispriced side); otherwise the first pool's price at
    /// the head.
    fn mark_price(&self, asset: AssetId) -> Option<u128> {
        if let Some(mid) = self.cex.as_ref().and_then(|c| c.median_mid(self.spec.base_decimals)) {
            return (asset == AssetId(0)).then_some(mid);
        }
        weth_price(*self.reserves.first().filter(|_| asset == AssetId(0))?)
    }
}
