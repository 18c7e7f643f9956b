//! PriceFeedManager: quotes reach us after feed latency; stale, late (out of order) and outlier quotes
//! are rejected and counted, so a strategy only ever sees books the feed vouches for.

use crate::core::{BookSnapshot, SimTime, VenueId};

/// Snapshots in flight per venue. A quote overtaken by 64 newer ones is long stale anyway.
const RING: usize = 64;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeedStats {
    pub received: u64,
    pub accepted: u64,
    pub rejected_stale: u64,
    pub rejected_late: u64,
    pub rejected_outlier: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Stale,
    Late,
    Outlier,
}

pub struct PriceFeed {
    in_flight: Vec<Vec<BookSnapshot>>,
    accepted: Vec<Option<BookSnapshot>>,
    /// Mid of each venue's accepted book in quote units per whole base (for cross-venue checks).
    mids: Vec<Option<f64>>,
    tick_values: Vec<f64>,
    max_age: SimTime,
    outlier_bps: f64,
    /// Median of `mids`, refreshed on every accepted quote (strategies read it per opportunity).
    median: Option<f64>,
    pub stats: FeedStats,
}

impl PriceFeed {
    /// `tick_values[v]`: quote units per tick on venue v.
    pub fn new(tick_values: Vec<f64>, max_age: SimTime, outlier_bps: f64) -> Self {
        let n = tick_values.len();
        PriceFeed {
            in_flight: (0..n).map(|v| vec![BookSnapshot::empty(VenueId(v as u16)); RING]).collect(),
            accepted: vec![None; n],
            mids: vec![None; n],
            tick_values,
            max_age,
            outlier_bps,
            median: None,
            stats: FeedStats::default(),
        }
    }

    /// The venue published `book`; returns the slot to deliver later.
    pub fn publish(&mut self, book: &BookSnapshot) -> u32 {
        let slot = (book.seq % RING as u64) as usize;
        self.in_flight[book.venue.0 as usize][slot] = *book;
        slot as u32
    }

    /// The quote in `slot` reaches us at `now`. `other_mids` are independent references (e.g. pool
    /// prices) used with the other venues' mids for the outlier check.
    pub fn arrive(&mut self, venue: VenueId, slot: u32, now: SimTime, other_mids: &[f64]) -> Verdict {
        let v = venue.0 as usize;
        let book = &self.in_flight[v][slot as usize];
        self.stats.received += 1;
        if self.accepted[v].is_some_and(|a| a.seq >= book.seq) {
            self.stats.rejected_late += 1;
            return Verdict::Late;
        }
        if now.saturating_sub(book.exchange_time) > self.max_age {
            self.stats.rejected_stale += 1;
            return Verdict::Stale;
        }
        let Some(mid2) = book.mid_ticks_x2() else {
            self.stats.rejected_outlier += 1;
            return Verdict::Outlier;
        };
        let mid = mid2 as f64 * 0.5 * self.tick_values[v];
        let refs: Vec<f64> = self
            .mids
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != v)
            .filter_map(|(_, m)| *m)
            .chain(other_mids.iter().copied())
            .collect();
        if !refs.is_empty() {
            let median = median(refs).unwrap_or(mid);
            if ((mid - median) / median).abs() * 1e4 > self.outlier_bps {
                self.stats.rejected_outlier += 1;
                return Verdict::Outlier;
            }
        }
        let mut accepted = *book;
        accepted.received_at = now;
        self.accepted[v] = Some(accepted);
        self.mids[v] = Some(mid);
        self.median = median(self.mids.iter().filter_map(|x| *x).collect());
        self.stats.accepted += 1;
        Verdict::Accepted
    }

    pub fn book(&self, venue: VenueId) -> Option<&BookSnapshot> {
        self.accepted[venue.0 as usize].as_ref()
    }

    /// Median of the accepted venue mids, quote units per whole base.
    pub fn median_mid(&self) -> Option<f64> {
        self.median
    }
}

/// Median of a few mids (one per venue and pool).
fn median(mut m: Vec<f64>) -> Option<f64> {
    if m.is_empty() {
        return None;
    }
    m.sort_by(|a, b| a.total_cmp(b));
    let n = m.len();
    Some(if n % 2 == 1 { m[n / 2] } else { 0.5 * (m[n / 2 - 1] + m[n / 2]) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Level;

    fn book(venue: u16, seq: u64, t: SimTime, mid_ticks: u64) -> BookSnapshot {
        let mut b = BookSnapshot::empty(VenueId(venue));
        b.seq = seq;
        b.exchange_time = t;
        b.bids[0] = Level { price_ticks: mid_ticks - 1, lots: 1 };
        b.asks[0] = Level { price_ticks: mid_ticks + 1, lots: 1 };
        b.n_bids = 1;
        b.n_asks = 1;
        b
    }

    #[test]
    fn rejects_stale_late_and_outlier_quotes() {
        let mut f = PriceFeed::new(vec![0.01, 0.01], 500, 100.0);
        let s1 = f.publish(&book(0, 1, 0, 300_000));
        let s2 = f.publish(&book(0, 2, 10, 300_000));
        assert_eq!(f.arrive(VenueId(0), s2, 20, &[]), Verdict::Accepted);
        assert_eq!(f.arrive(VenueId(0), s1, 25, &[]), Verdict::Late);
        let s3 = f.publish(&book(0, 3, 30, 300_000));
        assert_eq!(f.arrive(VenueId(0), s3, 1_000, &[]), Verdict::Stale);
        // Venue 1 prints 5 % away from venue 0 and the pool: outlier.
        let s = f.publish(&book(1, 1, 40, 315_000));
        assert_eq!(f.arrive(VenueId(1), s, 50, &[3000.0]), Verdict::Outlier);
        let s = f.publish(&book(1, 2, 60, 300_300));
        assert_eq!(f.arrive(VenueId(1), s, 70, &[3000.0]), Verdict::Accepted);
        assert_eq!(
            f.stats,
            FeedStats { received: 5, accepted: 2, rejected_stale: 1, rejected_late: 1, rejected_outlier: 1 }
        );
    }
}
