//! Trade sizing: the size that maximises net profit of buying on one venue and selling on another,
//! exactly, over whole lots.
//!
//! Every leg's real-valued P&L is concave in size (books walk outward, constant-product curves bend),
//! and integer rounding (fees rounded up, AMM outputs floored, amountIn rounded up) moves each leg by
//! less than one raw unit in our disfavour, so the computed net `f` lies within [g − 2, g] of a concave
//! `g`. A coarse search finds a starting point; an outward scan that stops once `f` falls more than 2
//! below the best seen is then provably exhaustive: past that point `g` is below the best and, being
//! concave, only decreases.

use crate::core::{Level, Side};
use crate::market::amm::{CpPool, get_amount_in_u128, get_amount_out_u128};
use crate::market::orderbook::{taker_fee, walk};

/// Rounding can cost each of the two legs less than one raw unit: the scan's exactness bound.
pub const ROUNDING_SLACK: i128 = 2;
/// Safety valve for pathological, almost perfectly flat books; beyond it the result may be up to
/// `ROUNDING_SLACK` raw units from the optimum.
const MAX_SCAN: u64 = 100_000;

/// One side of a trade, priced per common lot.
#[derive(Clone, Copy, Debug)]
pub enum Leg<'a> {
    /// Walk a book: `levels` best first (asks to buy, bids to sell). One common lot is `mult` venue
    /// lots; notional is `ticks × venue_lots × quote_per_tick_lot`.
    Book { levels: &'a [Level], side: Side, mult: u64, quote_per_tick_lot: u128, fee_bps: u32 },
    /// Swap on a constant-product pool; one common lot is `lot_raw` base raw units.
    Pool { pool: CpPool, side: Side, lot_raw: u128 },
}

/// Quote amounts of one leg at a size: `gross` (paid or received before fees) and `fee`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LegQuote {
    pub gross: u128,
    pub fee: u128,
    /// Deepest book price touched (ticks); 0 for pools.
    pub worst_ticks: u64,
}

impl Leg<'_> {
    pub fn side(&self) -> Side {
        match *self {
            Leg::Book { side, .. } | Leg::Pool { side, .. } => side,
        }
    }

    /// Largest size (common lots) this leg can absorb.
    pub fn capacity(&self) -> u64 {
        match *self {
            Leg::Book { levels, mult, .. } => levels.iter().map(|l| l.lots).sum::<u64>() / mult,
            Leg::Pool { pool, side: Side::Buy, lot_raw } => {
                let r: u128 = pool.reserve_base.saturating_to();
                (r.saturating_sub(1) / lot_raw).min(u64::MAX as u128) as u64
            }
            Leg::Pool { pool, side: Side::Sell, lot_raw } => {
                let room: u128 = (crate::market::amm::MAX_RESERVE - pool.reserve_base).saturating_to();
                (room / lot_raw).min(u64::MAX as u128) as u64
            }
        }
    }

    /// Prices `lots` common lots; `None` when the leg cannot fill them completely.
    #[inline]
    pub fn quote(&self, lots: u64) -> Option<LegQuote> {
        match *self {
            Leg::Book { levels, side, mult, quote_per_tick_lot, fee_bps } => {
                let venue_lots = lots.checked_mul(mult)?;
                let w = walk(levels, side, venue_lots, if side == Side::Buy { u64::MAX } else { 0 });
                if w.filled_lots < venue_lots {
                    return None;
                }
                let gross = w.notional * quote_per_tick_lot;
                Some(LegQuote { gross, fee: taker_fee(gross, fee_bps), worst_ticks: w.last_price_ticks })
            }
            Leg::Pool { pool, side, lot_raw } => {
                let base = u128::from(lots).checked_mul(lot_raw)?;
                // Reserves are uint112, so they fit u128; the helpers fall back to U256 on overflow.
                let (rb, rq): (u128, u128) = (pool.reserve_base.saturating_to(), pool.reserve_quote.saturating_to());
                let q = match side {
                    Side::Buy => get_amount_in_u128(base, rq, rb, pool.fee_bps).ok()?,
                    Side::Sell => get_amount_out_u128(base, rb, rq, pool.fee_bps).ok()?,
                };
                Some(LegQuote { gross: q, fee: 0, worst_ticks: 0 })
            }
        }
    }

    /// Quote this leg moves for `lots`, signed from our side: negative when we pay.
    #[inline]
    fn signed(&self, lots: u64) -> Option<i128> {
        let q = self.quote(lots)?;
        Some(match self.side() {
            Side::Buy => -((q.gross + q.fee) as i128),
            Side::Sell => q.gross as i128 - q.fee as i128,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sized {
    pub lots: u64,
    pub buy: LegQuote,
    pub sell: LegQuote,
    /// Sell gross − buy gross.
    pub gross: i128,
    pub fees: i128,
    /// gross − fees (gas is the caller's, constant in size).
    pub net_before_gas: i128,
}

/// Net of both legs before gas at `lots`; `None` if either leg cannot fill.
#[inline]
pub fn net_at(buy: &Leg<'_>, sell: &Leg<'_>, lots: u64) -> Option<i128> {
    Some(sell.signed(lots)? + buy.signed(lots)?)
}

/// The size in [1, `max_lots`] maximising `net_at`, ties to the smaller size. `None` if no size fills.
pub fn optimal_size(buy: &Leg<'_>, sell: &Leg<'_>, max_lots: u64) -> Option<Sized> {
    let hi = max_lots.min(buy.capacity()).min(sell.capacity());
    if hi == 0 {
        return None;
    }
    let (best_q, _) = argmax_nearly_concave(hi, |q| net_at(buy, sell, q).unwrap_or(i128::MIN / 4));
    let b = buy.quote(best_q)?;
    let s = sell.quote(best_q)?;
    let gross = s.gross as i128 - b.gross as i128;
    let fees = (s.fee + b.fee) as i128;
    Some(Sized { lots: best_q, buy: b, sell: s, gross, fees, net_before_gas: gross - fees })
}

/// The argument in [1, `hi`] maximising `f` (ties to the smaller), for an `f` that is within
/// `ROUNDING_SLACK` below a concave function: a ternary search to get close, then an outward scan
/// that stops once `f` has fallen out of rounding reach of the best seen (exact by concavity).
pub fn argmax_nearly_concave(hi: u64, mut f: impl FnMut(u64) -> i128) -> (u64, i128) {
    // Arguments stay within [1, hi], so narrowing back to u64 is lossless.
    let (q, v) = argmax_within(u128::from(hi), ROUNDING_SLACK, u128::from(MAX_SCAN), |q| f(q as u64));
    (q as u64, v)
}

/// As `argmax_nearly_concave` over `u128` arguments (raw token amounts) for an `f` within `slack`
/// below a concave function (more swaps in a row, more rounding), scanning at most `max_scan` steps
/// each way from the ternary search's best.
pub fn argmax_within(hi: u128, slack: i128, max_scan: u128, mut f: impl FnMut(u128) -> i128) -> (u128, i128) {
    let (mut lo, mut up) = (1u128, hi.max(1));
    while up - lo > 8 {
        let m1 = lo + (up - lo) / 3;
        let m2 = up - (up - lo) / 3;
        if f(m1) < f(m2) { lo = m1 + 1 } else { up = m2 }
    }
    let mut best_q = lo;
    let mut best = f(lo);
    for q in lo + 1..=up {
        let v = f(q);
        if v > best {
            best = v;
            best_q = q;
        }
    }
    scan_from(hi, best_q, best, max_scan, slack, f)
}

/// The outward scan alone, from `start` (whose value is `start_value`): the best argument within
/// reach, exact when `f` is within `ROUNDING_SLACK` of a concave function and the scan ends by
/// falling out of reach rather than at `max_scan`.
pub fn argmax_from(
    hi: u64,
    start: u64,
    start_value: i128,
    max_scan: u64,
    mut f: impl FnMut(u64) -> i128,
) -> (u64, i128) {
    let (q, v) =
        scan_from(
            u128::from(hi),
            u128::from(start),
            start_value,
            u128::from(max_scan),
            ROUNDING_SLACK,
            |q| f(q as u64),
        );
    (q as u64, v)
}

fn scan_from(
    hi: u128,
    start: u128,
    start_value: i128,
    max_scan: u128,
    slack: i128,
    mut f: impl FnMut(u128) -> i128,
) -> (u128, i128) {
    let (mut best_q, mut best) = (start, start_value);
    let mut q = start;
    let mut steps = 0;
    while q < hi && steps < max_scan {
        q += 1;
        steps += 1;
        let v = f(q);
        if v > best {
            best = v;
            best_q = q;
        } else if v + slack < best {
            break;
        }
    }
    let mut q = start;
    steps = 0;
    while q > 1 && steps < max_scan {
        q -= 1;
        steps += 1;
        let v = f(q);
        if v >= best {
            best = v;
            best_q = q;
        } else if v + slack < best {
            break;
        }
    }
    (best_q, best)
}

/// Largest size whose buy leg (gross + fee) fits in `budget` quote raw units.
pub fn affordable_lots(buy: &Leg<'_>, budget: u128, hi: u64) -> u64 {
    let (mut lo, mut up) = (0u64, hi.min(buy.capacity()));
    while lo < up {
        let mid = lo + (up - lo).div_ceil(2);
        match buy.quote(mid) {
            Some(q) if q.gross + q.fee <= budget => lo = mid,
            _ => up = mid - 1,
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;
    use proptest::prelude::*;

    fn levels(start: u64, step_ticks: &[u64], lots: &[u64], ascending: bool) -> Vec<Level> {
        let mut p = start;
        let mut v = Vec::new();
        for (i, l) in lots.iter().enumerate() {
            if i > 0 {
                let s = step_ticks[i % step_ticks.len()].max(1);
                p = if ascending { p + s } else { p.saturating_sub(s).max(1) };
            }
            v.push(Level { price_ticks: p, lots: *l });
        }
        v
    }

    fn brute(buy: &Leg<'_>, sell: &Leg<'_>, hi: u64) -> Option<(u64, i128)> {
        let mut best: Option<(u64, i128)> = None;
        for q in 1..=hi {
            if let Some(v) = net_at(buy, sell, q)
                && best.is_none_or(|(_, b)| v > b)
            {
                best = Some((q, v));
            }
        }
        best
    }

    #[test]
    fn crossing_books_size_to_the_kink() {
        // Ask 3000.00 for 10 lots, 3001.00 beyond; bid 3010.00 for 5 lots, 3000.50 beyond. Fees 0.
        let asks = vec![Level { price_ticks: 300_000, lots: 10 }, Level { price_ticks: 300_100, lots: 10 }];
        let bids = vec![Level { price_ticks: 301_000, lots: 5 }, Level { price_ticks: 300_050, lots: 10 }];
        let buy = Leg::Book { levels: &asks, side: Side::Buy, mult: 1, quote_per_tick_lot: 1, fee_bps: 0 };
        let sell = Leg::Book { levels: &bids, side: Side::Sell, mult: 1, quote_per_tick_lot: 1, fee_bps: 0 };
        let s = optimal_size(&buy, &sell, 100).unwrap();
        // 5 lots earn 1000 ticks each; the next 5 earn 50 each; beyond 10 the ask is 3001.00 > 3000.50.
        assert_eq!(s.lots, 10);
        assert_eq!(s.net_before_gas, 5 * 1000 + 5 * 50);
    }

    #[test]
    fn fees_and_slippage_are_netted() {
        let asks = vec![Level { price_ticks: 300_000, lots: 100 }];
        let bids = vec![Level { price_ticks: 300_400, lots: 100 }];
        // 10 bps each side ≈ 600 ticks per lot > 400 ticks of spread: no size pays.
        let buy = Leg::Book { levels: &asks, side: Side::Buy, mult: 1, quote_per_tick_lot: 1, fee_bps: 10 };
        let sell = Leg::Book { levels: &bids, side: Side::Sell, mult: 1, quote_per_tick_lot: 1, fee_bps: 10 };
        let s = optimal_size(&buy, &sell, 100).unwrap();
        assert!(s.net_before_gas < 0);
        assert_eq!(s.lots, 1);
        assert_eq!(s.fees, 300 + 301);
        // Pool leg: selling into the pool has slippage; the optimum is interior.
        let pool = CpPool {
            reserve_base: U256::from(100u128 * 10u128.pow(18)),
            reserve_quote: U256::from(320_000u128 * 10u128.pow(6)),
            fee_bps: 30,
        };
        let asks = vec![Level { price_ticks: 300_000, lots: 1_000_000 }];
        let buy = Leg::Book { levels: &asks, side: Side::Buy, mult: 1, quote_per_tick_lot: 1, fee_bps: 10 };
        let sell = Leg::Pool { pool, side: Side::Sell, lot_raw: 10u128.pow(14) };
        let s = optimal_size(&buy, &sell, 1_000_000).unwrap();
        let (bq, bv) = brute(&buy, &sell, 40_000).unwrap();
        assert_eq!((s.lots, s.net_before_gas), (bq, bv));
        assert!(s.lots > 1 && s.lots < 40_000, "{}", s.lots);
    }

    #[test]
    fn affordable_lots_respects_budget() {
        let asks = vec![Level { price_ticks: 100, lots: 10 }, Level { price_ticks: 200, lots: 10 }];
        let buy = Leg::Book { levels: &asks, side: Side::Buy, mult: 1, quote_per_tick_lot: 1, fee_bps: 0 };
        assert_eq!(affordable_lots(&buy, 1_000, 100), 10);
        assert_eq!(affordable_lots(&buy, 1_399, 100), 11);
        assert_eq!(affordable_lots(&buy, 10_000, 100), 20);
        assert_eq!(affordable_lots(&buy, 0, 100), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The chosen size's profit is at least the profit at every other size (the whole grid).
        #[test]
        fn book_to_book_size_is_optimal(
            ask0 in 299_000u64..301_000, bid0 in 299_000u64..302_000,
            steps in proptest::collection::vec(1u64..40, 1..4),
            ask_lots in proptest::collection::vec(1u64..60, 1..6),
            bid_lots in proptest::collection::vec(1u64..60, 1..6),
            fa in 0u32..15, fb in 0u32..15, cap in 1u64..400,
        ) {
            let asks = levels(ask0, &steps, &ask_lots, true);
            let bids = levels(bid0, &steps, &bid_lots, false);
            let buy = Leg::Book { levels: &asks, side: Side::Buy, mult: 1, quote_per_tick_lot: 1, fee_bps: fa };
            let sell = Leg::Book { levels: &bids, side: Side::Sell, mult: 1, quote_per_tick_lot: 1, fee_bps: fb };
            let hi = cap.min(buy.capacity()).min(sell.capacity());
            let s = optimal_size(&buy, &sell, cap);
            match brute(&buy, &sell, hi) {
                None => prop_assert!(s.is_none()),
                Some((_, best)) => {
                    let s = s.unwrap();
                    prop_assert!(s.lots <= hi);
                    prop_assert_eq!(s.net_before_gas, best);
                }
            }
        }

        #[test]
        fn book_to_pool_size_is_optimal(
            ask0 in 290_000u64..310_000, ask_lots in proptest::collection::vec(1u64..3_000, 1..6),
            steps in proptest::collection::vec(1u64..200, 1..4),
            rb in 1u128..50, price in 2_900u128..3_200, fee in 0u32..15, buy_on_pool in any::<bool>(),
            cap in 1u64..6_000,
        ) {
            let pool = CpPool {
                reserve_base: U256::from(rb * 10u128.pow(18)),
                reserve_quote: U256::from(rb * price * 10u128.pow(6)),
                fee_bps: 30,
            };
            let lot = 10u128.pow(14);
            let (book_levels, book_side) = if buy_on_pool {
                (levels(ask0, &steps, &ask_lots, false), Side::Sell)
            } else {
                (levels(ask0, &steps, &ask_lots, true), Side::Buy)
            };
            let book = Leg::Book { levels: &book_levels, side: book_side, mult: 1, quote_per_tick_lot: 1, fee_bps: fee };
            let amm = Leg::Pool { pool, side: book_side.opposite(), lot_raw: lot };
            let (buy, sell) = if buy_on_pool { (amm, book) } else { (book, amm) };
            let hi = cap.min(buy.capacity()).min(sell.capacity());
            let s = optimal_size(&buy, &sell, cap);
            match brute(&buy, &sell, hi) {
                None => prop_assert!(s.is_none()),
                Some((_, best)) => prop_assert_eq!(s.unwrap().net_before_gas, best),
            }
        }
    }
}
