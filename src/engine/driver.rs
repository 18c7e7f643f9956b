//! THE loop. One driver runs every mode: it pops the next event from a source, lets the world
//! advance on it, hands what the strategies should see to the strategy manager, puts every action
//! through the risk gate and then the world's executor, and journals each step. A world (the
//! simulated market, the sandwich chain, the lending chain; later a fork or the live node) is only
//! ever reached through the `World` seam, and events only ever arrive through a `Source`.
//!
//! Sources: the simulated world schedules its own consequences into an `EventQueue` (discrete-event
//! simulation); live mode's tokio tasks push events through a bounded channel (`ChannelSource`).
//! Both feed the same dispatch, and a test proves they give identical actions and reports.

pub use super::journal::Decision;
use super::journal::Journal;
use super::manager::{StrategyManager, View};
use super::queue::EventQueue;
use crate::core::strategy::MarketView;
use crate::core::{Action, ChainView, Event, LegVenue, SimTime, SkipReason};
use crate::risk::{Ask, RiskGate};

/// Where a world schedules what happens next (a price tick, an order reaching its venue).
pub trait Schedule<E> {
    fn schedule(&mut self, at: SimTime, event: E);
}

/// Where the driver takes its next event from.
pub trait Source<E>: Schedule<E> {
    fn next_event(&mut self) -> Option<(SimTime, E)>;
}

impl<E: Ord> Schedule<E> for EventQueue<E> {
    #[inline]
    fn schedule(&mut self, at: SimTime, event: E) {
        EventQueue::schedule(self, at, event)
    }
}

impl<E: Ord> Source<E> for EventQueue<E> {
    #[inline]
    fn next_event(&mut self) -> Option<(SimTime, E)> {
        self.pop()
    }
}

/// Live mode's shape: events produced by tokio tasks (a WS mempool, a venue's feed) arrive through
/// a bounded channel, so a slow strategy applies back-pressure instead of growing a queue without
/// bound. The outside world schedules its own consequences (an order's fill comes back as an
/// event), so what the world would schedule is not queued here; it is counted, for the journal.
pub struct ChannelSource<E> {
    rx: tokio::sync::mpsc::Receiver<(SimTime, E)>,
    pub ignored_schedules: u64,
}

impl<E> ChannelSource<E> {
    /// A source and the sender its producers use; `capacity` bounds events in flight.
    pub fn bounded(capacity: usize) -> (tokio::sync::mpsc::Sender<(SimTime, E)>, Self) {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
        (tx, ChannelSource { rx, ignored_schedules: 0 })
    }
}

impl<E> Schedule<E> for ChannelSource<E> {
    fn schedule(&mut self, _at: SimTime, _event: E) {
        self.ignored_schedules += 1;
    }
}

impl<E> Source<E> for ChannelSource<E> {
    /// Blocks the driver's thread until the next event or until every sender is gone. The driver
    /// runs on its own thread (never inside the runtime), so this is the one sync/async boundary.
    fn next_event(&mut self) -> Option<(SimTime, E)> {
        self.rx.blocking_recv()
    }
}

/// Records every event a source gives, in order (what a channel-fed replay of a run sends).
pub struct Recording<'a, E, S: Source<E>> {
    pub inner: &'a mut S,
    pub seen: Vec<(SimTime, E)>,
}

impl<E: Copy, S: Source<E>> Schedule<E> for Recording<'_, E, S> {
    fn schedule(&mut self, at: SimTime, event: E) {
        self.inner.schedule(at, event)
    }
}

impl<E: Copy, S: Source<E>> Source<E> for Recording<'_, E, S> {
    fn next_event(&mut self) -> Option<(SimTime, E)> {
        let e = self.inner.next_event()?;
        self.seen.push(e);
        Some(e)
    }
}

/// What the world says about an action before the risk gate sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Assessment {
    /// The world cannot take it at all (slots full, venue busy, no funds): the reason.
    pub refuse: Option<SkipReason>,
    /// Base exposure the action opens (0 for a flat, atomic action).
    pub new_base: u128,
    /// Unhedged base exposure already open.
    pub open_base: u128,
    /// Our transactions or bundles still in flight.
    pub in_flight: u32,
    /// What the on-chain part would cost at today's base fee (0 when it has none).
    pub gas_wei: u128,
    /// It only takes risk away (a cancel): the gate lets it through even when stopped.
    pub reduces_risk: bool,
    /// It moves a token outside `safety.allowed_tokens`.
    pub foreign_token: bool,
}

/// A world as the driver sees it: it advances on its own events, shows strategies a read-only
/// view, assesses actions for the gate, and carries out the ones the gate lets through.
pub trait World {
    type Event: Copy + Ord + std::fmt::Debug + Send + 'static;
    /// Schedules the first events.
    fn start(&mut self, q: &mut dyn Schedule<Self::Event>);
    /// The world moves on `event`; what strategies should hear of it goes to `out`, in order.
    fn advance(
        &mut self,
        now: SimTime,
        event: Self::Event,
        q: &mut dyn Schedule<Self::Event>,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    );
    fn market(&self) -> &dyn MarketView;
    fn chain(&self) -> &dyn ChainView;
    /// Order slots the world's executor can still open (worlds of bundles only: none).
    fn free_trade_slots(&self) -> usize {
        0
    }
    /// Has the world an order of ours in flight on `venue` (worlds of bundles only: never)?
    fn is_busy(&self, _venue: LegVenue) -> bool {
        false
    }
    /// `strategy`: who asks (a world with several flows sends each its own).
    fn assess(&self, strategy: u16, action: &Action) -> Assessment;
    /// Carries out a gated action; an error is the reason it could not be (e.g. a simulation
    /// failed). What the strategy should hear at once (a bundle's submission) goes to `out`. The
    /// world tells the gate whether its simulation and submission went through
    /// (`RiskGate::record_outcome`: the circuit breaker counts failures).
    fn execute(
        &mut self,
        strategy: u16,
        action: Action,
        now: SimTime,
        q: &mut dyn Schedule<Self::Event>,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) -> Result<(), SkipReason>;
    /// The gate or the world turned `action` down: tell its strategy if it keeps records.
    fn declined(&mut self, _strategy: u16, _action: &Action, _decision: Decision, _out: &mut Vec<Event>) {}
    /// What `action` is expected to make, net, in one unit for every action this world takes: the
    /// key by which competing actions of one event are carried out (see `drive`). By default the
    /// action's own figure (quote raw units for orders, wei for bundles): a world whose
    /// strategies mix both converts.
    fn expected_net(&self, action: &Action) -> i128 {
        action.expected_net()
    }
}

/// Counters of one drive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriveStats {
    pub events: u64,
}

/// How often `progress` hears the simulated time reached.
const PROGRESS_EVERY: u64 = 1 << 16;

/// Runs `world` on the events of `source` until they end or pass `until`.
///
/// Every enabled strategy hears each event before any of their actions is carried out, so all
/// decide on the same state. When they act on the same event, the actions are carried out in
/// order of expected net (`World::expected_net`, highest first; cancels first, as they only take
/// risk away; ties in strategy registration order, then each strategy's own order). When two want
/// the same pool, venue, trade slot or wallet funds, the one carried out first takes it and the
/// world turns the other down with the reason (`venue_busy`, `concurrency_limit`,
/// `insufficient_inventory`), counted as that strategy's skip and journaled.
pub fn drive<W: World>(
    world: &mut W,
    source: &mut dyn Source<W::Event>,
    strategies: &mut StrategyManager,
    risk: &mut RiskGate,
    journal: &mut Journal,
    until: SimTime,
    progress: &mut dyn FnMut(SimTime),
) -> DriveStats {
    world.start(source);
    let mut stats = DriveStats::default();
    let mut actions: Vec<Action> = Vec::with_capacity(8);
    // Every strategy's actions on one event, before any is carried out.
    let mut batch: Vec<(u16, Action)> = Vec::with_capacity(8);
    // What strategies hear, in order: the world's news of an event, then what executing the
    // actions it caused reported back (a bundle's submission), before the next event.
    let mut inbox: Vec<Event> = Vec::with_capacity(8);
    while let Some((now, ev)) = source.next_event() {
        if now > until {
            break;
        }
        stats.events += 1;
        if stats.events.is_multiple_of(PROGRESS_EVERY) {
            progress(now);
        }
        inbox.clear();
        let mut next = 0;
        world.advance(now, ev, source, risk, &mut inbox);
        while next < inbox.len() {
            let event = inbox[next];
            next += 1;
            journal.saw(now, &event);
            if let Event::BundleResult { strategy, tag } = event
                && let Some(r) = world.chain().bundle_report(strategy, tag)
            {
                journal.bundle(now, strategy, tag, r.status);
            }
            batch.clear();
            for i in 0..strategies.strategies.len() {
                if !strategies.strategies[i].enabled {
                    continue;
                }
                let busy = |v: LegVenue| world.is_busy(v);
                let view = View {
                    now,
                    market: world.market(),
                    chain: world.chain(),
                    free_trade_slots: world.free_trade_slots(),
                    busy: &busy,
                };
                strategies.dispatch_one(i, &event, &view, &mut actions);
                batch.extend(actions.drain(..).map(|a| (i as u16, a)));
            }
            if batch.len() > 1 && batch.iter().any(|(s, _)| *s != batch[0].0) {
                let key =
                    |a: &Action| if matches!(a, Action::Cancel { .. }) { i128::MAX } else { world.expected_net(a) };
                // Stable: equal keys keep registration order, then the strategy's own order.
                batch.sort_by_cached_key(|(_, a)| std::cmp::Reverse(key(a)));
            }
            for (strategy, action) in batch.drain(..) {
                let i = strategy as usize;
                let a = world.assess(strategy, &action);
                let decision = if let Some(r) = a.refuse {
                    Decision::Skipped(r)
                } else if a.reduces_risk {
                    Decision::Executed
                } else if let Err(r) = risk.check_ask(
                    now,
                    Ask {
                        new_base: a.new_base,
                        open_base: a.open_base,
                        in_flight: a.in_flight,
                        gas_wei: a.gas_wei,
                        foreign_token: a.foreign_token,
                    },
                ) {
                    Decision::Refused(r)
                } else {
                    Decision::Executed
                };
                let kind = action.kind();
                let decision = match decision {
                    Decision::Executed => match world.execute(strategy, action, now, source, risk, &mut inbox) {
                        Ok(()) => Decision::Executed,
                        Err(r) => Decision::Skipped(r),
                    },
                    d => {
                        world.declined(strategy, &action, d, &mut inbox);
                        d
                    }
                };
                journal.decided(now, strategy, kind, decision);
                let skip = match decision {
                    Decision::Executed => None,
                    Decision::Skipped(r) => Some(r),
                    Decision::Refused(_) => Some(SkipReason::RiskLimit),
                };
                if let Some(r) = skip {
                    let opp = &mut strategies.strategies[i].stats.opportunities;
                    opp.taken = opp.taken.saturating_sub(1);
                    opp.skip(r);
                }
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SafetySpec;
    use crate::core::event::ArbPlan;
    use crate::core::strategy::{AssetSpec, CexSpec, Ctx, Inventory, PoolSpec, Strategy, StrategyError, StrategyId};
    use crate::core::{AssetId, BlockInfo, BookSnapshot, LegOrder, NoChain, PoolId, Side, VenueId};

    /// One pool, taken by the first order that reaches it.
    #[derive(Default)]
    struct OnePool {
        taken_by: Option<u16>,
    }

    impl MarketView for OnePool {
        fn assets(&self) -> &[AssetSpec] {
            &[]
        }
        fn quote_decimals(&self) -> u32 {
            6
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
        fn reserves(&self, _pool: PoolId) -> (alloy_primitives::U256, alloy_primitives::U256) {
            Default::default()
        }
        fn block(&self) -> BlockInfo {
            BlockInfo { number: 1, timestamp: 0, base_fee_wei: 0 }
        }
        fn inventory(&self) -> &Inventory {
            &crate::core::strategy::NO_INVENTORY
        }
        fn mark_price(&self, _asset: AssetId) -> Option<u128> {
            None
        }
    }

    impl World for OnePool {
        type Event = u8;
        fn start(&mut self, q: &mut dyn Schedule<u8>) {
            q.schedule(1, 0);
        }
        fn advance(&mut self, _: SimTime, _: u8, _: &mut dyn Schedule<u8>, _: &mut RiskGate, out: &mut Vec<Event>) {
            out.push(Event::Timer { id: 7 });
        }
        fn market(&self) -> &dyn MarketView {
            self
        }
        fn chain(&self) -> &dyn ChainView {
            &NoChain
        }
        fn free_trade_slots(&self) -> usize {
            1
        }
        fn is_busy(&self, _venue: LegVenue) -> bool {
            self.taken_by.is_some()
        }
        fn assess(&self, _strategy: u16, _action: &Action) -> Assessment {
            let refuse = self.taken_by.is_some().then_some(SkipReason::VenueBusy);
            Assessment { refuse, ..Assessment::default() }
        }
        fn execute(
            &mut self,
            strategy: u16,
            _: Action,
            _: SimTime,
            _: &mut dyn Schedule<u8>,
            _: &mut RiskGate,
            _: &mut Vec<Event>,
        ) -> Result<(), SkipReason> {
            self.taken_by = Some(strategy);
            Ok(())
        }
    }

    /// Wants the pool on every event, expecting `net`.
    struct Wants {
        id: StrategyId,
        net: i128,
    }

    impl Strategy for Wants {
        fn id(&self) -> StrategyId {
            self.id
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
        fn on_event(&mut self, _: &Event, ctx: &mut Ctx<'_>, out: &mut Vec<Action>) -> Result<(), StrategyError> {
            let leg = |side| LegOrder::Dex {
                pool: PoolId(0),
                side,
                base_raw: 1,
                quote_limit: 0,
                priority_fee_wei: 0,
                gas_limit: 0,
            };
            ctx.opportunities.taken += 1;
            out.push(Action::Arbitrage(ArbPlan {
                buy: leg(Side::Buy),
                sell: leg(Side::Sell),
                base_raw: 1,
                predicted_gross: self.net,
                predicted_fees: 0,
                predicted_gas: 0,
                predicted_net: self.net,
                decided_at: ctx.now,
                quote_age: 0,
            }));
            Ok(())
        }
    }

    fn gate() -> RiskGate {
        RiskGate::new(SafetySpec {
            max_concurrent_bundles: 10,
            max_daily_gas_wei: u128::MAX,
            emergency_stop_loss_quote: u128::MAX,
            max_position_base: u128::MAX,
            enable_emergency_stop: false,
            max_drawdown_quote: None,
            emergency_stop_at: None,
            breaker_failures: 5,
            breaker_cooldown: 1,
            allowed_tokens: Vec::new(),
        })
    }

    #[test]
    fn competing_strategies_are_served_by_expected_net_and_the_loser_hears_why() {
        for (first, second, winner) in [(10, 50, 1u16), (50, 10, 0), (30, 30, 0)] {
            let mut world = OnePool::default();
            let mut m = StrategyManager::default();
            m.register(Box::new(Wants { id: StrategyId("a"), net: first }), true);
            m.register(Box::new(Wants { id: StrategyId("b"), net: second }), true);
            let (mut q, mut journal) = (EventQueue::new(), Journal::default());
            drive(&mut world, &mut q, &mut m, &mut gate(), &mut journal, 10, &mut |_| {});
            assert_eq!(world.taken_by, Some(winner), "nets {first} vs {second}");
            let loser = 1 - winner;
            let decided: Vec<_> = journal.actions.iter().map(|a| (a.strategy, a.decision)).collect();
            assert_eq!(
                decided,
                vec![(winner, Decision::Executed), (loser, Decision::Skipped(SkipReason::VenueBusy))],
                "the winner is carried out first; ties go to registration order"
            );
            let opp = &m.strategies[loser as usize].stats.opportunities;
            assert_eq!((opp.taken, opp.skipped[SkipReason::VenueBusy as usize]), (0, 1));
        }
    }
}
