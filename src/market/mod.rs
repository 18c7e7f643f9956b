//! The simulated market: price processes, CEX order books, AMM math, latency/fee/slippage models, the
//! price feed, and the `ArbitrageSimulator` that owns them for one run.

pub mod amm;
pub mod cex;
pub mod dex;
pub mod feed;
pub mod latency;
pub mod lending;
pub mod oracle;
pub mod orderbook;
pub mod pool_engine;
pub mod price;
pub mod simulator;

pub use simulator::ArbitrageSimulator;
