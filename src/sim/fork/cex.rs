//! Fork mode's CEX side, for the micro-arbitrage strategy: the venues `[market.cex.*]` declares
//! (fees, tick, lot, latencies, our balances there), their books recorded in a CSV
//! (`fork.cex_quotes`). A recorded book is the venue's from its own time on; our feed hears it
//! after the venue's feed latency; our orders reach the venue's book as it then stands after the
//! order latency and take from it (our fills deplete it until the venue's next recorded book
//! replaces it). Nothing is sent to any venue.
//!
//! The recording, one row per level, best level first, the rows of one `unix_ms` and venue
//! forming that venue's book:
//!
//! ```text
//! unix_ms,venue,side,price,size
//! 1700000012000,binance,bid,3099.50,2.5
//! 1700000012000,binance,ask,3100.00,1.0
//! ```
//! Prices in the quote currency (a multiple of the venue's tick), sizes in the base asset (a
//! multiple of its lot).

use std::path::Path;

use alloy_primitives::U256;

use super::ForkRunError;
use crate::config::RunSpec;
use crate::config::resolve::LatencySpec;
use crate::core::amount::parse_decimal;
use crate::core::rng::{SimRng, component_rng};
use crate::core::strategy::{AssetSpec, CexSpec, MarketView};
use crate::core::{AssetId, BookSnapshot, Level, MAX_DEPTH, NANOS_PER_MS, SimTime, VenueId};
use crate::execution::OrderExecutor;
use crate::market::dex::OurTxResult;
use crate::market::latency::LatencyModel;
use crate::market::orderbook::{Fill, IocTerms, fill_ioc};

/// Most rows one recording may hold (a day of 16-level books every second on two venues is ~5.5 M).
const MAX_ROWS: usize = 20_000_000;

/// One recorded book: the venue's from `exchange` on, our feed's from `received` on.
#[derive(Clone, Copy, Debug)]
pub struct RecordedBook {
    pub venue: VenueId,
    pub exchange: SimTime,
    pub received: SimTime,
    pub book: BookSnapshot,
}

pub struct ForkCex {
    pub specs: Vec<CexSpec>,
    pub assets: Vec<AssetSpec>,
    terms: Vec<IocTerms>,
    order_latency: Vec<LatencySpec>,
    rng_orders: Vec<SimRng>,
    /// The recording's books from the pinned block's time to the last walked block's, in time order.
    pub books: Vec<RecordedBook>,
    /// Each venue's book as it stands (what our orders meet), and as our feed last heard it.
    live: Vec<Option<BookSnapshot>>,
    feed: Vec<Option<BookSnapshot>>,
    pub exec: Option<OrderExecutor>,
    /// Our DEX legs' outcomes as simulated on the pinned state, for the block each targets.
    pub legs: Vec<(u64, OurTxResult)>,
    /// The micro-arbitrage strategy's slot, and each DEX leg's bundle at the dry-run sink (order,
    /// index in `would_send`).
    pub slot: u16,
    pub leg_bundles: Vec<(u32, usize)>,
    /// Books our feed took, and those it dropped for arriving after a newer one.
    pub quotes_heard: u64,
    pub quotes_out_of_order: u64,
}

impl ForkCex {
    /// Reads `path`'s books between the pinned block's time `from_s` and the last walked block's
    /// `to_s` (unix seconds): one error naming the file, line and field for anything malformed.
    pub fn load(spec: &RunSpec, path: &Path, from_s: u64, to_s: u64) -> Result<Self, ForkRunError> {
        let err = |message: String| ForkRunError::Config { key: "fork.cex_quotes".into(), message };
        if spec.cex.is_empty() {
            return Err(err("recorded books need their venues: declare them as [market.cex.<name>]".into()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        let at = |line: usize, m: String| err(format!("{} line {line}: {m}", path.display()));
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty());
        match lines.next() {
            Some((_, "unix_ms,venue,side,price,size")) => {}
            Some((n, other)) => {
                return Err(at(n, format!("the header is `unix_ms,venue,side,price,size`, not `{other}`")));
            }
            None => return Err(err(format!("{}: empty", path.display()))),
        }
        let names: Vec<&str> = spec.cex.iter().map(|c| c.name.as_str()).collect();
        let (from_ms, to_ms) = (from_s.saturating_mul(1000), to_s.saturating_mul(1000));
        let mut rng_feed: Vec<SimRng> =
            spec.cex.iter().map(|c| component_rng(spec.seed, &format!("fork/cex/{}/feed", c.name))).collect();
        let mut books: Vec<RecordedBook> = Vec::new();
        let mut seq = vec![0u64; spec.cex.len()];
        // The book being read: (unix_ms, venue, first line).
        let mut open: Option<(u64, usize, usize, BookSnapshot)> = None;
        let mut last_ms = 0u64;
        let mut close = |open: Option<(u64, usize, usize, BookSnapshot)>,
                         books: &mut Vec<RecordedBook>|
         -> Result<(), ForkRunError> {
            let Some((ms, v, line, mut book)) = open else { return Ok(()) };
            if let (Some(b), Some(a)) = (book.best_bid(), book.best_ask())
                && b.price_ticks >= a.price_ticks
            {
                return Err(at(line, format!("{}'s book at {ms} is crossed (bid ≥ ask)", names[v])));
            }
            if ms < from_ms || ms > to_ms {
                return Ok(());
            }
            let exchange = (ms - from_ms) * NANOS_PER_MS;
            seq[v] += 1;
            book.seq = seq[v];
            book.exchange_time = exchange;
            book.received_at = exchange + spec.cex[v].feed_latency.sample(&mut rng_feed[v]);
            books.push(RecordedBook { venue: VenueId(v as u16), exchange, received: book.received_at, book });
            Ok(())
        };
        for (rows, (n, line)) in lines.enumerate() {
            if rows >= MAX_ROWS {
                return Err(at(n, format!("more than {MAX_ROWS} rows")));
            }
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let [ms, venue, side, price, size] = f[..] else {
                return Err(at(n, format!("{} fields, expected 5 (unix_ms,venue,side,price,size)", f.len())));
            };
            let ms: u64 = ms.parse().map_err(|_| at(n, format!("unix_ms `{ms}` is not a whole number")))?;
            if ms < last_ms {
                return Err(at(n, format!("unix_ms {ms} is before the row above ({last_ms}): rows go in time order")));
            }
            last_ms = ms;
            let v = names
                .iter()
                .position(|x| *x == venue)
                .ok_or_else(|| at(n, format!("venue `{venue}` is not one of [market.cex]: {}", names.join(", "))))?;
            let c = &spec.cex[v];
            let raw = |text: &str, decimals: u32, unit: u128, what: &str| -> Result<u64, ForkRunError> {
                let x = parse_decimal(text, decimals).map_err(|e| at(n, format!("{what} `{text}`: {e}")))?;
                let unit = U256::from(unit);
                if x.is_zero() || !(x % unit).is_zero() {
                    return Err(at(
                        n,
                        format!("{what} `{text}` is not a positive multiple of {}'s {what} step", c.name),
                    ));
                }
                u64::try_from(x / unit).map_err(|_| at(n, format!("{what} `{text}` is too large")))
            };
            let level = Level {
                price_ticks: raw(price, spec.quote_decimals, c.tick_quote_raw, "price")?,
                lots: raw(size, spec.base_decimals, c.lot_base_raw, "size")?,
            };
            if open.as_ref().is_none_or(|(m, w, _, _)| (*m, *w) != (ms, v)) {
                close(open.take(), &mut books)?;
                open = Some((ms, v, n, BookSnapshot::empty(VenueId(v as u16))));
            }
            let Some((_, _, _, book)) = open.as_mut() else { continue };
            let (levels, count, bids) = match side {
                "bid" => (&mut book.bids, &mut book.n_bids, true),
                "ask" => (&mut book.asks, &mut book.n_asks, false),
                other => return Err(at(n, format!("side `{other}` is neither `bid` nor `ask`"))),
            };
            let k = usize::from(*count);
            if k == MAX_DEPTH {
                return Err(at(n, format!("more than {MAX_DEPTH} {side} levels in one book")));
            }
            let behind = |above: u64| if bids { level.price_ticks < above } else { level.price_ticks > above };
            if k > 0 && !behind(levels[k - 1].price_ticks) {
                return Err(at(n, format!("{side} `{price}` is not behind the level above it (best first)")));
            }
            levels[k] = level;
            *count += 1;
        }
        close(open, &mut books)?;
        let n = spec.cex.len();
        Ok(ForkCex {
            specs: crate::market::cex::venue_specs(&spec.cex, AssetId(0)),
            assets: vec![AssetSpec { id: AssetId(0), symbol: spec.base_symbol.clone(), decimals: spec.base_decimals }],
            terms: spec.cex.iter().map(crate::market::cex::ioc_terms).collect(),
            order_latency: spec.cex.iter().map(|c| c.latency.clone()).collect(),
            rng_orders: spec
                .cex
                .iter()
                .map(|c| component_rng(spec.seed, &format!("fork/cex/{}/orders", c.name)))
                .collect(),
            books,
            live: vec![None; n],
            feed: vec![None; n],
            exec: Some(OrderExecutor::new(
                spec.micro.max_concurrent_trades,
                spec.micro.execution_timeout,
                n,
                spec.fork.as_ref().map_or(0, |f| f.pools.len()),
            )),
            legs: Vec::new(),
            slot: 0,
            leg_bundles: Vec::new(),
            quotes_heard: 0,
            quotes_out_of_order: 0,
        })
    }

    /// Recorded book `i` becomes its venue's.
    pub fn goes_live(&mut self, i: u32) {
        if let Some(r) = self.books.get(i as usize) {
            self.live[r.venue.0 as usize] = Some(r.book);
        }
    }

    /// Recorded book `i` reaches our feed: its venue, unless a newer book got there first.
    pub fn heard(&mut self, i: u32) -> Option<VenueId> {
        let r = self.books.get(i as usize)?;
        let v = r.venue.0 as usize;
        if self.feed[v].is_some_and(|b| b.seq > r.book.seq) {
            self.quotes_out_of_order += 1;
            return None;
        }
        self.feed[v] = Some(r.book);
        self.quotes_heard += 1;
        Some(r.venue)
    }

    pub fn feed_book(&self, v: VenueId) -> Option<&BookSnapshot> {
        self.feed.get(v.0 as usize)?.as_ref()
    }

    /// One-way latency of an order (or its report) to or from `venue`.
    pub fn order_latency(&mut self, venue: VenueId) -> SimTime {
        let i = venue.0 as usize;
        self.order_latency[i].sample(&mut self.rng_orders[i])
    }

    /// An immediate-or-cancel order at `venue`'s book as it stands, within our `(base, quote)`
    /// balance there; an empty fill before the venue's first recorded book.
    pub fn fill(
        &mut self,
        venue: VenueId,
        held: (&mut u128, &mut u128),
        side: crate::core::Side,
        lots: u64,
        limit_ticks: u64,
    ) -> Fill {
        let i = venue.0 as usize;
        match self.live[i].as_mut() {
            Some(book) => fill_ioc(book, self.terms[i], held, side, lots, limit_ticks),
            None => Fill::default(),
        }
    }

    /// Mid of every book our feed holds, median (quote raw per whole base), to mark gas and residuals.
    pub fn median_mid(&self, base_decimals: u32) -> Option<u128> {
        let mut mids: Vec<u128> = self
            .feed
            .iter()
            .zip(&self.specs)
            .filter_map(|(b, s)| {
                let b = b.as_ref()?;
                let (bid, ask) = (b.best_bid()?, b.best_ask()?);
                let per_tick_whole = U256::from(s.quote_per_tick_lot) * U256::from(10u128.pow(base_decimals))
                    / U256::from(s.lot_base_raw);
                Some(
                    (U256::from(bid.price_ticks + ask.price_ticks) * per_tick_whole / U256::from(2u8))
                        .saturating_to::<u128>(),
                )
            })
            .collect();
        if mids.is_empty() {
            return None;
        }
        mids.sort_unstable();
        Some(mids[mids.len() / 2])
    }
}

/// The forked market as the order executor trades on it: recorded books for the CEX legs, the
/// pinned state for the DEX legs (each our router swap, signed, simulated and kept by the dry-run
/// sink as a one-transaction bundle for the next walked block), our ledger for both.
pub(super) struct ForkVenues<'w, 'a> {
    pub(super) world: &'w mut super::ForkWorld<'a>,
    pub(super) q: &'w mut dyn crate::engine::driver::Schedule<super::ForkEvent>,
    pub(super) risk: &'w mut crate::risk::RiskGate,
    pub(super) out: &'w mut Vec<crate::core::Event>,
    pub(super) now: SimTime,
}

impl MarketView for ForkVenues<'_, '_> {
    fn assets(&self) -> &[AssetSpec] {
        self.world.assets()
    }
    fn quote_decimals(&self) -> u32 {
        self.world.quote_decimals()
    }
    fn venues(&self) -> &[CexSpec] {
        MarketView::venues(&*self.world)
    }
    fn pools(&self) -> &[crate::core::strategy::PoolSpec] {
        self.world.pools()
    }
    fn book(&self, venue: VenueId) -> Option<&BookSnapshot> {
        self.world.book(venue)
    }
    fn reserves(&self, pool: crate::core::PoolId) -> (U256, U256) {
        self.world.reserves(pool)
    }
    fn block(&self) -> crate::core::BlockInfo {
        self.world.block()
    }
    fn inventory(&self) -> &crate::core::strategy::Inventory {
        self.world.inventory()
    }
    fn mark_price(&self, asset: AssetId) -> Option<u128> {
        self.world.mark_price(asset)
    }
}

impl crate::execution::order_executor::Venues for ForkVenues<'_, '_> {
    fn send_order(&mut self, now: SimTime, venue: VenueId, order: u32) -> SimTime {
        let Some(cex) = self.world.cex.as_mut() else { return 0 };
        let latency = cex.order_latency(venue);
        self.q.schedule(now + latency, super::ForkEvent::OrderArrive(order));
        latency
    }
    fn send_report(&mut self, now: SimTime, venue: VenueId, order: u32) {
        let Some(cex) = self.world.cex.as_mut() else { return };
        let back = cex.order_latency(venue);
        self.q.schedule(now + back, super::ForkEvent::OrderReport(order));
    }
    fn fill(&mut self, venue: VenueId, side: crate::core::Side, lots: u64, limit_ticks: u64) -> Fill {
        let (Some(cex), i) = (self.world.cex.as_mut(), venue.0 as usize) else { return Fill::default() };
        let inv = &mut self.world.inventory;
        match (inv.cex_base.get_mut(i), inv.cex_quote.get_mut(i)) {
            (Some(b), Some(q)) => cex.fill(venue, (b, q), side, lots, limit_ticks),
            _ => Fill::default(),
        }
    }
    fn submit_tx(&mut self, pool: crate::core::PoolId, priority_fee_wei: u128, tx: crate::market::dex::TxKind) {
        let crate::market::dex::TxKind::Ours { order, side, base_raw, quote_limit, gas_limit } = tx else { return };
        let leg = super::DexLeg { pool, side, base_raw, quote_limit, gas_limit, priority_fee_wei };
        let (block, result) = self.world.dex_leg(order, leg, self.now, self.risk, self.out);
        if block == 0 {
            self.q.schedule(self.now, super::ForkEvent::LegsDue);
        }
        if let Some(cex) = self.world.cex.as_mut() {
            cex.legs.push((block, result));
        }
    }
    fn simulate_atomic(&mut self, _plan: &crate::core::AtomicPlan) -> Result<u128, String> {
        Err("fork mode sends atomic arbitrages as bundles, not through the order executor".into())
    }
    fn ledger(&mut self) -> &mut crate::core::strategy::Inventory {
        &mut self.world.inventory
    }
    fn fundamental_raw(&self) -> u128 {
        self.world.mark_price(AssetId(0)).unwrap_or(0)
    }
    fn base_decimals(&self) -> u32 {
        self.world.spec.base_decimals
    }
    fn pool(&self, pool: crate::core::PoolId) -> Option<&crate::market::amm::CpPool> {
        self.world.cp_pools.get(pool.0 as usize)
    }
}

impl super::ForkWorld<'_> {
    /// Runs `f` with the order executor and the forked market as its venues (the executor is
    /// lent out meanwhile, so that the venues may borrow the world).
    pub(super) fn with_executor(
        &mut self,
        now: SimTime,
        q: &mut dyn crate::engine::driver::Schedule<super::ForkEvent>,
        risk: &mut crate::risk::RiskGate,
        out: &mut Vec<crate::core::Event>,
        f: impl FnOnce(&mut OrderExecutor, &mut ForkVenues<'_, '_>),
    ) {
        let Some(mut exec) = self.cex.as_mut().and_then(|c| c.exec.take()) else { return };
        f(&mut exec, &mut ForkVenues { world: self, q, risk, out, now });
        if let Some(c) = self.cex.as_mut() {
            c.exec = Some(exec);
        }
    }

    /// The DEX legs for `block` (0: those sent with no walked block left) settle with the
    /// outcomes their simulations gave.
    pub(super) fn settle_legs(
        &mut self,
        block: u64,
        now: SimTime,
        q: &mut dyn crate::engine::driver::Schedule<super::ForkEvent>,
        risk: &mut crate::risk::RiskGate,
        out: &mut Vec<crate::core::Event>,
    ) {
        let Some(c) = self.cex.as_mut() else { return };
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut c.legs).into_iter().partition(|(b, _)| *b == block);
        c.legs = rest;
        if due.is_empty() {
            return;
        }
        let results: Vec<OurTxResult> = due.into_iter().map(|(_, r)| r).collect();
        self.with_executor(now, q, risk, out, |e, v| e.on_block(&results, now, v));
    }

    /// A DEX-CEX arbitrage's gate: its venues free, a permit left, and a DEX leg only while a
    /// walked block is left to take it (the last block's state is its parent's).
    pub(super) fn assess_arbitrage(&self, p: &crate::core::event::ArbPlan) -> crate::engine::driver::Assessment {
        use crate::core::LegOrder;
        let exec = self.cex.as_ref().and_then(|c| c.exec.as_ref());
        let dex = [p.buy, p.sell].into_iter().any(|l| matches!(l, LegOrder::Dex { .. }));
        let gas = |l: &LegOrder| match *l {
            LegOrder::Dex { gas_limit, priority_fee_wei, .. } => {
                u128::from(gas_limit) * (self.next_base_fee() + priority_fee_wei)
            }
            LegOrder::Cex { .. } => 0,
        };
        let refuse = match exec {
            None => Some(crate::core::SkipReason::VenueBusy),
            Some(_) if dex && self.k + 1 >= self.heads.len() => Some(crate::core::SkipReason::StaleQuote),
            Some(e) if e.free_permits() == 0 => Some(crate::core::SkipReason::ConcurrencyLimit),
            Some(e) if e.is_busy(p.buy.venue()) || e.is_busy(p.sell.venue()) => {
                Some(crate::core::SkipReason::VenueBusy)
            }
            Some(_) => None,
        };
        let safety = &self.spec.safety;
        crate::engine::driver::Assessment {
            refuse,
            new_base: p.base_raw,
            open_base: exec.map_or(0, |e| e.open_base_abs()),
            in_flight: exec.map_or(0, |e| e.pending_txs()),
            gas_wei: gas(&p.buy) + gas(&p.sell),
            reduces_risk: false,
            foreign_token: !(safety.allows(&self.spec.quote_symbol)
                && (safety.allows(&self.spec.base_symbol) || safety.allows(&format!("W{}", self.spec.base_symbol)))),
        }
    }

    /// Our router swap for a DEX leg, for the next walked block: signed, simulated on the pinned
    /// state with our flows checked to the wei against the pool's math (exact base in or out, the
    /// quote the pair's formula gives), and kept by the dry-run sink as a one-transaction bundle.
    /// Returns the block it targets (0 when none is left) and its outcome there; a leg whose
    /// simulation fails is never sent and costs no gas.
    pub(super) fn dex_leg(
        &mut self,
        order: u32,
        leg: super::DexLeg,
        now: SimTime,
        risk: &mut crate::risk::RiskGate,
        out: &mut Vec<crate::core::Event>,
    ) -> (u64, OurTxResult) {
        use crate::chain::contracts::IUniswapV2Router02 as Router;
        use crate::core::Side;
        use alloy_sol_types::SolCall;
        let failed = |reason: String| OurTxResult {
            order,
            quote: None,
            gas_used: 0,
            effective_gas_price: 0,
            touched_before: 0,
            revert_reason: Some(reason),
        };
        let Some(next) = self.heads.get(self.k + 1).copied() else {
            return (0, failed("no walked block left to take it: not sent".into()));
        };
        let i = leg.pool.0 as usize;
        let (Some(venue), Some(pool)) = (self.venues.get(i).cloned(), self.cp_pools.get(i).copied()) else {
            return (next.number, failed(format!("no pool {i}")));
        };
        let (weth, quote) = (self.fork.weth, self.fork.quote);
        let (amount, deadline) = (U256::from(leg.base_raw), U256::from(next.timestamp));
        let (data, quote_amount, flows) = match leg.side {
            Side::Sell => {
                let Ok(q) = pool.quote_out_for_base_in(amount) else {
                    return (next.number, failed("the pool cannot take it".into()));
                };
                let call = Router::swapExactTokensForTokensCall {
                    amountIn: amount,
                    amountOutMin: U256::from(leg.quote_limit),
                    path: vec![weth, quote],
                    to: self.me,
                    deadline,
                };
                (call.abi_encode(), q, [(weth, -(leg.base_raw as i128)), (quote, q.saturating_to::<i128>())])
            }
            Side::Buy => {
                let Ok(q) = pool.quote_in_for_base_out(amount) else {
                    return (next.number, failed("the pool cannot give it".into()));
                };
                let call = Router::swapTokensForExactTokensCall {
                    amountOut: amount,
                    amountInMax: U256::from(leg.quote_limit),
                    path: vec![quote, weth],
                    to: self.me,
                    deadline,
                };
                (call.abi_encode(), q, [(weth, leg.base_raw as i128), (quote, -q.saturating_to::<i128>())])
            }
        };
        let base_fee = self.next_base_fee();
        let tip = leg.priority_fee_wei;
        let req = crate::core::BundleRequest {
            tag: u64::from(order),
            target_block: next.number,
            timestamp: next.timestamp,
            txs: vec![crate::core::BundleTx::Ours {
                to: venue.router,
                data: data.into(),
                value: U256::ZERO,
                gas_limit: leg.gas_limit,
                max_fee_per_gas: 2 * base_fee + tip,
                max_priority_fee_per_gas: tip,
            }],
            expected_flows: flows.to_vec(),
            replacement_id: None,
            pools: vec![leg.pool.0],
            gas_wei: u128::from(leg.gas_limit) * (base_fee + tip),
            bribe_wei: 0,
            expected_net_wei: 0,
            decided_at: now,
            contest: None,
            accounts: Vec::new(),
        };
        let slot = self.cex.as_ref().map_or(0, |c| c.slot);
        let before = self.would_send.len();
        let r = self.carry_out(slot, crate::core::Action::Bundle(Box::new(req)), now, risk, out);
        match (r, self.would_send.get(before)) {
            (Ok(()), Some(w)) if self.would_send.len() > before => {
                let gas_used = w.gas_used;
                let price = if gas_used == 0 { 0 } else { w.gas_wei / u128::from(gas_used) };
                let result = OurTxResult {
                    order,
                    quote: Some(quote_amount.saturating_to()),
                    gas_used,
                    effective_gas_price: price,
                    touched_before: 0,
                    revert_reason: None,
                };
                if let Some(c) = self.cex.as_mut() {
                    c.leg_bundles.push((order, before));
                }
                (next.number, result)
            }
            _ => {
                let reason =
                    self.desk.bundle_report(slot, u64::from(order)).map(|x| x.reason.clone()).unwrap_or_default();
                (next.number, failed(format!("simulation failed, not sent: {reason}")))
            }
        }
    }
}
