//! xcrack: a simulation-first MEV searcher. The same strategy code runs in deterministic backtests,
//! fork dry-runs and live; see `README.md` and `../shared/design.md` for the map.

pub mod bench;
pub mod chain;
pub mod cli;
pub mod config;
pub mod core;
pub mod engine;
pub mod execution;
pub mod live;
pub mod market;
pub mod mempool;
pub mod relay;
pub mod report;
pub mod risk;
pub mod sim;
pub mod strategies;
