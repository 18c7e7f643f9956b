//! Walking an L2 book: what a market (IOC) order of N lots fills, at what notional, up to a limit price.

use crate::core::{BookSnapshot, Level, MAX_DEPTH, Side};

/// Result of walking one side of a book. `notional` is Σ price_ticks × lots (multiply by the venue's
/// `quote_per_tick_lot` for quote raw units).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Walk {
    pub filled_lots: u64,
    pub notional: u128,
    /// Price of the last level touched (0 if nothing filled).
    pub last_price_ticks: u64,
}

/// Walks `levels` (best first) for up to `lots`, never past `limit_ticks` (for buys: price <= limit;
/// for sells: price >= limit). Partial fills are the normal outcome of a thin book.
#[inline]
pub fn walk(levels: &[Level], side: Side, lots: u64, limit_ticks: u64) -> Walk {
    let mut w = Walk::default();
    let mut remaining = lots;
    for lvl in levels {
        if remaining == 0 {
            break;
        }
        let acceptable = match side {
            Side::Buy => lvl.price_ticks <= limit_ticks,
            Side::Sell => lvl.price_ticks >= limit_ticks,
        };
        if !acceptable {
            break;
        }
        let take = remaining.min(lvl.lots);
        w.filled_lots += take;
        w.notional += u128::from(take) * u128::from(lvl.price_ticks);
        w.last_price_ticks = lvl.price_ticks;
        remaining -= take;
    }
    w
}

/// The side a taker of `side` consumes: buys lift asks, sells hit bids.
#[inline]
pub fn taker_levels(book: &BookSnapshot, side: Side) -> &[Level] {
    match side {
        Side::Buy => book.asks(),
        Side::Sell => book.bids(),
    }
}

/// Executes an IOC order against a venue's live book, removing the liquidity it takes.
pub fn fill_against(book: &mut BookSnapshot, side: Side, lots: u64, limit_ticks: u64) -> Walk {
    let w = walk(taker_levels(book, side), side, lots, limit_ticks);
    if w.filled_lots == 0 {
        return w;
    }
    let (levels, n) = match side {
        Side::Buy => (&mut book.asks, &mut book.n_asks),
        Side::Sell => (&mut book.bids, &mut book.n_bids),
    };
    let mut remaining = w.filled_lots;
    let mut consumed = 0usize;
    for lvl in levels[..*n as usize].iter_mut() {
        if remaining == 0 {
            break;
        }
        let take = remaining.min(lvl.lots);
        lvl.lots -= take;
        remaining -= take;
        if lvl.lots == 0 {
            consumed += 1;
        }
    }
    if consumed > 0 {
        levels.copy_within(consumed..*n as usize, 0);
        *n -= consumed as u8;
        for l in levels[*n as usize..MAX_DEPTH].iter_mut() {
            *l = Level::default();
        }
    }
    w
}

/// Taker fee on a notional, rounded up (the venue never undercharges).
#[inline]
pub fn taker_fee(quote_raw: u128, fee_bps: u32) -> u128 {
    (quote_raw * u128::from(fee_bps)).div_ceil(10_000)
}

/// Cumulative lots at each level boundary: the sizes where the book's marginal price changes.
pub fn breakpoints(levels: &[Level]) -> impl Iterator<Item = u64> + '_ {
    levels.iter().scan(0u64, |acc, l| {
        *acc += l.lots;
        Some(*acc)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::VenueId;

    fn book() -> BookSnapshot {
        let mut b = BookSnapshot::empty(VenueId(0));
        for (i, (p, q)) in [(300_000u64, 10u64), (300_010, 20), (300_030, 5)].into_iter().enumerate() {
            b.asks[i] = Level { price_ticks: p, lots: q };
        }
        b.n_asks = 3;
        for (i, (p, q)) in [(299_990u64, 8u64), (299_980, 4)].into_iter().enumerate() {
            b.bids[i] = Level { price_ticks: p, lots: q };
        }
        b.n_bids = 2;
        b
    }

    #[test]
    fn walks_levels_in_order() {
        let b = book();
        let w = walk(b.asks(), Side::Buy, 15, u64::MAX);
        assert_eq!(w, Walk { filled_lots: 15, notional: 10 * 300_000 + 5 * 300_010, last_price_ticks: 300_010 });
    }

    #[test]
    fn partial_fill_when_book_is_thin() {
        let b = book();
        let w = walk(b.asks(), Side::Buy, 100, u64::MAX);
        assert_eq!(w.filled_lots, 35);
        let w = walk(b.bids(), Side::Sell, 100, 0);
        assert_eq!(w.filled_lots, 12);
    }

    #[test]
    fn limit_price_stops_the_walk() {
        let b = book();
        assert_eq!(walk(b.asks(), Side::Buy, 100, 300_010).filled_lots, 30);
        assert_eq!(walk(b.bids(), Side::Sell, 100, 299_990).filled_lots, 8);
        assert_eq!(walk(b.asks(), Side::Buy, 100, 299_999).filled_lots, 0);
    }

    #[test]
    fn filling_consumes_liquidity() {
        let mut b = book();
        let w = fill_against(&mut b, Side::Buy, 12, u64::MAX);
        assert_eq!(w.filled_lots, 12);
        assert_eq!(b.n_asks, 2);
        assert_eq!(b.asks()[0], Level { price_ticks: 300_010, lots: 18 });
        let w2 = fill_against(&mut b, Side::Buy, 100, u64::MAX);
        assert_eq!(w2.filled_lots, 23);
        assert_eq!(b.n_asks, 0);
    }

    #[test]
    fn fee_rounds_up() {
        assert_eq!(taker_fee(10_000, 10), 10);
        assert_eq!(taker_fee(10_001, 10), 11);
        assert_eq!(taker_fee(0, 10), 0);
    }

    #[test]
    fn breakpoints_are_cumulative() {
        let b = book();
        assert_eq!(breakpoints(b.asks()).collect::<Vec<_>>(), vec![10, 30, 35]);
    }
}

/// What an order filled at a venue, in raw units: base, its quote notional and the taker fee.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fill {
    pub base: u128,
    pub quote: u128,
    pub fee: u128,
}

/// What a venue's terms make of an order's lots and ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IocTerms {
    pub quote_per_tick_lot: u128,
    pub lot_base_raw: u128,
    pub taker_fee_bps: u32,
}

/// An immediate-or-cancel order against `book` (the venue's live book, which loses what it takes):
/// no deeper than `limit_ticks` and within our `(base, quote)` balance there (sells: the base we
/// hold; buys: what the quote we hold pays for, fee included); moves that balance. The simulated
/// venues and fork mode's recorded books fill through this one function.
pub fn fill_ioc(
    book: &mut BookSnapshot,
    terms: IocTerms,
    (base_held, quote_held): (&mut u128, &mut u128),
    side: Side,
    lots: u64,
    limit_ticks: u64,
) -> Fill {
    let IocTerms { quote_per_tick_lot: qptl, lot_base_raw: lot, taker_fee_bps: fee_bps } = terms;
    let max_lots = match side {
        Side::Sell => lots.min((*base_held / lot) as u64),
        Side::Buy => affordable(book, lots, limit_ticks, qptl, fee_bps, *quote_held),
    };
    let w = fill_against(book, side, max_lots, limit_ticks);
    let quote = w.notional * qptl;
    let fee = taker_fee(quote, fee_bps);
    let base = u128::from(w.filled_lots) * lot;
    match side {
        Side::Buy => {
            *base_held += base;
            *quote_held -= quote + fee;
        }
        Side::Sell => {
            *base_held -= base;
            *quote_held = *quote_held + quote - fee;
        }
    }
    Fill { base, quote, fee }
}

/// Largest lots (≤ `lots`) whose cost plus fee fits in `budget`, walking no further than the limit.
fn affordable(book: &BookSnapshot, lots: u64, limit: u64, qptl: u128, fee_bps: u32, budget: u128) -> u64 {
    let cost = |n: u64| {
        let w = walk(book.asks(), Side::Buy, n, limit);
        let q = w.notional * qptl;
        q + taker_fee(q, fee_bps)
    };
    if cost(lots) <= budget {
        return lots;
    }
    let (mut lo, mut hi) = (0u64, lots);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if cost(mid) <= budget { lo = mid } else { hi = mid - 1 }
    }
    lo
}
