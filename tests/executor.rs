//! The OrderExecutor on the real simulated venues: a failed leg and a partial leg leave inventory that
//! is unwound, and the trade's P&L equals the balance change to the raw unit.

use xcrack::core::event::ArbPlan;
use xcrack::core::{LegOrder, Level, Side, VenueId};
use xcrack::engine::queue::{EventQueue, SimEvent};
use xcrack::execution::{OrderExecutor, TradeRecord, TradeStatus};
use xcrack::market::ArbitrageSimulator;
use xcrack::sim::market::SimVenues;

const LOT: u128 = 100_000_000_000_000;

fn setup() -> (ArbitrageSimulator, EventQueue, OrderExecutor) {
    let spec = xcrack::bench::standard_spec("1h");
    let mut sim = ArbitrageSimulator::new(&spec).unwrap();
    for v in 0..2u16 {
        let (slot, _) = sim.refresh_book(VenueId(v), 0);
        assert!(sim.quote_arrives(VenueId(v), slot, 1));
    }
    // Generous receive window: this test is about fills, not timeouts.
    let exec = OrderExecutor::new(4, 10_000_000_000, 2, 2);
    (sim, EventQueue::new(), exec)
}

fn plan(buy: LegOrder, sell: LegOrder, base_raw: u128) -> ArbPlan {
    ArbPlan {
        buy,
        sell,
        base_raw,
        predicted_gross: 0,
        predicted_fees: 0,
        predicted_gas: 0,
        predicted_net: 0,
        decided_at: 10,
        quote_age: 0,
    }
}

fn drain(sim: &mut ArbitrageSimulator, q: &mut EventQueue, exec: &mut OrderExecutor) {
    while let Some((now, ev)) = q.pop() {
        match ev {
            SimEvent::OrderArrive(o) => exec.on_order_arrive(o, now, &mut SimVenues { sim, q }),
            SimEvent::OrderReport(o) => exec.on_order_report(o, now, &mut SimVenues { sim, q }),
            other => panic!("unexpected event {other:?}"),
        }
    }
}

fn cex_quote_total(sim: &ArbitrageSimulator) -> i128 {
    sim.inventory.cex_quote.iter().map(|x| *x as i128).sum()
}

fn cex_base_total(sim: &ArbitrageSimulator) -> u128 {
    sim.inventory.cex_base.iter().sum()
}

fn check_balances(r: &TradeRecord, quote_before: i128, base_before: u128, sim: &ArbitrageSimulator) {
    assert_eq!(r.residual_base, 0);
    assert_eq!(r.base_bought, r.base_sold);
    assert_eq!(cex_base_total(sim), base_before, "base flattened");
    // Realised P&L is exactly the quote balance change (no gas on CEX legs).
    assert_eq!(cex_quote_total(sim) - quote_before, r.net_pnl);
    assert_eq!(r.net_pnl, r.gross_pnl - r.fees as i128 - r.gas_quote as i128);
}

#[test]
fn a_leg_that_fills_nothing_is_unwound() {
    let (mut sim, mut q, mut exec) = setup();
    let (quote0, base0) = (cex_quote_total(&sim), cex_base_total(&sim));
    let ask = sim.venues[0].book.best_ask().unwrap().price_ticks;
    let bid = sim.venues[1].book.best_bid().unwrap().price_ticks;
    let buy = LegOrder::Cex { venue: VenueId(0), side: Side::Buy, lots: 10_000, limit_ticks: ask + 100 };
    // A sell limit far above the bid: nothing fills, the ETH just bought must be sold back.
    let sell = LegOrder::Cex { venue: VenueId(1), side: Side::Sell, lots: 10_000, limit_ticks: bid * 2 };
    exec.execute(0, plan(buy, sell, 10_000 * LOT), 10, &mut SimVenues { sim: &mut sim, q: &mut q });
    drain(&mut sim, &mut q, &mut exec);
    assert_eq!(exec.records.len(), 1);
    let r = &exec.records[0];
    assert_eq!(r.status, TradeStatus::LegFailed);
    assert_eq!(r.unwinds, 1);
    assert_eq!(exec.stats.legs_failed, 1);
    assert!(r.net_pnl < 0, "a round trip through the spread and two fees loses money");
    check_balances(r, quote0, base0, &sim);
    assert_eq!(exec.free_permits(), 4);
}

#[test]
fn a_partial_fill_leaves_a_short_that_is_bought_back() {
    let (mut sim, mut q, mut exec) = setup();
    let (quote0, base0) = (cex_quote_total(&sim), cex_base_total(&sim));
    // Thin out venue 0's asks: 3,000 lots at the top, the next level beyond the limit.
    let top = sim.venues[0].book.asks[0].price_ticks;
    sim.venues[0].book.asks[0] = Level { price_ticks: top, lots: 3_000 };
    let buy = LegOrder::Cex { venue: VenueId(0), side: Side::Buy, lots: 10_000, limit_ticks: top };
    let sell = LegOrder::Cex { venue: VenueId(1), side: Side::Sell, lots: 10_000, limit_ticks: 0 };
    exec.execute(0, plan(buy, sell, 10_000 * LOT), 10, &mut SimVenues { sim: &mut sim, q: &mut q });
    drain(&mut sim, &mut q, &mut exec);
    let r = &exec.records[0];
    assert_eq!(r.status, TradeStatus::Partial);
    assert_eq!(exec.stats.legs_partial, 1);
    assert!(r.unwinds >= 1);
    assert_eq!(r.base_sold, 10_000 * LOT);
    check_balances(r, quote0, base0, &sim);
}

#[test]
fn orders_arriving_after_the_receive_window_are_rejected() {
    let (mut sim, mut q, _) = setup();
    let mut exec = OrderExecutor::new(4, 0, 2, 2);
    let (quote0, base0) = (cex_quote_total(&sim), cex_base_total(&sim));
    let buy = LegOrder::Cex { venue: VenueId(0), side: Side::Buy, lots: 10_000, limit_ticks: u64::MAX };
    let sell = LegOrder::Cex { venue: VenueId(1), side: Side::Sell, lots: 10_000, limit_ticks: 0 };
    exec.execute(0, plan(buy, sell, 10_000 * LOT), 10, &mut SimVenues { sim: &mut sim, q: &mut q });
    drain(&mut sim, &mut q, &mut exec);
    let r = &exec.records[0];
    assert_eq!(exec.stats.legs_rejected_timeout, 2);
    assert_eq!((r.base_bought, r.base_sold, r.net_pnl), (0, 0, 0));
    assert_eq!((cex_quote_total(&sim), cex_base_total(&sim)), (quote0, base0));
}

#[test]
fn an_atomic_arbitrage_whose_simulation_reverts_is_never_sent() {
    use xcrack::core::{AtomicPlan, PoolId};
    let text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/cross_dex.toml"))
            .unwrap();
    let sources = xcrack::config::Sources { scenario: Some(("cross_dex.toml".into(), text)), ..Default::default() };
    let spec = xcrack::config::load(&sources, std::path::Path::new("scenarios")).unwrap();
    let mut sim = ArbitrageSimulator::new(&spec).unwrap();
    let mut exec = OrderExecutor::new(4, 1_000_000_000, 0, 2);
    let mut q = EventQueue::new();
    let e18 = 10u128.pow(18);
    // Asks the sell pool for far more USDC than 1 WETH can buy: the pair's K check must revert.
    let plan = AtomicPlan {
        buy_pool: PoolId(0),
        sell_pool: PoolId(1),
        quote_in: 3_100_000_000,
        base_mid: e18 / 1000,
        quote_out: 9_000_000_000,
        min_profit: 1,
        priority_fee_wei: 1_000_000_000,
        gas_limit: 300_000,
        predicted_gross: 5_900_000_000,
        predicted_gas: 0,
        predicted_net: 5_900_000_000,
        decided_at: 0,
    };
    let err = exec.execute_atomic(1, plan, &mut SimVenues { sim: &mut sim, q: &mut q }).unwrap_err();
    assert!(err.contains("UniswapV2: K"), "{err}");
    assert!(sim.chain.mempool.is_empty(), "nothing may be submitted");
    assert_eq!(exec.free_permits(), 4);
    assert_eq!(exec.stats.legs_sent, 0);
}
