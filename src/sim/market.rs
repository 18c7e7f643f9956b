//! The CEX/DEX market world: fundamental price, venues' books and our price feed, noise traders on
//! the pools, blocks, and our orders (micro-arbitrage and cross-DEX).

use rand::RngExt;
use rand_distr::Exp;

use crate::config::RunSpec;
use crate::core::strategy::MarketView;
use crate::core::strategy::{AssetSpec, CexSpec, Inventory, PoolSpec};
use crate::core::{Action, ChainView, Event, LegOrder, LegVenue, NANOS_PER_SEC, NoChain, SimTime, SkipReason, VenueId};
use crate::core::{AssetId, AtomicPlan, BlockInfo, BookSnapshot, PoolId, Side};
use crate::engine::EquityPoint;
use crate::engine::driver::{Assessment, Schedule, World};
use crate::engine::queue::SimEvent;
use crate::execution::OrderExecutor;
use crate::execution::order_executor::Venues;
use crate::market::ArbitrageSimulator;
use crate::market::amm::CpPool;
use crate::market::dex::{OurTxResult, TxKind};
use crate::market::latency::LatencyModel;
use crate::market::orderbook::Fill;
use crate::risk::RiskGate;

/// The simulated venues as the order executor reaches them: the simulator's books, pools and
/// ledger, with orders and reports carried by each venue's latency model through the event queue.
pub struct SimVenues<'a> {
    pub sim: &'a mut ArbitrageSimulator,
    pub q: &'a mut dyn Schedule<SimEvent>,
}

impl MarketView for SimVenues<'_> {
    fn assets(&self) -> &[AssetSpec] {
        self.sim.assets()
    }
    fn quote_decimals(&self) -> u32 {
        self.sim.quote_decimals()
    }
    fn venues(&self) -> &[CexSpec] {
        MarketView::venues(&*self.sim)
    }
    fn pools(&self) -> &[PoolSpec] {
        self.sim.pools()
    }
    fn book(&self, venue: VenueId) -> Option<&BookSnapshot> {
        self.sim.book(venue)
    }
    fn reserves(&self, pool: PoolId) -> (alloy_primitives::U256, alloy_primitives::U256) {
        self.sim.reserves(pool)
    }
    fn block(&self) -> BlockInfo {
        self.sim.block()
    }
    fn inventory(&self) -> &Inventory {
        self.sim.inventory()
    }
    fn mark_price(&self, asset: AssetId) -> Option<u128> {
        self.sim.mark_price(asset)
    }
}

impl Venues for SimVenues<'_> {
    fn send_order(&mut self, now: SimTime, venue: VenueId, order: u32) -> SimTime {
        let i = venue.0 as usize;
        let latency = self.sim.venues[i].spec.latency.sample(&mut self.sim.rng_orders[i]);
        self.q.schedule(now + latency, SimEvent::OrderArrive(order));
        latency
    }
    fn send_report(&mut self, now: SimTime, venue: VenueId, order: u32) {
        let i = venue.0 as usize;
        let back = self.sim.venues[i].spec.latency.sample(&mut self.sim.rng_orders[i]);
        self.q.schedule(now + back, SimEvent::OrderReport(order));
    }
    fn fill(&mut self, venue: VenueId, side: Side, lots: u64, limit_ticks: u64) -> Fill {
        self.sim.fill_ioc(venue, side, lots, limit_ticks)
    }
    fn submit_tx(&mut self, pool: PoolId, priority_fee_wei: u128, tx: TxKind) {
        self.sim.chain.submit(pool, priority_fee_wei, tx);
    }
    fn simulate_atomic(&mut self, plan: &AtomicPlan) -> Result<u128, String> {
        self.sim.chain.simulate_atomic(plan)
    }
    fn ledger(&mut self) -> &mut Inventory {
        &mut self.sim.inventory
    }
    fn fundamental_raw(&self) -> u128 {
        self.sim.fundamental_raw()
    }
    fn base_decimals(&self) -> u32 {
        self.sim.base_decimals()
    }
    fn pool(&self, pool: PoolId) -> Option<&CpPool> {
        self.sim.chain.pools.get(pool.0 as usize).map(|p| &p.pool)
    }
}

pub struct MarketWorld<'a> {
    spec: &'a RunSpec,
    pub sim: ArbitrageSimulator,
    pub exec: OrderExecutor,
    noise_rng: crate::core::rng::SimRng,
    noise_gap: Option<Exp<f64>>,
    pub equity: Vec<EquityPoint>,
    block_results: Vec<OurTxResult>,
    pub quote_ages: Vec<u64>,
    /// The run's pair moves a token outside `safety.allowed_tokens`.
    foreign_token: bool,
}

impl<'a> MarketWorld<'a> {
    pub fn new(spec: &'a RunSpec) -> Result<Self, crate::chain::ChainError> {
        Self::with_source(spec, None)
    }

    /// `new`, a forked chain (`[chain.fork]`) read through `rpc` when given.
    pub fn with_source(
        spec: &'a RunSpec,
        rpc: Option<crate::chain::rpc::RpcSource>,
    ) -> Result<Self, crate::chain::ChainError> {
        Ok(MarketWorld {
            spec,
            sim: ArbitrageSimulator::with_source(spec, rpc)?,
            exec: OrderExecutor::new(
                spec.micro.max_concurrent_trades,
                spec.micro.execution_timeout,
                spec.cex.len(),
                spec.dex.len(),
            ),
            noise_rng: crate::core::rng::component_rng(spec.seed, "noise_traders/arrivals"),
            noise_gap: (spec.noise.rate_per_minute > 0.0)
                .then(|| Exp::new(spec.noise.rate_per_minute / 60.0).ok())
                .flatten(),
            equity: Vec::new(),
            block_results: Vec::new(),
            quote_ages: Vec::new(),
            foreign_token: !(spec.safety.allows(&spec.base_symbol)
                || spec.safety.allows(&format!("W{}", spec.base_symbol)))
                || !spec.safety.allows(&spec.quote_symbol),
        })
    }

    fn next_noise_gap(&mut self) -> Option<SimTime> {
        let gap = self.noise_gap.as_ref()?;
        let dt: f64 = self.noise_rng.sample(gap);
        Some((dt * NANOS_PER_SEC as f64) as SimTime)
    }

    /// A last mark at the end of the run so the equity curve ends where the run does.
    pub fn close_equity(&mut self) {
        let mark = self.sim.fundamental_raw();
        if self.equity.last().is_none_or(|p| p.time < self.spec.duration) {
            let e = self.sim.equity(mark);
            self.equity.push(EquityPoint { time: self.spec.duration, block: self.sim.chain.number, equity: e, mark });
        }
    }
}

impl MarketWorld<'_> {
    /// The market's block: our and the traders' swaps by priority fee, the base fee moves, our
    /// orders hear their transactions' fates. `opened`: the block was opened on the chain by
    /// another flow (bundles first), so this market's transactions follow and close it.
    pub fn block(&mut self, now: SimTime, q: &mut dyn Schedule<SimEvent>, risk: &mut RiskGate, opened: bool) -> Event {
        let sim = &mut self.sim;
        self.block_results.clear();
        let fundamental = sim.fundamental.price();
        if opened {
            sim.chain.build_opened_block(now, fundamental, &mut sim.rng_chain, &mut self.block_results);
        } else {
            sim.chain.build_block(now, fundamental, &mut sim.rng_chain, &mut self.block_results);
        }
        let gas: u128 = self.block_results.iter().map(|r| u128::from(r.gas_used) * r.effective_gas_price).sum();
        risk.record_gas(now, gas);
        sim.refresh_pool_mids();
        self.exec.on_block(&self.block_results, now, &mut SimVenues { sim, q });
        q.schedule(now + self.spec.chain.block_time, SimEvent::Block);
        Event::Block(sim.block())
    }
}

impl World for MarketWorld<'_> {
    type Event = SimEvent;

    fn start(&mut self, q: &mut dyn Schedule<SimEvent>) {
        let spec = self.spec;
        q.schedule(0, SimEvent::PriceTick);
        q.schedule(0, SimEvent::EquitySample);
        let n = spec.cex.len().max(1) as u64;
        for (i, c) in spec.cex.iter().enumerate() {
            // Stagger venues so their refreshes do not all land on the same nanosecond.
            q.schedule(c.refresh * (i as u64 + 1) / n, SimEvent::BookRefresh(VenueId(i as u16)));
        }
        if !spec.dex.is_empty() {
            q.schedule(spec.chain.block_time, SimEvent::Block);
            if let Some(dt) = self.next_noise_gap() {
                q.schedule(dt, SimEvent::NoiseSwap);
            }
        }
    }

    fn advance(
        &mut self,
        now: SimTime,
        ev: SimEvent,
        q: &mut dyn Schedule<SimEvent>,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) {
        let spec = self.spec;
        let sim = &mut self.sim;
        let news = match ev {
            SimEvent::PriceTick => {
                sim.fundamental.step(now, &mut sim.rng_fundamental);
                q.schedule(now + spec.tick_interval, SimEvent::PriceTick);
                None
            }
            SimEvent::BookRefresh(v) => {
                let (slot, delay) = sim.refresh_book(v, now);
                q.schedule(now + delay, SimEvent::QuoteArrive { venue: v, slot });
                q.schedule(now + spec.cex[v.0 as usize].refresh, SimEvent::BookRefresh(v));
                None
            }
            SimEvent::QuoteArrive { venue, slot } => {
                sim.quote_arrives(venue, slot, now).then_some(Event::Quote { venue })
            }
            SimEvent::NoiseSwap => {
                let price = sim.fundamental.price();
                sim.chain.submit_noise(
                    &mut sim.rng_noise,
                    spec.noise.size_median,
                    spec.noise.size_sigma,
                    spec.noise.buy_probability,
                    price,
                );
                if let Some(dt) = self.next_noise_gap() {
                    q.schedule(now + dt, SimEvent::NoiseSwap);
                }
                None
            }
            SimEvent::Block => Some(self.block(now, q, risk, false)),
            SimEvent::EquitySample => {
                let mark = sim.fundamental_raw();
                let e = sim.equity(mark);
                risk.observe_equity(now, e);
                self.equity.push(EquityPoint { time: now, block: sim.chain.number, equity: e, mark });
                q.schedule(now + spec.equity_sample, SimEvent::EquitySample);
                None
            }
            SimEvent::OrderArrive(o) => {
                self.exec.on_order_arrive(o, now, &mut SimVenues { sim, q });
                None
            }
            SimEvent::OrderReport(o) => {
                self.exec.on_order_report(o, now, &mut SimVenues { sim, q });
                None
            }
        };
        out.extend(news);
    }

    fn market(&self) -> &dyn MarketView {
        &self.sim
    }

    fn chain(&self) -> &dyn ChainView {
        &NoChain
    }

    fn free_trade_slots(&self) -> usize {
        self.exec.free_permits()
    }

    fn is_busy(&self, venue: LegVenue) -> bool {
        self.exec.is_busy(venue)
    }

    /// Every action is gated on its venues, the exposure it opens and its gas.
    fn assess(&self, _strategy: u16, action: &Action) -> Assessment {
        let base_fee = self.sim.chain.base_fee;
        let gas = |limit: u64, tip: u128| u128::from(limit) * (base_fee + tip);
        let (venues, new_base, gas_wei) = match action {
            Action::Arbitrage(p) => {
                let leg_gas = |l: &LegOrder| match *l {
                    LegOrder::Dex { gas_limit, priority_fee_wei, .. } => gas(gas_limit, priority_fee_wei),
                    LegOrder::Cex { .. } => 0,
                };
                ([p.buy.venue(), p.sell.venue()], p.base_raw, leg_gas(&p.buy) + leg_gas(&p.sell))
            }
            Action::AtomicArb(p) => {
                ([LegVenue::Dex(p.buy_pool), LegVenue::Dex(p.sell_pool)], 0, gas(p.gas_limit, p.priority_fee_wei))
            }
            // This world's strategies send orders, not bundles.
            Action::Bundle(_) | Action::Cancel { .. } => {
                return Assessment { refuse: Some(SkipReason::SimulationFailed), ..Assessment::default() };
            }
        };
        let refuse = if self.exec.free_permits() == 0 {
            Some(SkipReason::ConcurrencyLimit)
        } else if venues.iter().any(|v| self.exec.is_busy(*v)) {
            Some(SkipReason::VenueBusy)
        } else {
            None
        };
        Assessment {
            refuse,
            new_base,
            open_base: self.exec.open_base_abs(),
            in_flight: self.exec.pending_txs(),
            gas_wei,
            reduces_risk: false,
            foreign_token: self.foreign_token,
        }
    }

    fn execute(
        &mut self,
        strategy: u16,
        action: Action,
        now: SimTime,
        q: &mut dyn Schedule<SimEvent>,
        risk: &mut RiskGate,
        _out: &mut Vec<Event>,
    ) -> Result<(), SkipReason> {
        match action {
            Action::Arbitrage(plan) => {
                self.quote_ages.push(plan.quote_age);
                self.exec.execute(strategy, plan, now, &mut SimVenues { sim: &mut self.sim, q });
                Ok(())
            }
            Action::AtomicArb(plan) => {
                let r = self.exec.execute_atomic(strategy, plan, &mut SimVenues { sim: &mut self.sim, q }).map_err(|reason| {
                    tracing::debug!(target: "xcrack::engine", %reason, "atomic arbitrage failed simulation, not sent");
                    SkipReason::SimulationFailed
                });
                risk.record_outcome(now, r.is_ok());
                r
            }
            Action::Bundle(_) | Action::Cancel { .. } => Err(SkipReason::SimulationFailed),
        }
    }
}
