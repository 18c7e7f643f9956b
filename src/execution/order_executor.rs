//! OrderExecutor: sends both legs of an arbitrage at once under a `max_concurrent_trades` semaphore,
//! settles CEX legs against the venues' live books and DEX legs in blocks, and deals with what went
//! wrong: a rejected, reverted or partially filled leg leaves inventory that is tracked, marked to
//! market and unwound on the best venue.

use crate::core::AtomicPlan;
use crate::core::event::ArbPlan;
use crate::core::strategy::{Inventory, MarketView};
use crate::core::{LegOrder, LegVenue, PoolId, Side, SimTime, VenueId};
use crate::market::amm::CpPool;
use crate::market::dex::{OurTxResult, TxKind};
use crate::market::orderbook::{Fill, taker_fee, walk};

/// The venues the executor trades on, as it needs them: the market it reads (`MarketView`: our
/// feed's books, pools, balances) and what only the venues can do — carry an order there and its
/// report back, fill it against the live book, take a transaction for the next block, simulate an
/// atomic arbitrage on the chain — plus our ledger, which fills and gas move. The simulated market
/// implements it (`sim::market`); live venues will.
pub trait Venues: MarketView {
    /// Sends CEX order `order` to `venue` at `now`; it arrives as `on_order_arrive`. Returns the
    /// one-way latency.
    fn send_order(&mut self, now: SimTime, venue: VenueId, order: u32) -> SimTime;
    /// The venue sends its report of `order` at `now`; it arrives as `on_order_report`.
    fn send_report(&mut self, now: SimTime, venue: VenueId, order: u32);
    /// Fills an immediate-or-cancel order at the venue's live book, no deeper than `limit_ticks`
    /// and within our balance there, and moves that balance.
    fn fill(&mut self, venue: VenueId, side: Side, lots: u64, limit_ticks: u64) -> Fill;
    /// Our transaction, for the next block.
    fn submit_tx(&mut self, pool: PoolId, priority_fee_wei: u128, tx: TxKind);
    /// An atomic arbitrage run on the chain as it is now, rolled back: its quote profit or why it reverts.
    fn simulate_atomic(&mut self, plan: &AtomicPlan) -> Result<u128, String>;
    fn ledger(&mut self) -> &mut Inventory;
    /// Quote raw per whole base, to mark gas and residuals.
    fn fundamental_raw(&self) -> u128;
    fn base_decimals(&self) -> u32;
    /// A pool as it stands after the last block.
    fn pool(&self, pool: PoolId) -> Option<&CpPool>;
}

/// Unwinds tried before a residual is left open (and marked to market until the end of the run).
const MAX_UNWINDS: u8 = 3;
/// How far through the book an unwind may walk: 1 %.
const UNWIND_LIMIT_BPS: u64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeStatus {
    /// Both legs filled completely.
    Filled,
    /// A leg filled partially; the difference was unwound.
    Partial,
    /// A leg failed (rejected, reverted or nothing filled); the other leg was unwound.
    LegFailed,
}

impl TradeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::Filled => "filled",
            TradeStatus::Partial => "partial",
            TradeStatus::LegFailed => "leg_failed",
        }
    }
}

/// One finished trade, in exact raw units. P&L is in quote raw units: `gross` = received − paid +
/// value of any residual at close; `net` = gross − fees − gas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeRecord {
    pub id: u32,
    /// Index of the strategy (in registration order) that decided it.
    pub strategy: u16,
    pub buy_venue: LegVenue,
    pub sell_venue: LegVenue,
    pub decided_at: SimTime,
    pub closed_at: SimTime,
    pub quote_age: SimTime,
    pub planned_base: u128,
    pub base_bought: u128,
    pub base_sold: u128,
    pub quote_paid: u128,
    pub quote_received: u128,
    pub fees: u128,
    pub gas_wei: u128,
    pub gas_quote: u128,
    pub unwinds: u8,
    /// Base still open after unwinding (+ long, − short); valued in `residual_value`.
    pub residual_base: i128,
    pub residual_value: i128,
    pub predicted_gross: i128,
    pub predicted_net: i128,
    pub gross_pnl: i128,
    pub net_pnl: i128,
    pub status: TradeStatus,
    /// One executor transaction for both legs (cross-DEX).
    pub atomic: bool,
    /// Other swaps that touched this trade's pools earlier in the same block.
    pub touched_before: u32,
    pub revert_reason: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecStats {
    pub legs_sent: u64,
    /// Legs that filled nothing: rejected by the venue's recvWindow, reverted on chain, or empty book.
    pub legs_failed: u64,
    pub legs_rejected_timeout: u64,
    pub legs_reverted: u64,
    pub legs_partial: u64,
    pub unwind_orders: u64,
    pub residuals_left_open: u64,
}

#[derive(Clone, Copy, Debug)]
struct Order {
    trade: u32,
    leg: LegOrder,
    /// Arrives after the venue's recvWindow: rejected on arrival.
    too_late: bool,
    filled_base: u128,
    quote: u128,
    fee: u128,
    /// Sent to flatten a residual, not one of the plan's two legs.
    unwind: bool,
    /// An atomic two-pool arbitrage (one executor transaction) rather than a single leg.
    atomic: Option<AtomicPlan>,
}

#[derive(Clone, Debug)]
struct Trade {
    /// Index of the strategy (in registration order) that decided it.
    strategy: u16,
    plan: ArbPlan,
    open_orders: u8,
    base_bought: u128,
    base_sold: u128,
    quote_paid: u128,
    quote_received: u128,
    fees: u128,
    gas_wei: u128,
    gas_quote: u128,
    unwinds: u8,
    failed_leg: bool,
    partial_leg: bool,
    atomic: bool,
    touched_before: u32,
    revert_reason: Option<String>,
}

impl Trade {
    fn new(strategy: u16, plan: ArbPlan, atomic: bool) -> Self {
        Trade {
            strategy,
            plan,
            open_orders: 0,
            base_bought: 0,
            base_sold: 0,
            quote_paid: 0,
            quote_received: 0,
            fees: 0,
            gas_wei: 0,
            gas_quote: 0,
            unwinds: 0,
            failed_leg: false,
            partial_leg: false,
            atomic,
            touched_before: 0,
            revert_reason: None,
        }
    }
}

pub struct OrderExecutor {
    max_permits: usize,
    permits_in_use: usize,
    execution_timeout: SimTime,
    trades: Vec<Trade>,
    orders: Vec<Order>,
    busy_cex: Vec<u32>,
    busy_pool: Vec<u32>,
    pending_txs: u32,
    /// Base we are long (+) or short (−) in trades still open, and in residuals left open.
    open_base: i128,
    pub records: Vec<TradeRecord>,
    pub stats: ExecStats,
    /// Modelled one-way order latencies (ns).
    pub order_latencies: Vec<u64>,
    /// Decision to last leg settled (ns), per trade.
    pub completion_latencies: Vec<u64>,
}

impl OrderExecutor {
    pub fn new(max_concurrent_trades: usize, execution_timeout: SimTime, venues: usize, pools: usize) -> Self {
        OrderExecutor {
            max_permits: max_concurrent_trades,
            permits_in_use: 0,
            execution_timeout,
            trades: Vec::new(),
            orders: Vec::new(),
            busy_cex: vec![0; venues],
            busy_pool: vec![0; pools],
            pending_txs: 0,
            open_base: 0,
            records: Vec::new(),
            stats: ExecStats::default(),
            order_latencies: Vec::new(),
            completion_latencies: Vec::new(),
        }
    }

    pub fn free_permits(&self) -> usize {
        self.max_permits - self.permits_in_use
    }

    pub fn is_busy(&self, v: LegVenue) -> bool {
        match v {
            LegVenue::Cex(c) => self.busy_cex[c.0 as usize] > 0,
            LegVenue::Dex(p) => self.busy_pool[p.0 as usize] > 0,
        }
    }

    pub fn pending_txs(&self) -> u32 {
        self.pending_txs
    }

    pub fn open_base_abs(&self) -> u128 {
        self.open_base.unsigned_abs()
    }

    /// Takes a permit and sends both legs at once. The caller has checked `free_permits() > 0`.
    pub fn execute(&mut self, strategy: u16, plan: ArbPlan, now: SimTime, v: &mut impl Venues) {
        debug_assert!(self.permits_in_use < self.max_permits);
        self.permits_in_use += 1;
        let id = self.trades.len() as u32;
        self.trades.push(Trade::new(strategy, plan, false));
        self.send(id, plan.buy, false, now, v);
        self.send(id, plan.sell, false, now, v);
    }

    fn send(&mut self, trade: u32, leg: LegOrder, unwind: bool, now: SimTime, v: &mut impl Venues) {
        let oid = self.orders.len() as u32;
        let mut order = Order { trade, leg, too_late: false, filled_base: 0, quote: 0, fee: 0, unwind, atomic: None };
        self.trades[trade as usize].open_orders += 1;
        self.stats.legs_sent += 1;
        match leg {
            LegOrder::Cex { venue, .. } => {
                self.busy_cex[venue.0 as usize] += 1;
                let latency = v.send_order(now, venue, oid);
                self.order_latencies.push(latency);
                order.too_late = latency > self.execution_timeout;
            }
            LegOrder::Dex { pool, side, base_raw, quote_limit, priority_fee_wei, gas_limit } => {
                self.busy_pool[pool.0 as usize] += 1;
                self.pending_txs += 1;
                v.submit_tx(
                    pool,
                    priority_fee_wei,
                    TxKind::Ours { order: oid, side, base_raw, quote_limit, gas_limit },
                );
            }
        }
        self.orders.push(order);
    }

    /// Confirms an atomic arbitrage by simulating it on the current chain state, then takes a permit
    /// and submits it for the next block. A plan whose simulation reverts is never sent: the reason
    /// comes back as the error.
    pub fn execute_atomic(&mut self, strategy: u16, plan: AtomicPlan, v: &mut impl Venues) -> Result<(), String> {
        let simulated = v.simulate_atomic(&plan)?;
        if simulated as i128 != plan.predicted_gross {
            return Err(format!("simulated profit {simulated} differs from predicted {}", plan.predicted_gross));
        }
        self.permits_in_use += 1;
        let id = self.trades.len() as u32;
        let buy = LegOrder::Dex {
            pool: plan.buy_pool,
            side: Side::Buy,
            base_raw: plan.base_mid,
            quote_limit: plan.quote_in,
            priority_fee_wei: plan.priority_fee_wei,
            gas_limit: plan.gas_limit,
        };
        let sell = LegOrder::Dex {
            pool: plan.sell_pool,
            side: Side::Sell,
            base_raw: plan.base_mid,
            quote_limit: plan.quote_out,
            priority_fee_wei: plan.priority_fee_wei,
            gas_limit: plan.gas_limit,
        };
        let arb = ArbPlan {
            buy,
            sell,
            base_raw: plan.base_mid,
            predicted_gross: plan.predicted_gross,
            predicted_fees: 0,
            predicted_gas: plan.predicted_gas,
            predicted_net: plan.predicted_net,
            decided_at: plan.decided_at,
            quote_age: 0,
        };
        let mut trade = Trade::new(strategy, arb, true);
        trade.open_orders = 1;
        self.trades.push(trade);
        let oid = self.orders.len() as u32;
        self.orders.push(Order {
            trade: id,
            leg: buy,
            too_late: false,
            filled_base: 0,
            quote: 0,
            fee: 0,
            unwind: false,
            atomic: Some(plan),
        });
        self.stats.legs_sent += 1;
        self.busy_pool[plan.buy_pool.0 as usize] += 1;
        self.busy_pool[plan.sell_pool.0 as usize] += 1;
        self.pending_txs += 1;
        v.submit_tx(plan.buy_pool, plan.priority_fee_wei, TxKind::Atomic { order: oid, plan });
        Ok(())
    }

    fn settle_atomic(
        &mut self,
        oid: u32,
        plan: &AtomicPlan,
        r: &OurTxResult,
        mark: u128,
        now: SimTime,
        v: &mut impl Venues,
    ) {
        self.busy_pool[plan.buy_pool.0 as usize] -= 1;
        self.busy_pool[plan.sell_pool.0 as usize] -= 1;
        self.pending_txs -= 1;
        let gas_wei = u128::from(r.gas_used) * r.effective_gas_price;
        let ledger = v.ledger();
        ledger.wallet_native = ledger.wallet_native.saturating_sub(gas_wei);
        let trade = self.orders[oid as usize].trade;
        let t = &mut self.trades[trade as usize];
        t.open_orders = 0;
        t.gas_wei = gas_wei;
        t.gas_quote = crate::core::wei_to_quote(gas_wei, mark);
        t.touched_before = r.touched_before;
        match r.quote {
            Some(out) => {
                let ledger = v.ledger();
                ledger.wallet_quote = ledger.wallet_quote + out - plan.quote_in;
                t.base_bought = plan.base_mid;
                t.base_sold = plan.base_mid;
                t.quote_paid = plan.quote_in;
                t.quote_received = out;
            }
            None => {
                t.failed_leg = true;
                t.revert_reason = r.revert_reason.clone();
                self.stats.legs_failed += 1;
                self.stats.legs_reverted += 1;
            }
        }
        self.close(trade, 0, now, v);
    }

    /// A CEX order reaches its venue: fill what the live book and our balance allow.
    pub fn on_order_arrive(&mut self, oid: u32, now: SimTime, v: &mut impl Venues) {
        let o = self.orders[oid as usize];
        let LegOrder::Cex { venue, side, lots, limit_ticks } = o.leg else {
            return;
        };
        if !o.too_late {
            let f = v.fill(venue, side, lots, limit_ticks);
            let ord = &mut self.orders[oid as usize];
            ord.filled_base = f.base;
            ord.quote = f.quote;
            ord.fee = f.fee;
        }
        v.send_report(now, venue, oid);
    }

    /// The venue's report reaches us: the leg is settled.
    pub fn on_order_report(&mut self, oid: u32, now: SimTime, v: &mut impl Venues) {
        let o = self.orders[oid as usize];
        if let LegOrder::Cex { venue, .. } = o.leg {
            self.busy_cex[venue.0 as usize] -= 1;
        }
        if o.too_late {
            self.stats.legs_rejected_timeout += 1;
        }
        self.settle(oid, 0, 0, now, v);
    }

    /// Our transactions' outcomes in the block just built.
    pub fn on_block(&mut self, results: &[OurTxResult], now: SimTime, v: &mut impl Venues) {
        let mark = v.fundamental_raw();
        for r in results {
            let oid = r.order;
            if let Some(plan) = self.orders[oid as usize].atomic {
                self.settle_atomic(oid, &plan, r, mark, now, v);
                continue;
            }
            let LegOrder::Dex { pool, side, base_raw, .. } = self.orders[oid as usize].leg else {
                continue;
            };
            self.busy_pool[pool.0 as usize] -= 1;
            self.pending_txs -= 1;
            let gas_wei = u128::from(r.gas_used) * r.effective_gas_price;
            let inv = v.ledger();
            inv.wallet_native = inv.wallet_native.saturating_sub(gas_wei);
            match r.quote {
                Some(q) => {
                    match side {
                        Side::Buy => {
                            inv.wallet_base[0] += base_raw;
                            inv.wallet_quote -= q;
                        }
                        Side::Sell => {
                            inv.wallet_base[0] -= base_raw;
                            inv.wallet_quote += q;
                        }
                    }
                    let ord = &mut self.orders[oid as usize];
                    ord.filled_base = base_raw;
                    ord.quote = q;
                }
                None => self.stats.legs_reverted += 1,
            }
            let gas_quote = crate::core::wei_to_quote(gas_wei, mark);
            self.settle(oid, gas_wei, gas_quote, now, v);
        }
    }

    fn settle(&mut self, oid: u32, gas_wei: u128, gas_quote: u128, now: SimTime, v: &mut impl Venues) {
        let o = self.orders[oid as usize];
        let requested = match o.leg {
            LegOrder::Cex { venue, lots, .. } => u128::from(lots) * v.venues()[venue.0 as usize].lot_base_raw,
            LegOrder::Dex { base_raw, .. } => base_raw,
        };
        let t = &mut self.trades[o.trade as usize];
        t.open_orders -= 1;
        t.gas_wei += gas_wei;
        t.gas_quote += gas_quote;
        t.fees += o.fee;
        match o.leg.side() {
            Side::Buy => {
                t.base_bought += o.filled_base;
                t.quote_paid += o.quote;
                self.open_base += o.filled_base as i128;
            }
            Side::Sell => {
                t.base_sold += o.filled_base;
                t.quote_received += o.quote;
                self.open_base -= o.filled_base as i128;
            }
        }
        if !o.unwind {
            if o.filled_base == 0 {
                t.failed_leg = true;
                self.stats.legs_failed += 1;
            } else if o.filled_base < requested {
                t.partial_leg = true;
                self.stats.legs_partial += 1;
            }
        }
        if t.open_orders > 0 {
            return;
        }
        let residual = t.base_bought as i128 - t.base_sold as i128;
        if residual != 0
            && t.unwinds < MAX_UNWINDS
            && let Some(leg) = unwind_order(&*v, residual)
        {
            t.unwinds += 1;
            self.stats.unwind_orders += 1;
            let trade = o.trade;
            self.send(trade, leg, true, now, v);
            return;
        }
        self.close(o.trade, residual, now, v);
    }

    fn close(&mut self, trade: u32, residual: i128, now: SimTime, v: &impl Venues) {
        let t = &self.trades[trade as usize];
        let residual_value = liquidation_value(v, residual);
        if residual != 0 {
            self.stats.residuals_left_open += 1;
        }
        let gross = t.quote_received as i128 - t.quote_paid as i128 + residual_value;
        let status = if t.failed_leg {
            TradeStatus::LegFailed
        } else if t.partial_leg {
            TradeStatus::Partial
        } else {
            TradeStatus::Filled
        };
        self.completion_latencies.push(now - t.plan.decided_at);
        self.records.push(TradeRecord {
            id: trade,
            strategy: t.strategy,
            buy_venue: t.plan.buy.venue(),
            sell_venue: t.plan.sell.venue(),
            decided_at: t.plan.decided_at,
            closed_at: now,
            quote_age: t.plan.quote_age,
            planned_base: t.plan.base_raw,
            base_bought: t.base_bought,
            base_sold: t.base_sold,
            quote_paid: t.quote_paid,
            quote_received: t.quote_received,
            fees: t.fees,
            gas_wei: t.gas_wei,
            gas_quote: t.gas_quote,
            unwinds: t.unwinds,
            residual_base: residual,
            residual_value,
            predicted_gross: t.plan.predicted_gross,
            predicted_net: t.plan.predicted_net,
            gross_pnl: gross,
            net_pnl: gross - t.fees as i128 - t.gas_quote as i128,
            status,
            atomic: t.atomic,
            touched_before: t.touched_before,
            revert_reason: t.revert_reason.clone(),
        });
        self.permits_in_use -= 1;
    }
}

/// What an open residual is worth if closed now as a taker: a long sold into the best CEX bid side
/// (walking the book, less the taker fee), a short bought back from the best ask side (plus the fee);
/// without CEX books, swapped on the first pool. Conservative on purpose: a residual is not worth its
/// mid. Depth beyond the book is valued at the book's last level.
fn liquidation_value(sim: &impl Venues, residual: i128) -> i128 {
    if residual == 0 {
        return 0;
    }
    let side = if residual > 0 { Side::Sell } else { Side::Buy };
    let amount = residual.unsigned_abs();
    let mut best: Option<i128> = None;
    for (i, spec) in sim.venues().iter().enumerate() {
        let Some(book) = sim.book(VenueId(i as u16)) else { continue };
        let lots = (amount / spec.lot_base_raw) as u64;
        let levels = match side {
            Side::Sell => book.bids(),
            Side::Buy => book.asks(),
        };
        let w = walk(levels, side, lots, if side == Side::Buy { u64::MAX } else { 0 });
        let rest = u128::from(lots - w.filled_lots)
            * u128::from(w.last_price_ticks.max(levels.last().map_or(0, |l| l.price_ticks)));
        let notional = (w.notional + rest) * spec.quote_per_tick_lot;
        let fee = taker_fee(notional, spec.taker_fee_bps);
        let value = match side {
            Side::Sell => notional as i128 - fee as i128,
            Side::Buy => -(notional as i128) - fee as i128,
        };
        if best.is_none_or(|b| value > b) {
            best = Some(value);
        }
    }
    if let Some(v) = best {
        return v;
    }
    match sim.pool(PoolId(0)) {
        Some(p) => match side {
            Side::Sell => p
                .quote_out_for_base_in(alloy_primitives::U256::from(amount))
                .map_or(0, |q| q.saturating_to::<u128>() as i128),
            Side::Buy => p
                .quote_in_for_base_out(alloy_primitives::U256::from(amount))
                .map_or(i128::MIN / 4, |q| -(q.saturating_to::<u128>() as i128)),
        },
        // No venue at all: mark at the fundamental.
        None => residual * sim.fundamental_raw() as i128 / 10i128.pow(sim.base_decimals()),
    }
}

/// The order that flattens `residual` base: on the CEX with the best price (by our feed) that holds
/// the balance, or, without CEX venues, on the first pool at the next block.
fn unwind_order(sim: &impl Venues, residual: i128) -> Option<LegOrder> {
    let side = if residual > 0 { Side::Sell } else { Side::Buy };
    let amount = residual.unsigned_abs();
    let mut best: Option<(u64, VenueId, u64)> = None;
    for (i, spec) in sim.venues().iter().enumerate() {
        let v = VenueId(i as u16);
        let Some(book) = sim.book(v) else { continue };
        if !amount.is_multiple_of(spec.lot_base_raw) {
            continue;
        }
        let lots = (amount / spec.lot_base_raw) as u64;
        let top = match side {
            Side::Sell if sim.inventory().cex_base[i] >= amount => book.best_bid(),
            Side::Buy => book.best_ask(),
            _ => None,
        };
        let Some(top) = top else { continue };
        let better = match (side, best) {
            (_, None) => true,
            (Side::Sell, Some((p, _, _))) => top.price_ticks > p,
            (Side::Buy, Some((p, _, _))) => top.price_ticks < p,
        };
        if better {
            best = Some((top.price_ticks, v, lots));
        }
    }
    if let Some((price, venue, lots)) = best {
        let limit_ticks = match side {
            Side::Sell => price - price * UNWIND_LIMIT_BPS / 10_000,
            Side::Buy => price + price * UNWIND_LIMIT_BPS / 10_000,
        };
        return Some(LegOrder::Cex { venue, side, lots, limit_ticks });
    }
    let pool = PoolId(0);
    let spec = sim.pools().first()?;
    Some(LegOrder::Dex {
        pool,
        side,
        base_raw: amount,
        quote_limit: if side == Side::Sell { 0 } else { sim.inventory().wallet_quote },
        priority_fee_wei: 2_000_000_000,
        gas_limit: spec.swap_gas + spec.swap_gas / 5,
    })
}
