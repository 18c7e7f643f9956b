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
    fn free_trade_slots(&self) -> usize;
    fn is_busy(&self, venue: LegVenue) -> bool;
    fn assess(&self, action: &Action) -> Assessment;
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
}

/// Counters of one drive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriveStats {
    pub events: u64,
}

/// How often `progress` hears the simulated time reached.
const PROGRESS_EVERY: u64 = 1 << 16;

/// Runs `world` on the events of `source` until they end or pass `until`.
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
            for i in 0..strategies.strategies.len() {
                if !strategies.strategies[i].enabled {
                    continue;
                }
                actions.clear();
                {
                    let busy = |v: LegVenue| world.is_busy(v);
                    let view = View {
                        now,
                        market: world.market(),
                        chain: world.chain(),
                        free_trade_slots: world.free_trade_slots(),
                        busy: &busy,
                    };
                    strategies.dispatch_one(i, &event, &view, &mut actions);
                }
                for action in actions.drain(..) {
                    let a = world.assess(&action);
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
                        Decision::Executed => match world.execute(i as u16, action, now, source, risk, &mut inbox) {
                            Ok(()) => Decision::Executed,
                            Err(r) => Decision::Skipped(r),
                        },
                        d => {
                            world.declined(i as u16, &action, d, &mut inbox);
                            d
                        }
                    };
                    journal.decided(now, i as u16, kind, decision);
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
    }
    stats
}
