//! Micro-arbitrage: buy where the asset is cheap and sell where it is dear, across CEX books and DEX
//! pools, sized to maximise profit net of both venues' fees, slippage and gas.

use alloy_primitives::U256;

use super::sizing::{Leg, affordable_lots, optimal_size};
use crate::config::MicroArbSpec;
use crate::core::event::ArbPlan;
use crate::core::strategy::{CexSpec, MarketView};
use crate::core::{
    Action, AssetId, Ctx, Event, LegOrder, LegVenue, PoolId, Side, SkipReason, Strategy, StrategyError, StrategyId,
    VenueId,
};
use crate::market::amm::CpPool;

pub const ID: StrategyId = StrategyId("micro_arbitrage");

pub struct MicroArbitrage {
    spec: MicroArbSpec,
    episodes: crate::core::strategy::Episodes,
}

impl MicroArbitrage {
    pub fn new(spec: MicroArbSpec) -> Self {
        MicroArbitrage { spec, episodes: Default::default() }
    }
}

/// A leg's index among the market's venues then pools (for the episode table).
fn leg_index(m: &dyn crate::core::MarketView, v: LegVenue) -> usize {
    match v {
        LegVenue::Cex(c) => c.0 as usize,
        LegVenue::Dex(p) => m.venues().len() + p.0 as usize,
    }
}

impl Strategy for MicroArbitrage {
    fn id(&self) -> StrategyId {
        ID
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Ctx<'_>, out: &mut Vec<Action>) -> Result<(), StrategyError> {
        let m = ctx.market;
        match *event {
            Event::Quote { venue } => {
                let here = LegVenue::Cex(venue);
                for other in (0..m.venues().len() as u16)
                    .map(|v| LegVenue::Cex(VenueId(v)))
                    .chain((0..m.pools().len() as u16).map(|p| LegVenue::Dex(PoolId(p))))
                {
                    if other != here {
                        self.evaluate(here, other, ctx, out);
                        self.evaluate(other, here, ctx, out);
                    }
                }
            }
            Event::Block(_) => {
                for p in 0..m.pools().len() as u16 {
                    for v in 0..m.venues().len() as u16 {
                        self.evaluate(LegVenue::Dex(PoolId(p)), LegVenue::Cex(VenueId(v)), ctx, out);
                        self.evaluate(LegVenue::Cex(VenueId(v)), LegVenue::Dex(PoolId(p)), ctx, out);
                    }
                }
            }
            Event::PendingTx { .. } | Event::BundleResult { .. } | Event::Position { .. } | Event::Timer { .. } => {}
        }
        Ok(())
    }
}

/// A leg as the strategy prices it, with what it needs to turn a size into an order.
struct Priced<'a> {
    leg: Leg<'a>,
    venue: LegVenue,
    /// Per common lot: the effective marginal price at size → 0, as (numerator, denominator) of quote
    /// raw per common lot, for the exact top-of-book cross test.
    top: (U256, U256),
    exchange_time: Option<u64>,
    /// Venue lots per common lot (books) — 1 for pools.
    mult: u64,
}

impl MicroArbitrage {
    fn evaluate(&mut self, buy_at: LegVenue, sell_at: LegVenue, ctx: &mut Ctx<'_>, out: &mut Vec<Action>) {
        let m = ctx.market;
        // DEX↔DEX needs an atomic contract (cross-DEX strategy), not two independent swaps.
        if matches!((buy_at, sell_at), (LegVenue::Dex(_), LegVenue::Dex(_))) {
            return;
        }
        let quoted = common_lot(m, buy_at, sell_at).and_then(|lot_raw| {
            Some((priced(m, buy_at, Side::Buy, lot_raw)?, priced(m, sell_at, Side::Sell, lot_raw)?, lot_raw))
        });
        // Exact test: sell_num/sell_den > buy_num/buy_den, before any sizing work.
        let spread = quoted.as_ref().is_some_and(|(buy, sell, _)| sell.top.0 * buy.top.1 > buy.top.0 * sell.top.1);
        let width = m.venues().len() + m.pools().len();
        if self.episodes.observe(leg_index(m, buy_at), leg_index(m, sell_at), width, spread) {
            ctx.opportunities.episodes += 1;
        }
        let Some((buy, sell, lot_raw)) = quoted.filter(|_| spread) else {
            return;
        };
        ctx.opportunities.seen += 1;
        let skip = |ctx: &mut Ctx<'_>, r: SkipReason| ctx.opportunities.skip(r);

        let oldest = [buy.exchange_time, sell.exchange_time].into_iter().flatten().min();
        let age = oldest.map(|t| ctx.now.saturating_sub(t)).unwrap_or(0);
        if age > self.spec.latency_threshold {
            return skip(ctx, SkipReason::StaleQuote);
        }
        if ctx.free_trade_slots == 0 {
            return skip(ctx, SkipReason::ConcurrencyLimit);
        }
        if (ctx.busy)(buy_at) || (ctx.busy)(sell_at) {
            return skip(ctx, SkipReason::VenueBusy);
        }
        let dex_leg = [buy_at, sell_at].into_iter().find_map(|v| match v {
            LegVenue::Dex(p) => Some(p),
            LegVenue::Cex(_) => None,
        });
        let block = m.block();
        let gas_price = block.base_fee_wei + self.spec.priority_fee_wei;
        let gas_units = dex_leg.map(|p| m.pools()[p.0 as usize].swap_gas).unwrap_or(0);
        let mark = m.mark_price(AssetId(0)).unwrap_or(0);
        let gas_wei = u128::from(gas_units) * gas_price;
        let gas_quote = crate::core::wei_to_quote(gas_wei, mark) as i128;
        // The best a pool leg could ever yield against the book's top price: when even that does not
        // pay for gas, no size will, and the exact (costlier) sizing is skipped.
        if gas_quote > 0 && pool_profit_bound(&buy, &sell, lot_raw).is_some_and(|ub| ub <= gas_quote as f64) {
            return skip(ctx, SkipReason::UnprofitableAfterCosts);
        }
        let inv = m.inventory();
        let sell_base = match sell_at {
            LegVenue::Cex(v) => inv.cex_base[v.0 as usize],
            LegVenue::Dex(_) => inv.wallet_base[0],
        };
        let buy_quote = match buy_at {
            LegVenue::Cex(v) => inv.cex_quote[v.0 as usize],
            LegVenue::Dex(_) => inv.wallet_quote,
        };
        let cap = (self.spec.max_position_base / lot_raw).min(sell_base / lot_raw).min(u64::MAX as u128) as u64;
        let cap = affordable_lots(&buy.leg, buy_quote, cap);
        if cap == 0 {
            return skip(ctx, SkipReason::InsufficientInventory);
        }
        let Some(sized) = optimal_size(&buy.leg, &sell.leg, cap) else {
            return skip(ctx, SkipReason::UnprofitableAfterCosts);
        };
        let net = sized.net_before_gas - gas_quote;
        if net <= 0 {
            return skip(ctx, SkipReason::UnprofitableAfterCosts);
        }
        if (net as u128) < self.spec.min_profit_quote {
            return skip(ctx, SkipReason::BelowMinProfitUsd);
        }
        // net / notional >= pct / 100  ⇔  net × 1e6 >= notional × ppm
        if U256::from(net as u128) * U256::from(1_000_000u64)
            < U256::from(sized.buy.gross) * U256::from(self.spec.min_profit_ppm)
        {
            return skip(ctx, SkipReason::BelowMinProfitPct);
        }
        let base_raw = u128::from(sized.lots) * lot_raw;
        let slip = u128::from(self.spec.dex_slippage_bps);
        let order = |p: &Priced<'_>, side: Side, quote_gross: u128, worst: u64| match p.venue {
            LegVenue::Cex(venue) => LegOrder::Cex { venue, side, lots: sized.lots * p.mult, limit_ticks: worst },
            LegVenue::Dex(pool) => LegOrder::Dex {
                pool,
                side,
                base_raw,
                quote_limit: match side {
                    Side::Sell => quote_gross * (10_000 - slip) / 10_000,
                    Side::Buy => (quote_gross * (10_000 + slip)).div_ceil(10_000),
                },
                priority_fee_wei: self.spec.priority_fee_wei,
                gas_limit: gas_units + gas_units / 5,
            },
        };
        ctx.opportunities.taken += 1;
        out.push(Action::Arbitrage(ArbPlan {
            buy: order(&buy, Side::Buy, sized.buy.gross, sized.buy.worst_ticks),
            sell: order(&sell, Side::Sell, sized.sell.gross, sized.sell.worst_ticks),
            base_raw,
            predicted_gross: sized.gross,
            predicted_fees: sized.fees,
            predicted_gas: gas_quote,
            predicted_net: net,
            decided_at: ctx.now,
            quote_age: age,
        }));
    }
}

/// The trade unit both legs can express: the coarser book lot (if the other divides it), or the book's
/// lot against a pool. `None` when two books' lots are incompatible.
fn common_lot(m: &dyn MarketView, a: LegVenue, b: LegVenue) -> Option<u128> {
    let lot = |v: LegVenue| match v {
        LegVenue::Cex(c) => Some(m.venues()[c.0 as usize].lot_base_raw),
        LegVenue::Dex(_) => None,
    };
    match (lot(a), lot(b)) {
        (Some(x), Some(y)) if x % y == 0 => Some(x),
        (Some(x), Some(y)) if y % x == 0 => Some(y),
        (Some(_), Some(_)) => None,
        (Some(x), None) | (None, Some(x)) => Some(x),
        (None, None) => None,
    }
}

fn priced<'a>(m: &'a dyn MarketView, at: LegVenue, side: Side, lot_raw: u128) -> Option<Priced<'a>> {
    match at {
        LegVenue::Cex(v) => {
            let spec: &CexSpec = &m.venues()[v.0 as usize];
            let book = m.book(v)?;
            let mult = (lot_raw / spec.lot_base_raw) as u64;
            let levels = if side == Side::Buy { book.asks() } else { book.bids() };
            let top = levels.first()?;
            let per_lot = U256::from(top.price_ticks) * U256::from(spec.quote_per_tick_lot) * U256::from(mult);
            let fee = spec.taker_fee_bps;
            // Buying costs price × (1 + fee); selling yields price × (1 − fee).
            let num = per_lot * U256::from(if side == Side::Buy { 10_000 + fee } else { 10_000 - fee });
            Some(Priced {
                leg: Leg::Book { levels, side, mult, quote_per_tick_lot: spec.quote_per_tick_lot, fee_bps: fee },
                venue: at,
                top: (num, U256::from(10_000u32)),
                exchange_time: Some(book.exchange_time),
                mult,
            })
        }
        LegVenue::Dex(p) => {
            let (rb, rq) = m.reserves(p);
            let fee = m.pools()[p.0 as usize].fee_bps;
            let pool = CpPool { reserve_base: rb, reserve_quote: rq, fee_bps: fee };
            let lot = U256::from(lot_raw);
            let g = U256::from(10_000 - fee);
            let w = U256::from(10_000u32);
            // Marginal price per lot: selling γ·Rq/Rb, buying Rq/(γ·Rb).
            let top = match side {
                Side::Sell => (g * rq * lot, w * rb),
                Side::Buy => (w * rq * lot, g * rb),
            };
            Some(Priced { leg: Leg::Pool { pool, side, lot_raw }, venue: at, top, exchange_time: None, mult: 1 })
        }
    }
}

/// Upper bound (quote raw units, with slack for float error) on the profit of trading a pool against
/// a book at the book's top effective price, over every size: walking the book only worsens that
/// price, and integer rounding only worsens the pool's side. `None` unless exactly one leg is a pool.
///
/// Selling x base into the pool against a constant cost p per base:
///   max_x γxRq/(Rb+γx) − px = (√Rq − √(p·Rb/γ))².
/// Buying y base from the pool against a constant price b per base:
///   max b·y − x(y) = b·(√Rb − √(Rq/(b·γ)))².
fn pool_profit_bound(buy: &Priced<'_>, sell: &Priced<'_>, lot_raw: u128) -> Option<f64> {
    let f = |x: U256| f64::from(x);
    let (pool, book_price, pool_sells_to_us) = match (&buy.leg, &sell.leg) {
        (Leg::Book { .. }, Leg::Pool { pool, .. }) => (pool, f(buy.top.0) / f(buy.top.1), false),
        (Leg::Pool { pool, .. }, Leg::Book { .. }) => (pool, f(sell.top.0) / f(sell.top.1), true),
        _ => return None,
    };
    let (rb, rq) = (f(pool.reserve_base), f(pool.reserve_quote));
    let gamma = (10_000 - pool.fee_bps) as f64 / 10_000.0;
    let p = book_price / lot_raw as f64;
    let ub = if pool_sells_to_us {
        let d = (rb.sqrt() - (rq / (p * gamma)).sqrt()).max(0.0);
        p * d * d
    } else {
        let d = (rq.sqrt() - (p * rb / gamma).sqrt()).max(0.0);
        d * d
    };
    Some(ub * (1.0 + 1e-9) + 1e-9 * rq + 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Strategy;
    use crate::core::strategy::{AssetSpec, Inventory, OpportunityStats, PoolSpec};
    use crate::core::{BlockInfo, BookSnapshot, Level};
    use proptest::prelude::*;

    const LOT: u128 = 100_000_000_000_000; // 0.0001 ETH
    const E18: u128 = 1_000_000_000_000_000_000;

    struct Mock {
        assets: Vec<AssetSpec>,
        venues: Vec<CexSpec>,
        pools: Vec<PoolSpec>,
        book: BookSnapshot,
        reserves: (U256, U256),
        block: BlockInfo,
        inv: Inventory,
    }

    impl MarketView for Mock {
        fn assets(&self) -> &[AssetSpec] {
            &self.assets
        }
        fn quote_decimals(&self) -> u32 {
            6
        }
        fn venues(&self) -> &[CexSpec] {
            &self.venues
        }
        fn pools(&self) -> &[PoolSpec] {
            &self.pools
        }
        fn book(&self, _: VenueId) -> Option<&BookSnapshot> {
            Some(&self.book)
        }
        fn reserves(&self, _: PoolId) -> (U256, U256) {
            self.reserves
        }
        fn block(&self) -> BlockInfo {
            self.block
        }
        fn inventory(&self) -> &Inventory {
            &self.inv
        }
        fn mark_price(&self, _: AssetId) -> Option<u128> {
            Some(3_000_000_000) // 3000 USDC
        }
    }

    /// Binance-like book around 3000.00 and a pool at 3030: selling into the pool pays ~0.6 % gross.
    fn market(base_fee_gwei: u128) -> Mock {
        let mut book = BookSnapshot::empty(VenueId(0));
        for i in 0..4u64 {
            book.asks[i as usize] = Level { price_ticks: 300_000 + 50 * i, lots: 20_000 };
            book.bids[i as usize] = Level { price_ticks: 299_990 - 50 * i, lots: 20_000 };
        }
        book.n_asks = 4;
        book.n_bids = 4;
        book.exchange_time = 1_000;
        Mock {
            assets: vec![AssetSpec { id: AssetId(0), symbol: "ETH".into(), decimals: 18 }],
            venues: vec![CexSpec {
                id: VenueId(0),
                name: "binance".into(),
                asset: AssetId(0),
                taker_fee_bps: 10,
                quote_per_tick_lot: 1,
                lot_base_raw: LOT,
            }],
            pools: vec![PoolSpec {
                id: PoolId(0),
                name: "uni".into(),
                asset: AssetId(0),
                fee_bps: 30,
                swap_gas: 120_000,
            }],
            book,
            reserves: (U256::from(1_000 * E18), U256::from(3_030_000_000_000u128)),
            block: BlockInfo { number: 1, timestamp: 0, base_fee_wei: base_fee_gwei * 1_000_000_000 },
            inv: Inventory {
                cex_base: vec![50 * E18],
                cex_quote: vec![1_000_000_000_000],
                wallet_base: vec![50 * E18],
                wallet_quote: 1_000_000_000_000,
                wallet_native: 10 * E18,
            },
        }
    }

    fn spec() -> MicroArbSpec {
        MicroArbSpec {
            enabled: true,
            min_profit_quote: 1_000_000,
            min_profit_ppm: 0,
            max_position_base: 5 * E18,
            max_concurrent_trades: 2,
            execution_timeout: 250_000_000,
            latency_threshold: 150_000_000,
            dex_slippage_bps: 30,
            priority_fee_wei: 2_000_000_000,
        }
    }

    fn decide(m: &Mock, now: u64) -> (Vec<Action>, OpportunityStats) {
        let mut strat = MicroArbitrage::new(spec());
        let mut opp = OpportunityStats::default();
        let busy = |_: LegVenue| false;
        let mut ctx = Ctx {
            now,
            market: m,
            chain: &crate::core::NoChain,
            free_trade_slots: 2,
            busy: &busy,
            opportunities: &mut opp,
        };
        let mut out = Vec::new();
        strat.on_event(&Event::Quote { venue: VenueId(0) }, &mut ctx, &mut out).unwrap();
        (out, opp)
    }

    #[test]
    fn nets_fees_slippage_and_gas_and_sizes_optimally() {
        let m = market(20);
        let (out, opp) = decide(&m, 2_000);
        assert_eq!((opp.seen, opp.taken), (1, 1));
        let Action::Arbitrage(p) = out[0].clone() else { panic!("expected a two-leg arbitrage") };
        // Gas: 120k × (20 + 2) gwei = 0.00264 ETH at 3000 USDC = 7.92 USDC, rounded up to the raw unit.
        assert_eq!(p.predicted_gas, 7_920_000);
        assert_eq!(p.predicted_net, p.predicted_gross - p.predicted_fees - p.predicted_gas);
        // The size is the best over every lot up to the cap (brute force).
        let pool = CpPool { reserve_base: m.reserves.0, reserve_quote: m.reserves.1, fee_bps: 30 };
        let buy = Leg::Book { levels: m.book.asks(), side: Side::Buy, mult: 1, quote_per_tick_lot: 1, fee_bps: 10 };
        let sell = Leg::Pool { pool, side: Side::Sell, lot_raw: LOT };
        let best = (1..=50_000u64).filter_map(|q| super::super::sizing::net_at(&buy, &sell, q)).max().unwrap();
        assert_eq!(p.predicted_net, best - p.predicted_gas);
        let LegOrder::Dex { quote_limit, side: Side::Sell, base_raw, .. } = p.sell else {
            panic!("sell leg is the pool")
        };
        assert_eq!(base_raw, p.base_raw);
        let quoted = pool.quote_out_for_base_in(U256::from(base_raw)).unwrap().to::<u128>();
        assert_eq!(
            quote_limit,
            quoted * (10_000 - 30) / 10_000,
            "amountOutMin is the quote less the slippage tolerance"
        );
        let LegOrder::Cex { side: Side::Buy, lots, limit_ticks, .. } = p.buy else { panic!("buy leg is the book") };
        assert_eq!(u128::from(lots) * LOT, p.base_raw);
        assert!(limit_ticks >= 300_000);
    }

    #[test]
    fn gas_can_make_a_spread_unprofitable() {
        let (out, opp) = decide(&market(20_000), 2_000);
        assert!(out.is_empty());
        assert_eq!(opp.skipped[SkipReason::UnprofitableAfterCosts as usize], 1);
    }

    #[test]
    fn stale_quotes_and_missing_inventory_are_skipped_with_reasons() {
        let m = market(20);
        let (out, opp) = decide(&m, 1_000 + 200_000_000);
        assert!(out.is_empty());
        assert_eq!(opp.skipped[SkipReason::StaleQuote as usize], 1);
        let mut m = market(20);
        m.inv.cex_quote[0] = 0;
        let (out, opp) = decide(&m, 2_000);
        assert!(out.is_empty());
        assert_eq!(opp.skipped[SkipReason::InsufficientInventory as usize], 1);
    }

    proptest! {
        /// The shortcut may only skip what exact sizing would also find unprofitable: the bound is
        /// never below the best exact net over all sizes.
        #[test]
        fn pool_bound_is_an_upper_bound(
            ask in 280_000u64..320_000, lots in 1u64..200_000, fee in 0u32..20,
            rb in 10u128..5_000, price_cents in 280_000u128..320_000, buy_on_pool in any::<bool>(),
        ) {
            let lot = 10u128.pow(14);
            let pool = CpPool { reserve_base: U256::from(rb * 10u128.pow(18)), reserve_quote: U256::from(rb * price_cents * 10u128.pow(4)), fee_bps: 30 };
            let levels = [Level { price_ticks: ask, lots }];
            let side = if buy_on_pool { Side::Sell } else { Side::Buy };
            let top_num = U256::from(ask) * U256::from(if side == Side::Buy { 10_000 + fee } else { 10_000 - fee });
            let book = Priced {
                leg: Leg::Book { levels: &levels, side, mult: 1, quote_per_tick_lot: 1, fee_bps: fee },
                venue: LegVenue::Cex(VenueId(0)),
                top: (top_num, U256::from(10_000u32)),
                exchange_time: None,
                mult: 1,
            };
            let amm = Priced { leg: Leg::Pool { pool, side: side.opposite(), lot_raw: lot }, venue: LegVenue::Dex(PoolId(0)), top: (U256::ZERO, U256::from(1u8)), exchange_time: None, mult: 1 };
            let (buy, sell) = if buy_on_pool { (amm, book) } else { (book, amm) };
            let ub = pool_profit_bound(&buy, &sell, lot).unwrap();
            if let Some(s) = optimal_size(&buy.leg, &sell.leg, lots) {
                prop_assert!(s.net_before_gas as f64 <= ub, "net {} > bound {}", s.net_before_gas, ub);
            }
        }
    }
}
