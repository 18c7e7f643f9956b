//! Strategies: pure functions of events and market state to actions.

pub mod cross_dex;
pub mod lending_book;
pub mod liquidation;
pub mod liquidation_strategy;
pub mod micro_arbitrage;
pub mod sandwich;
pub mod sandwich_math;
pub mod sandwich_strategy;
pub mod sizing;

pub use cross_dex::CrossDex;
pub use micro_arbitrage::MicroArbitrage;
