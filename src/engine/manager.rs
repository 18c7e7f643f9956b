//! StrategyManager: registers strategies, enables them per config, dispatches events, keeps
//! per-strategy statistics.

use crate::core::strategy::MarketView;
use crate::core::strategy::OpportunityStats;
use crate::core::{Action, Ctx, Event, LegVenue, SimTime, Strategy, StrategyId};

/// What the engine lends every strategy call: the read-only half of `Ctx`.
pub struct View<'a> {
    pub now: SimTime,
    pub market: &'a dyn MarketView,
    pub chain: &'a dyn crate::core::ChainView,
    pub free_trade_slots: usize,
    pub busy: &'a dyn Fn(LegVenue) -> bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrategyStats {
    pub events_seen: u64,
    pub opportunities: OpportunityStats,
    pub actions: u64,
    pub errors: u64,
}

pub struct Registered {
    pub strategy: Box<dyn Strategy>,
    pub enabled: bool,
    pub stats: StrategyStats,
    /// Wall-clock nanoseconds spent inside `on_event` (sampled; reported in timing.json only).
    pub wall_ns_samples: crate::market::latency::LatencySketch,
}

#[derive(Default)]
pub struct StrategyManager {
    pub strategies: Vec<Registered>,
    calls: u64,
}

/// One call in this many is wall-clock timed: enough for percentiles, cheap enough for throughput.
const TIMING_SAMPLE_EVERY: u64 = 16;

impl StrategyManager {
    pub fn register(&mut self, strategy: Box<dyn Strategy>, enabled: bool) {
        self.strategies.push(Registered {
            strategy,
            enabled,
            stats: StrategyStats::default(),
            wall_ns_samples: Default::default(),
        });
    }

    pub fn ids(&self) -> Vec<StrategyId> {
        self.strategies.iter().map(|r| r.strategy.id()).collect()
    }

    /// Runs strategy `i` on `event` with `ctx`, timing one call in `TIMING_SAMPLE_EVERY`.
    #[inline]
    pub fn dispatch_one(&mut self, i: usize, event: &Event, view: &View<'_>, out: &mut Vec<Action>) {
        self.calls += 1;
        let timed = self.calls.is_multiple_of(TIMING_SAMPLE_EVERY);
        let r = &mut self.strategies[i];
        r.stats.events_seen += 1;
        let start = timed.then(std::time::Instant::now);
        let before = out.len();
        let mut ctx = Ctx {
            now: view.now,
            market: view.market,
            chain: view.chain,
            free_trade_slots: view.free_trade_slots,
            busy: view.busy,
            opportunities: &mut r.stats.opportunities,
        };
        if let Err(e) = r.strategy.on_event(event, &mut ctx, out) {
            r.stats.errors += 1;
            tracing::error!(target: "xcrack::engine", strategy = r.strategy.id().0, error = %e, "strategy failed on an event");
        }
        if let Some(s) = start {
            r.wall_ns_samples.record(s.elapsed().as_nanos() as u64);
        }
        r.stats.actions += (out.len() - before) as u64;
    }
}
