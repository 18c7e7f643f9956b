//! The backtest driver: wires the simulated market, strategies, risk gate and executor around the
//! event queue and runs a scenario to its end. Everything it returns is a pure function of the
//! `RunSpec` except `BacktestResult::wall`.

use rand::RngExt;
use rand_distr::Exp;

use super::manager::{StrategyManager, StrategyStats, View};
use super::queue::{EventQueue, SimEvent};
use crate::config::RunSpec;
use crate::core::strategy::MarketView;
use crate::core::{Action, Event, LegOrder, LegVenue, NANOS_PER_SEC, SimTime, SkipReason, StrategyId, VenueId};
use crate::execution::{ExecStats, OrderExecutor, TradeRecord};
use crate::market::ArbitrageSimulator;
use crate::market::dex::{BlockStats, OurTxResult};
use crate::market::feed::FeedStats;
use crate::market::pool_engine::PoolEngine;
use crate::risk::RiskGate;
use crate::strategies::{CrossDex, MicroArbitrage};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EquityPoint {
    pub time: SimTime,
    pub block: u64,
    /// Mark-to-market P&L versus the starting inventory, quote raw units.
    pub equity: i128,
    /// Fundamental price used as the mark, quote raw per whole base.
    pub mark: u128,
}

#[derive(Clone, Debug)]
pub struct StrategyOutcome {
    pub id: StrategyId,
    pub enabled: bool,
    pub stats: StrategyStats,
    pub wall_ns_samples: crate::market::latency::LatencySketch,
}

/// Wall-clock measurements: kept apart because they differ from run to run.
#[derive(Clone, Debug, Default)]
pub struct WallTiming {
    pub run_ns: u64,
}

/// Our wallet at the end of an EVM run: the balances the books say (wrapped base, quote, native
/// coin) next to what the chain holds. They must agree to the wei.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletCheck {
    pub booked: [u128; 3],
    pub on_chain: [u128; 3],
}

pub struct BacktestResult {
    /// `None` with the math engine (no chain to compare with).
    pub wallet: Option<WalletCheck>,
    pub trades: Vec<TradeRecord>,
    pub equity: Vec<EquityPoint>,
    pub strategies: Vec<StrategyOutcome>,
    pub exec: ExecStats,
    pub feed: FeedStats,
    pub blocks: u64,
    pub block_stats: BlockStats,
    pub final_base_fee_wei: u128,
    pub events_processed: u64,
    pub order_latencies: Vec<u64>,
    pub feed_latencies: crate::market::latency::LatencySketch,
    pub completion_latencies: Vec<u64>,
    pub quote_ages: Vec<u64>,
    pub risk_rejects: [u64; 4],
    pub emergency_stop_at: Option<SimTime>,
    pub outliers_published: u64,
    pub venue_names: Vec<String>,
    pub pool_names: Vec<String>,
    pub wall: WallTiming,
}

impl BacktestResult {
    pub fn venue_name(&self, v: LegVenue) -> &str {
        match v {
            LegVenue::Cex(c) => &self.venue_names[c.0 as usize],
            LegVenue::Dex(p) => &self.pool_names[p.0 as usize],
        }
    }
}

/// Runs `spec` to completion. `progress` is called now and then with the simulated time reached.
pub fn run(spec: &RunSpec, progress: &mut dyn FnMut(SimTime)) -> Result<BacktestResult, crate::chain::ChainError> {
    let wall_start = std::time::Instant::now();
    let mut sim = ArbitrageSimulator::new(spec)?;
    let mut queue = EventQueue::new();
    let mut strategies = StrategyManager::default();
    strategies.register(Box::new(MicroArbitrage::new(spec.micro.clone())), spec.micro.enabled);
    strategies.register(Box::new(CrossDex::new(spec.cross_dex.clone())), spec.cross_dex.enabled && spec.dex.len() >= 2);
    let mut risk = RiskGate::new(spec.safety.clone());
    let mut exec = OrderExecutor::new(
        spec.micro.max_concurrent_trades,
        spec.micro.execution_timeout,
        spec.cex.len(),
        spec.dex.len(),
    );
    let mut noise_rng = crate::core::rng::component_rng(spec.seed, "noise_traders/arrivals");
    let noise_gap =
        (spec.noise.rate_per_minute > 0.0).then(|| Exp::new(spec.noise.rate_per_minute / 60.0).ok()).flatten();

    queue.schedule(0, SimEvent::PriceTick);
    queue.schedule(0, SimEvent::EquitySample);
    let n = spec.cex.len().max(1) as u64;
    for (i, c) in spec.cex.iter().enumerate() {
        // Stagger venues so their refreshes do not all land on the same nanosecond.
        queue.schedule(c.refresh * (i as u64 + 1) / n, SimEvent::BookRefresh(VenueId(i as u16)));
    }
    if !spec.dex.is_empty() {
        queue.schedule(spec.chain.block_time, SimEvent::Block);
        if let Some(gap) = &noise_gap {
            let dt: f64 = noise_rng.sample(gap);
            queue.schedule((dt * NANOS_PER_SEC as f64) as SimTime, SimEvent::NoiseSwap);
        }
    }

    let mut equity = Vec::new();
    let mut actions: Vec<Action> = Vec::with_capacity(8);
    let mut block_results: Vec<OurTxResult> = Vec::new();
    let mut quote_ages = Vec::new();
    let mut events: u64 = 0;
    let progress_every = 1 << 16;

    while let Some((now, ev)) = queue.pop() {
        if now > spec.duration {
            break;
        }
        events += 1;
        if events.is_multiple_of(progress_every) {
            progress(now);
        }
        let strategy_event = match ev {
            SimEvent::PriceTick => {
                sim.fundamental.step(now, &mut sim.rng_fundamental);
                queue.schedule(now + spec.tick_interval, SimEvent::PriceTick);
                None
            }
            SimEvent::BookRefresh(v) => {
                let (slot, delay) = sim.refresh_book(v, now);
                queue.schedule(now + delay, SimEvent::QuoteArrive { venue: v, slot });
                queue.schedule(now + spec.cex[v.0 as usize].refresh, SimEvent::BookRefresh(v));
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
                if let Some(gap) = &noise_gap {
                    let dt: f64 = noise_rng.sample(gap);
                    queue.schedule(now + (dt * NANOS_PER_SEC as f64) as SimTime, SimEvent::NoiseSwap);
                }
                None
            }
            SimEvent::Block => {
                block_results.clear();
                let fundamental = sim.fundamental.price();
                sim.chain.build_block(now, fundamental, &mut sim.rng_chain, &mut block_results);
                let gas: u128 = block_results.iter().map(|r| u128::from(r.gas_used) * r.effective_gas_price).sum();
                risk.record_gas(now, gas);
                sim.refresh_pool_mids();
                exec.on_block(&block_results, now, &mut sim, &mut queue);
                queue.schedule(now + spec.chain.block_time, SimEvent::Block);
                Some(Event::Block(sim.block()))
            }
            SimEvent::EquitySample => {
                let mark = sim.fundamental_raw();
                let e = sim.equity(mark);
                risk.observe_equity(now, e);
                equity.push(EquityPoint { time: now, block: sim.chain.number, equity: e, mark });
                queue.schedule(now + spec.equity_sample, SimEvent::EquitySample);
                None
            }
            SimEvent::OrderArrive(o) => {
                exec.on_order_arrive(o, now, &mut sim, &mut queue);
                None
            }
            SimEvent::OrderReport(o) => {
                exec.on_order_report(o, now, &mut sim, &mut queue);
                None
            }
        };
        let Some(event) = strategy_event else {
            continue;
        };
        for i in 0..strategies.strategies.len() {
            if !strategies.strategies[i].enabled {
                continue;
            }
            actions.clear();
            {
                let busy = |v: LegVenue| exec.is_busy(v);
                let view =
                    View { now, market: &sim as &dyn MarketView, free_trade_slots: exec.free_permits(), busy: &busy };
                strategies.dispatch_one(i, &event, &view, &mut actions);
            }
            for action in actions.drain(..) {
                // What every action is gated on: its venues, the exposure it opens, its gas.
                let gas = |limit: u64, tip: u128| u128::from(limit) * (sim.chain.base_fee + tip);
                let (venues, new_base, gas_wei) = match &action {
                    Action::Arbitrage(p) => {
                        let leg_gas = |l: &LegOrder| match *l {
                            LegOrder::Dex { gas_limit, priority_fee_wei, .. } => gas(gas_limit, priority_fee_wei),
                            LegOrder::Cex { .. } => 0,
                        };
                        ([p.buy.venue(), p.sell.venue()], p.base_raw, leg_gas(&p.buy) + leg_gas(&p.sell))
                    }
                    Action::AtomicArb(p) => (
                        [LegVenue::Dex(p.buy_pool), LegVenue::Dex(p.sell_pool)],
                        0,
                        gas(p.gas_limit, p.priority_fee_wei),
                    ),
                };
                let skip = if exec.free_permits() == 0 {
                    Some(SkipReason::ConcurrencyLimit)
                } else if venues.iter().any(|v| exec.is_busy(*v)) {
                    Some(SkipReason::VenueBusy)
                } else if risk.check(new_base, now, exec.open_base_abs(), exec.pending_txs(), gas_wei).is_err() {
                    Some(SkipReason::RiskLimit)
                } else {
                    match action {
                        Action::Arbitrage(plan) => {
                            quote_ages.push(plan.quote_age);
                            exec.execute(i as u16, plan, now, &mut sim, &mut queue);
                            None
                        }
                        Action::AtomicArb(plan) => match exec.execute_atomic(i as u16, plan, &mut sim) {
                            Ok(()) => None,
                            Err(reason) => {
                                tracing::debug!(target: "xcrack::engine", %reason, "atomic arbitrage failed simulation, not sent");
                                Some(SkipReason::SimulationFailed)
                            }
                        },
                    }
                };
                if let Some(r) = skip {
                    let opp = &mut strategies.strategies[i].stats.opportunities;
                    opp.taken -= 1;
                    opp.skip(r);
                }
            }
        }
    }
    // A last mark at the end of the run so the curve ends where the run does.
    let mark = sim.fundamental_raw();
    if equity.last().is_none_or(|p| p.time < spec.duration) {
        equity.push(EquityPoint { time: spec.duration, block: sim.chain.number, equity: sim.equity(mark), mark });
    }
    progress(spec.duration);

    let wallet = match &mut sim.chain.engine {
        PoolEngine::Evm(evm) => {
            let (base, quote, native) = evm.wallet_balances()?;
            let inv = &sim.inventory;
            Some(WalletCheck {
                booked: [inv.wallet_base[0], inv.wallet_quote, inv.wallet_native],
                on_chain: [base, quote, native].map(|v| v.saturating_to()),
            })
        }
        PoolEngine::Math => None,
    };
    let ids = strategies.ids();
    Ok(BacktestResult {
        wallet,
        trades: exec.records.clone(),
        equity,
        strategies: strategies
            .strategies
            .into_iter()
            .zip(ids)
            .map(|(r, id)| StrategyOutcome {
                id,
                enabled: r.enabled,
                stats: r.stats,
                wall_ns_samples: r.wall_ns_samples,
            })
            .collect(),
        exec: exec.stats,
        feed: sim.feed.stats,
        blocks: sim.chain.number,
        block_stats: sim.chain.stats.clone(),
        final_base_fee_wei: sim.chain.base_fee,
        events_processed: events,
        order_latencies: exec.order_latencies.clone(),
        feed_latencies: std::mem::take(&mut sim.feed_latencies),
        completion_latencies: exec.completion_latencies.clone(),
        quote_ages,
        risk_rejects: risk.rejects,
        emergency_stop_at: risk.stopped_at,
        outliers_published: sim.venues.iter().map(|v| v.outliers_published).sum(),
        venue_names: spec.cex.iter().map(|c| c.name.clone()).collect(),
        pool_names: spec.dex.iter().map(|d| d.name.clone()).collect(),
        wall: WallTiming { run_ns: wall_start.elapsed().as_nanos() as u64 },
    })
}
