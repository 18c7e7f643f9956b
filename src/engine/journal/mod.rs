//! The run journal: what the strategies saw, what they asked for, what the risk gate and the
//! executors decided, and what became of every bundle. In memory, events the strategies saw are
//! counted by kind (a long run sees millions of quotes) and, when the run keeps a file journal,
//! logged one by one; every action is kept with its decision and every bundle report with its
//! status. `sqlite` writes it (with the run's fills, equity and counters) as a SQLite file and
//! reads it back.

pub mod sqlite;

use crate::core::{BundleStatus, Event, SimTime, SkipReason};
use crate::risk::RiskReject;

/// What became of one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Executed,
    /// The world could not take it (slots, venue, simulation) — the strategy's skip reason.
    Skipped(SkipReason),
    /// The risk gate refused it.
    Refused(RiskReject),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionEntry {
    pub at: SimTime,
    pub strategy: u16,
    pub kind: &'static str,
    pub decision: Decision,
}

/// Event kinds the strategies see, in a fixed order (the journal's counters).
pub const EVENT_KINDS: [&str; 6] = ["quote", "block", "pending_tx", "bundle_result", "position", "timer"];

pub fn event_kind(e: &Event) -> usize {
    match e {
        Event::Quote { .. } => 0,
        Event::Block(_) => 1,
        Event::PendingTx { .. } => 2,
        Event::BundleResult { .. } => 3,
        Event::Position { .. } => 4,
        Event::Timer { .. } => 5,
    }
}

/// A bundle's news as its strategy heard it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BundleEntry {
    pub at: SimTime,
    pub strategy: u16,
    pub tag: u64,
    pub status: BundleStatus,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Journal {
    pub events_seen: [u64; EVENT_KINDS.len()],
    /// Every event the strategies saw, in order, when the run keeps one (`Journal::logging`).
    pub log: Option<Vec<(SimTime, Event)>>,
    pub actions: Vec<ActionEntry>,
    pub bundles: Vec<BundleEntry>,
}

impl Journal {
    /// A journal that also logs every event (for a file journal).
    pub fn logging() -> Self {
        Journal { log: Some(Vec::new()), ..Journal::default() }
    }

    #[inline]
    pub fn saw(&mut self, at: SimTime, event: &Event) {
        self.events_seen[event_kind(event)] += 1;
        if let Some(log) = &mut self.log {
            log.push((at, *event));
        }
    }

    pub fn bundle(&mut self, at: SimTime, strategy: u16, tag: u64, status: BundleStatus) {
        self.bundles.push(BundleEntry { at, strategy, tag, status });
    }

    pub fn decided(&mut self, at: SimTime, strategy: u16, kind: &'static str, decision: Decision) {
        self.actions.push(ActionEntry { at, strategy, kind, decision });
    }

    /// Risk refusals by reason, in `RiskReject`'s order.
    pub fn refusals(&self) -> [u64; RiskReject::ALL.len()] {
        let mut out = [0; RiskReject::ALL.len()];
        for a in &self.actions {
            if let Decision::Refused(r) = a.decision {
                out[r as usize] += 1;
            }
        }
        out
    }
}
