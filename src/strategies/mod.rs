//! Strategies: pure functions of events and market state to actions.

pub mod micro_arbitrage;
pub mod sizing;

pub use micro_arbitrage::MicroArbitrage;
