//! The lending world: borrowers on our Aave-v3-compatible pool (generated, declared, or a recorded
//! borrower replayed row by row), an oracle that posts each reserve's market price by its rule (its
//! updates are the operator's signed transactions in the mempool, a block behind the market as a
//! real feed's round is), DEX pools kept at the market by an arbitrageur, and rival liquidators who
//! back-run the same updates through the relay.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;
use revm::database::DatabaseRef;

use super::desk::{BundleDesk, RelayHost};
use crate::chain::contracts::{self, IPriceOracle};
use crate::chain::simchain::actor;
use crate::chain::{ChainError, Receipt, SimChain, TxRequest, Wallet};
use crate::config::RunSpec;
use crate::core::rng::{SimRng, component_rng};
use crate::core::strategy::{AssetSpec, CexSpec, Inventory, MarketView, PoolSpec};
use crate::core::{
    Action, AssetId, BUILD_DEADLINE, BlockInfo, BookSnapshot, BundleReport, BundleStatus, ChainView, DexBook, Event,
    NANOS_PER_SEC, OurTxEffect, PoolId, SimTime, SkipReason, TxId, VenueId,
};
use crate::engine::driver::{Assessment, Decision, Schedule, World};
use crate::engine::lending_history::History;
use crate::engine::lending_rival::Rival;
use crate::engine::lending_world::{LendingWorld, QUOTE};
use crate::execution::bundle_manager::{BundleManager, BundleStats, token_flows_of};
use crate::market::dex::GENESIS_TIMESTAMP;
use crate::market::lending::Reserve;
use crate::market::oracle::OracleFeed;
use crate::market::price::Fundamental;
use crate::relay::{BlockBuild, BundleOutcome, Relay, RelayClient};
use crate::risk::RiskGate;
use crate::strategies::liquidation::Borrower;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LendingEvent {
    /// Block k's news: the market moves, replay rows land, the oracle posts; strategies decide.
    Prepare(u64),
    /// Block k is built.
    Build(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum LiquidationRunError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("relay: {0}")]
    Relay(String),
    #[error("internal: {0}")]
    Internal(&'static str),
}

/// USD with 8 decimals (the oracle's unit).
fn usd8(usd: f64) -> u128 {
    (usd * 1e8).round().max(1.0) as u128
}

/// Our bundle for the block being built.
struct Ours {
    strategy: u16,
    tag: u64,
    hash: B256,
}

/// The lending flow: borrowers, the oracle and its updates, the pools' arbitrageur, rival
/// liquidators, and our bundle for the block being built. It owns no chain and no relay: the world
/// that does (this file's `LendingSimWorld`, or a world with other flows on the same chain) lends
/// them at each step.
pub struct LendingFlow<'a> {
    spec: &'a RunSpec,
    pub w: LendingWorld,
    /// Until `connect`: the rival's wallet, waiting for the relay's address.
    rival_wallet: Option<Wallet>,
    rival: Option<Rival>,
    operator: Wallet,
    fundamental: Fundamental,
    rng_price: SimRng,
    t: SimTime,
    replayed: Vec<bool>,
    market: Vec<u128>,
    observed: Vec<u128>,
    eth0: f64,
    feeds: Vec<Option<OracleFeed>>,
    /// Next replay row to apply.
    next_row: usize,
    pub replay_borrower: Option<usize>,
    pub replay_blocks: Vec<(u64, u64)>,
    /// The chain's truth about every tracked borrower (for the timelines).
    pub borrowers: Vec<Borrower>,
    pub history: History,
    pub liquidated_at: Vec<(usize, u64)>,
    /// Oracle prices as posted.
    pub reserves: Vec<Reserve>,
    before: Vec<Reserve>,
    arb: Address,
    builder: Address,
    pub base_fee: u128,
    pub head: u64,
    pub next_block_at: SimTime,
    blocks: u64,
    /// This block's oracle updates (raw).
    updates: Vec<Bytes>,
    ours: Option<Ours>,
    /// Borrowers the bundles for this block act on (ours names them; rivals contest one of them).
    touched: Vec<usize>,
    index: std::collections::BTreeMap<Address, usize>,
    rival_bundles: Vec<B256>,
    pub updates_posted: u64,
    pub rival_wins: u64,
    pub initial: Vec<u128>,
    us: Address,
    book: DexBook,
}

/// The lending world on its own chain, with the embedded relay.
pub struct LendingSimWorld<'a> {
    /// The chain is the world's; the relay's book borrows it to build a block.
    chain: SimChain,
    host: RelayHost,
    pub desk: BundleDesk,
    pub flow: LendingFlow<'a>,
}

/// Where the lending flow is deployed.
pub enum LendingGenesis {
    /// Its own DEX; our wallet holds exactly `[account]`.
    Alone,
    /// On pools already there, whose genesis funded our wallet; our DEX is the market's.
    On(crate::chain::world::DexDeployment),
}

impl<'a> LendingSimWorld<'a> {
    pub fn new(spec: &'a RunSpec) -> Result<Self, LiquidationRunError> {
        let mut chain = SimChain::new(spec.chain_id);
        let me = Wallet::derived(spec.seed, "xcrack/liquidator");
        let mut flow = LendingFlow::new(spec, &mut chain, me.address(), LendingGenesis::Alone)?;
        let base_fee = spec.chain.base_fee_wei;
        let block_s = (spec.chain.block_time / NANOS_PER_SEC).max(1);
        chain.advance_block(GENESIS_TIMESTAMP, base_fee.min(u128::from(u64::MAX)) as u64, flow.builder);
        chain.end_block();
        flow.head = chain.block_number();
        let host = RelayHost::start(&chain, block_s).map_err(|e| LiquidationRunError::Relay(e.to_string()))?;
        let client = RelayClient::new(host.addr(), Wallet::derived(spec.seed, "xcrack/flashbots-auth"));
        let manager = BundleManager::new(me, client, spec.chain_id);
        flow.connect(host.addr());
        Ok(LendingSimWorld { chain, host, desk: BundleDesk::new(manager), flow })
    }

    pub fn blocks(&self) -> u64 {
        self.flow.blocks
    }

    pub fn base_fee(&self) -> u128 {
        self.flow.base_fee
    }

    pub fn operator_address(&self) -> Address {
        self.flow.operator.address()
    }

    /// Our wallet on the chain per reserve token then ETH, and the bundle manager's counters;
    /// stops the relay.
    pub fn finish(mut self) -> Result<(LendingFlow<'a>, Vec<u128>, BundleStats), ChainError> {
        let on_chain = self.flow.wallet_on_chain(&mut self.chain)?;
        self.host.stop();
        Ok((self.flow, on_chain, self.desk.manager.stats))
    }

    /// The block: bundles on top by payment per gas, then the lending flow settles; the
    /// arbitrageur brings every pool back to the market.
    fn build(&mut self, now: SimTime, risk: &mut RiskGate, out: &mut Vec<Event>) {
        let timestamp = GENESIS_TIMESTAMP + now / NANOS_PER_SEC;
        let mut r = self.host.lock();
        let flow = &mut self.flow;
        let base_fee = flow.base_fee.min(u128::from(u64::MAX)) as u64;
        let build = r.build_block(&mut self.chain, timestamp, base_fee, flow.builder, &[]);
        let news = flow.settle(&mut self.chain, &r, &build, &mut self.desk, now, risk);
        flow.arbitrage(&mut self.chain, 0);
        self.chain.end_block();
        flow.closed(&self.chain, now);
        drop(r);
        news.tell(&mut self.desk, out);
        out.push(Event::Block(flow.block_info()));
    }
}

/// What a block's settlement tells the strategies: our bundle's report, and the borrowers a rival
/// moved while ours did not land.
pub struct LendingNews {
    report: Option<(u16, BundleReport)>,
    rival_moved: Vec<u32>,
}

impl LendingNews {
    pub fn tell(self, desk: &mut BundleDesk, out: &mut Vec<Event>) {
        if let Some((strategy, report)) = self.report {
            desk.report(strategy, report, out);
        }
        out.extend(self.rival_moved.into_iter().map(|account| Event::Position { account }));
    }
}

impl<'a> LendingFlow<'a> {
    /// Genesis on `chain`: the lending market (on `genesis`' DEX or a new one), its borrowers, the
    /// oracle's operator, our approvals and inventory (`us`), the arbitrageur and the rival.
    pub fn new<X: DatabaseRef>(
        spec: &'a RunSpec,
        chain: &mut SimChain<X>,
        us: Address,
        genesis: LendingGenesis,
    ) -> Result<Self, LiquidationRunError> {
        let l = &spec.liquidation;
        let lend = &spec.lending;
        let n = lend.reserves.len();
        let operator = Wallet::derived(spec.seed, "oracle/operator");
        let fundamental = Fundamental::new(spec.price_model.clone(), spec.tick_interval, 0);
        let rng_price = component_rng(spec.seed, "fundamental");
        // Market prices per reserve: ETH from the price model, the rest fixed, unless replayed.
        let replay = lend.replay.as_ref();
        let replayed: Vec<bool> =
            (0..n).map(|i| replay.is_some_and(|r| r.rows[0].prices.iter().any(|(j, _)| *j == i))).collect();
        let mut market: Vec<u128> = lend.reserves.iter().map(|r| usd8(r.price_usd)).collect();
        market[0] = usd8(fundamental.price());
        if let Some(r) = replay {
            for &(i, p) in &r.rows[0].prices {
                market[i] = p;
            }
        }
        let dynamic: Vec<bool> =
            (0..n).map(|i| i == 0 || replayed[i] || lend.reserves[i].beta_to_eth.is_some()).collect();
        let (dex, fund_us) = match genesis {
            LendingGenesis::Alone => (None, true),
            LendingGenesis::On(dex) => (Some(dex), false),
        };
        let (w, reserves) = LendingWorld::deploy(chain, spec, us, operator.address(), &market, dex)?;
        chain.set_balance(operator.address(), U256::from(10u128.pow(21)));

        // Borrowers: generated (WETH collateral, quote debt for a uniform starting health
        // factor), declared, and the replayed one.
        let eth0 = fundamental.price();
        let mut borrowers = crate::engine::lending_world::scenario_borrowers(spec, eth0);
        let replay_borrower = replay.map(|r| {
            borrowers.push(Borrower {
                // A recorded borrower keeps its real address; any other name derives one.
                user: r.name.parse().unwrap_or_else(|_| actor(&format!("lending/replay/{}", r.name))),
                collateral: r.rows[0].collateral.clone(),
                debt: r.rows[0].debt.clone(),
            });
            borrowers.len() - 1
        });
        for b in &borrowers {
            w.set_position(chain, b.user, &b.collateral, &b.debt);
        }
        // Our wallet: exactly the scenario's account; it approves the pool (repayments) and the
        // router (sales) for every reserve.
        if fund_us {
            w.dex.fund_exactly(chain, us, [spec.wallet_base, spec.wallet_quote, spec.wallet_native])?;
        }
        let approvals: Vec<_> =
            w.tokens.iter().flat_map(|t| [(t.address, w.market.pool), (t.address, w.router)]).collect();
        w.dex.approve(chain, us, &approvals)?;
        // Per token then ETH: `[account]` gives WETH, quote and gas; `lending.inventory` the rest.
        let mut initial: Vec<u128> =
            lend.inventory.iter().map(|v| v.saturating_to()).chain([spec.wallet_native]).collect();
        (initial[0], initial[QUOTE]) = (spec.wallet_base, spec.wallet_quote);
        for (t, &amount) in w.tokens.iter().zip(&lend.inventory).skip(2) {
            let slot = crate::chain::simchain::mapping_slot(us, contracts::slots::ERC20_BALANCES);
            chain.set_storage(t.address, slot, amount);
        }
        let arb = actor("lending/arbitrageur");
        w.fund_deep(chain, arb)?;
        let rival_wallet = Wallet::derived(spec.seed, "lending/rival-liquidator");
        if l.rival_probability > 0.0 {
            w.fund_deep(chain, rival_wallet.address())?;
        }
        let history = History::new(&reserves, &borrowers);
        let feeds: Vec<Option<OracleFeed>> =
            (0..n).map(|i| dynamic[i].then(|| OracleFeed::new(lend.oracle, market[i], 0))).collect();
        let replay_blocks: Vec<(u64, u64)> = replay.map(|r| vec![(0, r.rows[0].block)]).unwrap_or_default();
        let book = w.dex.book();
        Ok(LendingFlow {
            spec,
            before: reserves.clone(),
            reserves,
            w,
            rival_wallet: Some(rival_wallet),
            rival: None,
            operator,
            fundamental,
            rng_price,
            t: 0,
            replayed,
            observed: market.clone(),
            market,
            eth0,
            feeds,
            next_row: 1,
            replay_borrower,
            replay_blocks,
            history,
            liquidated_at: Vec::new(),
            arb,
            builder: actor("xcrack/builder"),
            base_fee: spec.chain.base_fee_wei,
            head: 0,
            next_block_at: spec.chain.block_time,
            blocks: spec.duration / spec.chain.block_time,
            updates: Vec::new(),
            ours: None,
            touched: Vec::new(),
            index: borrowers.iter().enumerate().map(|(i, b)| (b.user, i)).collect(),
            borrowers,
            rival_bundles: Vec::new(),
            updates_posted: 0,
            rival_wins: 0,
            initial,
            us,
            book,
        })
    }

    /// Rival liquidators send their bundles to the relay at `addr`.
    pub fn connect(&mut self, addr: std::net::SocketAddr) {
        let spec = self.spec;
        let Some(wallet) = self.rival_wallet.take() else { return };
        self.rival = Some(Rival {
            wallet,
            client: RelayClient::new(addr, Wallet::derived(spec.seed, "lending/rival-auth")),
            rng: component_rng(spec.seed, "lending/rivals"),
            probability: spec.liquidation.rival_probability,
            share: spec.liquidation.rival_share,
            chain_id: spec.chain_id,
            base_fee: self.base_fee,
        });
    }

    pub fn book(&self) -> &DexBook {
        &self.book
    }

    /// Schedules each block's news (`prepare(k)`) at its instant.
    pub fn schedule_blocks<E>(&self, q: &mut dyn Schedule<E>, prepare: impl Fn(u64) -> E) {
        let bt = self.spec.chain.block_time;
        for k in 1..=self.blocks {
            q.schedule(k * bt, prepare(k));
        }
    }

    pub fn operator_address(&self) -> Address {
        self.operator.address()
    }

    pub fn us(&self) -> Address {
        self.us
    }

    /// Our wallet on the chain per reserve token then ETH.
    pub fn wallet_on_chain<X: DatabaseRef>(&self, chain: &mut SimChain<X>) -> Result<Vec<u128>, ChainError> {
        let n = self.reserves.len();
        let mut on_chain = Vec::with_capacity(n + 1);
        for i in 0..n {
            on_chain.push(self.w.balance_of(chain, self.us, i)?.saturating_to::<u128>());
        }
        on_chain.push(chain.balance(self.us).saturating_to());
        Ok(on_chain)
    }

    /// Our bundles at the relay: one at most, for the block being built.
    pub fn bundles_out(&self) -> u32 {
        u32::from(self.ours.is_some())
    }

    /// The arbitrageur brings every pool of reserve `from` onwards back to the market (a world
    /// whose own traders keep the WETH pools starts at 2).
    pub fn arbitrage<X: DatabaseRef>(&mut self, chain: &mut SimChain<X>, from: usize) {
        self.w.arbitrage(chain, self.arb, &self.market, from);
    }

    /// The block is closed (by whoever owns the chain): the head moves on.
    pub fn closed<X: DatabaseRef>(&mut self, chain: &SimChain<X>, now: SimTime) {
        self.head = chain.block_number();
        self.next_block_at = now + self.spec.chain.block_time;
    }

    pub fn block_info(&self) -> BlockInfo {
        BlockInfo { number: self.head, timestamp: 0, base_fee_wei: self.base_fee }
    }

    /// `records` as the report shows them (each names the recorded row in effect when it was
    /// decided) and every tracked borrower's health timeline over `blocks`.
    pub fn report_records(
        &self,
        records: &[crate::strategies::liquidation_strategy::LiquidationRecord],
        blocks: u64,
    ) -> (Vec<crate::strategies::liquidation_strategy::LiquidationRecord>, Vec<crate::engine::liquidation::HealthPoint>)
    {
        let mut records = records.to_vec();
        if !self.replay_blocks.is_empty() {
            for r in &mut records {
                r.source_block = self.replay_blocks.iter().rev().find(|(b, _)| *b <= r.block).map(|x| x.1);
            }
        }
        let timeline = self.history.timelines(
            &self.reserves,
            &self.borrowers,
            self.replay_borrower,
            self.liquidated_at.clone(),
            blocks + 1,
        );
        (records, timeline)
    }

    /// Does the bundle move a token the allowlist does not name?
    pub fn foreign(&self, req: &crate::core::BundleRequest) -> bool {
        req.expected_flows.iter().any(|(t, f)| {
            *f != 0
                && self.w.tokens.iter().find(|x| x.address == *t).is_none_or(|x| !self.spec.safety.allows(&x.symbol))
        })
    }

    /// The market moves; a replay row sets the recorded borrower's position (its own actions and
    /// others' liquidations, as recorded); the oracle posts what it observed a block ago, by its
    /// rule, as signed transactions in the mempool.
    /// `eth_usd`: ETH's market price when another flow's market sets it (otherwise the flow's
    /// own price model moves it).
    pub fn prepare<X: DatabaseRef>(
        &mut self,
        chain: &mut SimChain<X>,
        desk: &mut BundleDesk,
        now: SimTime,
        eth_usd: Option<f64>,
        out: &mut Vec<Event>,
    ) {
        let spec = self.spec;
        let lend = &spec.lending;
        let eth = match eth_usd {
            Some(p) => p,
            None => {
                while self.t < now {
                    self.t += spec.tick_interval;
                    self.fundamental.step(self.t, &mut self.rng_price);
                }
                self.fundamental.price()
            }
        };
        if !self.replayed[0] {
            self.market[0] = usd8(eth);
        }
        // Reserves that move with ETH: price × (ETH / ETH at the start)^beta.
        for (i, r) in lend.reserves.iter().enumerate().filter(|(i, _)| !self.replayed[*i]) {
            if let Some(beta) = r.beta_to_eth {
                self.market[i] = usd8(r.price_usd * (eth / self.eth0).powf(beta));
            }
        }
        if let (Some(replay), Some(i)) = (lend.replay.as_ref(), self.replay_borrower) {
            while let Some(row) = replay.rows.get(self.next_row).filter(|row| row.at <= now) {
                self.next_row += 1;
                for &(j, p) in &row.prices {
                    self.market[j] = p;
                }
                self.w.set_position(chain, self.borrowers[i].user, &row.collateral, &row.debt);
                self.borrowers[i].collateral.clone_from(&row.collateral);
                self.borrowers[i].debt.clone_from(&row.debt);
                self.history.position(i, self.head + 1, &self.borrowers[i], "replay");
                self.replay_blocks.push((self.head + 1, row.block));
                out.push(Event::Position { account: i as u32 });
            }
        }
        self.before.clone_from(&self.reserves);
        self.updates.clear();
        self.operator.nonce = chain.nonce(self.operator.address());
        for i in 0..self.reserves.len() {
            let Some(p) = self.feeds[i].as_mut().and_then(|f| f.observe(self.observed[i], now)) else { continue };
            self.updates_posted += 1;
            self.reserves[i].price = U256::from(p);
            let call = IPriceOracle::setAssetPriceCall { asset: self.w.tokens[i].address, price: U256::from(p) };
            let req = TxRequest {
                chain_id: spec.chain_id,
                to: self.w.market.oracle,
                data: call.abi_encode().into(),
                value: U256::ZERO,
                gas_limit: 100_000,
                max_fee_per_gas: 4 * self.base_fee + 1_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
            };
            if let Ok((raw, _)) = self.operator.sign(&req) {
                let id = desk.announce(raw.clone(), self.operator.address());
                self.updates.push(raw);
                out.push(Event::PendingTx { id, seen_at: now });
            }
        }
        self.observed.clone_from(&self.market);
        out.push(Event::Timer { id: BUILD_DEADLINE });
    }

    /// After the builder put the bundles on top of the block: our bundle's fate, the oracle's
    /// updates publicly if no bundle carried them, and the positions a landed bundle changed
    /// re-read. The block stays open.
    pub fn settle<X: DatabaseRef>(
        &mut self,
        chain: &mut SimChain<X>,
        r: &Relay,
        build: &BlockBuild,
        desk: &mut BundleDesk,
        now: SimTime,
        risk: &mut RiskGate,
    ) -> LendingNews {
        let landed_ok = |h: &B256, r: &Relay| matches!(r.outcome(h), Some(BundleOutcome::Included { .. }));
        let ours = self.ours.take();
        let landed = ours.as_ref().is_some_and(|o| landed_ok(&o.hash, r));
        let rivals_landed = std::mem::take(&mut self.rival_bundles).iter().filter(|h| landed_ok(h, r)).count();
        let mut report = None;
        if let Some(o) = &ours {
            let outcome = r.outcome(&o.hash).cloned();
            if let Some(outcome) = &outcome {
                desk.manager.record(outcome);
            }
            let status = if landed {
                BundleStatus::Included
            } else if rivals_landed > 0 {
                BundleStatus::Outbid
            } else {
                BundleStatus::Expired
            };
            let mut effects = Vec::new();
            if landed {
                let receipts: Vec<Receipt> =
                    build.included.iter().find(|(h, _)| *h == o.hash).map(|(_, rc)| rc.clone()).unwrap_or_default();
                for rc in receipts.iter().filter(|x| x.from == self.us) {
                    let flows = token_flows_of(std::slice::from_ref(rc), self.us);
                    effects.push(OurTxEffect {
                        gas_used: rc.gas_used,
                        effective_gas_price: rc.effective_gas_price,
                        flows,
                    });
                }
                risk.record_gas(now, effects.iter().map(|e| e.gas_wei()).sum());
            }
            let r = BundleReport { tag: o.tag, status, hash: Some(o.hash), reason: String::new(), ours: effects };
            report = Some((o.strategy, r));
        }
        if !landed && rivals_landed == 0 {
            for u in &self.updates {
                let _ = chain.apply_raw(u);
            }
        }
        let block = self.head + 1;
        if !self.updates.is_empty() && self.reserves != self.before {
            self.history.prices_changed(block, &self.reserves);
        }
        self.rival_wins += rivals_landed as u64;
        // Whoever a landed bundle liquidated (ours or a rival's): re-read from the pool.
        let touched = std::mem::take(&mut self.touched);
        let mut rival_moved: Vec<u32> = Vec::new();
        if landed || rivals_landed > 0 {
            let event = if landed { "liquidated" } else { "rival" };
            for i in touched {
                let (c, d) = self.w.position(chain, self.borrowers[i].user);
                if c != self.borrowers[i].collateral || d != self.borrowers[i].debt {
                    (self.borrowers[i].collateral, self.borrowers[i].debt) = (c, d);
                    self.history.position(i, block, &self.borrowers[i], event);
                    self.liquidated_at.push((i, block));
                    // A rival's liquidation is news our own bundle's report may not carry (ours
                    // may never have reached the relay).
                    if !landed {
                        rival_moved.push(i as u32);
                    }
                }
            }
        }
        LendingNews { report, rival_moved }
    }

    /// Signs, simulates and sends a liquidation bundle; a rival may contest it.
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
        let Action::Bundle(req) = action else { return Ok(()) };
        for a in &req.accounts {
            if let Some(&i) = self.index.get(a)
                && !self.touched.contains(&i)
            {
                self.touched.push(i);
            }
        }
        let confirmed = desk.confirm(strategy, &req, chain, now, risk, out)?;
        let sent = desk.submit(strategy, &req, confirmed, now, risk, out);
        if let Some((hash, _)) = sent {
            self.ours = Some(Ours { strategy, tag: req.tag, hash });
        }
        // A rival liquidator back-running the same updates for the borrower we value most.
        if let (Some(contest), Some(rival)) = (&req.contest, self.rival.as_mut()) {
            rival.wallet.nonce = chain.nonce(rival.wallet.address());
            // Its fee cap follows the base fee, as a live searcher's does.
            rival.base_fee = self.base_fee;
            if let Some(h) = rival.compete(contest, &self.updates, req.target_block) {
                self.rival_bundles.push(h);
            }
        }
        Ok(())
    }
}

impl World for LendingSimWorld<'_> {
    type Event = LendingEvent;

    fn start(&mut self, q: &mut dyn Schedule<LendingEvent>) {
        let bt = self.flow.spec.chain.block_time;
        for k in 1..=self.flow.blocks {
            q.schedule(k * bt, LendingEvent::Prepare(k));
            q.schedule(k * bt, LendingEvent::Build(k));
        }
    }

    fn advance(
        &mut self,
        now: SimTime,
        event: LendingEvent,
        _q: &mut dyn Schedule<LendingEvent>,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) {
        // Outside callers' eth_callBundle run on the chain between the world's own steps.
        self.host.inbox.serve(&mut self.chain);
        match event {
            LendingEvent::Prepare(_) => self.flow.prepare(&mut self.chain, &mut self.desk, now, None, out),
            LendingEvent::Build(_) => self.build(now, risk, out),
        }
    }

    fn market(&self) -> &dyn MarketView {
        self
    }

    fn chain(&self) -> &dyn ChainView {
        self
    }

    fn assess(&self, _strategy: u16, action: &Action) -> Assessment {
        match action {
            Action::Bundle(req) => Assessment {
                in_flight: self.flow.bundles_out(),
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
        _q: &mut dyn Schedule<LendingEvent>,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) -> Result<(), SkipReason> {
        self.flow.execute(&mut self.chain, &mut self.desk, strategy, action, now, risk, out)
    }

    fn declined(&mut self, strategy: u16, action: &Action, decision: Decision, out: &mut Vec<Event>) {
        self.desk.declined(strategy, action, decision, out);
    }
}

impl ChainView for LendingSimWorld<'_> {
    fn chain_id(&self) -> u64 {
        self.flow.spec.chain_id
    }
    fn pending_raw(&self, id: TxId) -> Option<&Bytes> {
        self.desk.pending_raw(id)
    }
    fn in_mempool(&self, _hash: &B256) -> bool {
        false
    }
    fn next_block_at(&self) -> SimTime {
        self.flow.next_block_at
    }
    fn head_base_fee(&self) -> u128 {
        self.flow.base_fee
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

impl MarketView for LendingSimWorld<'_> {
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
        &[]
    }
    fn book(&self, _venue: VenueId) -> Option<&BookSnapshot> {
        None
    }
    fn reserves(&self, _pool: PoolId) -> (U256, U256) {
        (U256::ZERO, U256::ZERO)
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
