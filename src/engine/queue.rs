//! The discrete-event queue: events ordered by (simulated time, sequence number). Ties break by the
//! order in which they were scheduled, so a run is a pure function of its inputs.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::core::{SimTime, VenueId};

/// Everything that can happen in a backtest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimEvent {
    /// The fundamental price processes advance one tick.
    PriceTick,
    /// A CEX venue republishes its book.
    BookRefresh(VenueId),
    /// A published book reaches our price feed.
    QuoteArrive { venue: VenueId, slot: u32 },
    /// A noise trader sends a swap to the mempool.
    NoiseSwap,
    /// A block is built.
    Block,
    /// Mark the inventory to market for the equity curve.
    EquitySample,
    /// One of our CEX orders reaches its venue.
    OrderArrive(u32),
    /// The venue's report of that order reaches us.
    OrderReport(u32),
}

/// A world's events, ordered by (time, scheduling order). Generic so every simulated world keeps
/// its own small, `Copy` event type.
pub struct EventQueue<E = SimEvent> {
    heap: BinaryHeap<Reverse<(SimTime, u64, E)>>,
    seq: u64,
    pub now: SimTime,
}

impl<E: Ord> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::new(), seq: 0, now: 0 }
    }
}

impl<E: Ord> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    pub fn schedule(&mut self, at: SimTime, event: E) {
        debug_assert!(at >= self.now, "scheduling into the past");
        self.seq += 1;
        self.heap.push(Reverse((at.max(self.now), self.seq, event)));
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let Reverse((t, _, e)) = self.heap.pop()?;
        self.now = t;
        Some((t, e))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_time_then_scheduling_order() {
        let mut q: EventQueue = EventQueue::new();
        q.schedule(10, SimEvent::Block);
        q.schedule(5, SimEvent::NoiseSwap);
        q.schedule(10, SimEvent::PriceTick);
        q.schedule(5, SimEvent::EquitySample);
        let got: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            got,
            vec![
                (5, SimEvent::NoiseSwap),
                (5, SimEvent::EquitySample),
                (10, SimEvent::Block),
                (10, SimEvent::PriceTick)
            ]
        );
    }

    #[test]
    fn same_schedule_same_order_every_time() {
        let run = || {
            let mut q: EventQueue = EventQueue::new();
            for i in 0..1000u64 {
                q.schedule(
                    (i * 7919) % 97,
                    if i % 2 == 0 { SimEvent::OrderArrive(i as u32) } else { SimEvent::OrderReport(i as u32) },
                );
            }
            std::iter::from_fn(|| q.pop()).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
