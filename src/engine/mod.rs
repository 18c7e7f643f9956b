//! The engine: event queue and simulated clock, the strategy manager, and the backtest driver.
//! A live driver will feed the same strategies from tokio sources through the same `StrategyManager`.

pub mod all;
pub mod backtest;
pub mod driver;
pub mod fork;
pub mod journal;
pub mod lending_history;
pub mod lending_rival;
pub mod lending_world;
pub mod liquidation;
pub mod manager;
pub mod queue;
pub mod sandwich;

pub use backtest::{BacktestResult, EquityPoint, run};
