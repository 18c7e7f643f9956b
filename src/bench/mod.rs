//! Workloads shared by the criterion benches (and a future `xcrack bench`): each builds its inputs
//! once and exposes the measured body as a plain function.

use std::path::Path;

use alloy_primitives::U256;

use crate::config::{self, RunSpec, Sources};
use crate::core::{BookSnapshot, Level, Side, VenueId};

/// The standard engine workload: the shipped calm scenario, shortened to `duration`.
pub fn standard_spec(duration: &str) -> RunSpec {
    let sources = Sources {
        config_file: None,
        scenario: Some((config::DEFAULT_SCENARIO_NAME.to_string(), config::DEFAULT_SCENARIO.to_string())),
        env: Vec::new(),
        cli: vec![("duration".to_string(), duration.to_string())],
    };
    match config::load(&sources, Path::new(".")) {
        Ok(s) => s,
        Err(e) => panic!("embedded scenario must load: {e}"),
    }
}

/// Runs the engine over `spec`; returns events processed.
pub fn engine_run(spec: &RunSpec) -> u64 {
    crate::engine::run(spec, &mut |_| {}).events_processed
}

/// Reserves of a realistic WETH/USDC pool and 64 trade sizes from 0.01 to 30 ETH.
pub fn amm_inputs() -> (U256, U256, Vec<U256>) {
    let rb = U256::from(5_000u128 * 10u128.pow(18));
    let rq = U256::from(15_000_000u128 * 10u128.pow(6));
    let sizes = (0..64u128).map(|i| U256::from(10u128.pow(16) + i * 47 * 10u128.pow(16))).collect();
    (rb, rq, sizes)
}

/// A 12-level book around 3000.00 with 3 ETH (30,000 lots) per level.
pub fn book() -> BookSnapshot {
    let mut b = BookSnapshot::empty(VenueId(0));
    for i in 0..12u64 {
        b.asks[i as usize] = Level { price_ticks: 300_010 + i * 24, lots: 30_000 + i * 1_000 };
        b.bids[i as usize] = Level { price_ticks: 299_990 - i * 24, lots: 30_000 + i * 1_000 };
    }
    b.n_asks = 12;
    b.n_bids = 12;
    b
}

/// Walks the book for a market order of `lots` on `side`.
#[inline]
pub fn walk(book: &BookSnapshot, side: Side, lots: u64) -> crate::market::orderbook::Walk {
    let levels = crate::market::orderbook::taker_levels(book, side);
    crate::market::orderbook::walk(levels, side, lots, if side == Side::Buy { u64::MAX } else { 0 })
}
