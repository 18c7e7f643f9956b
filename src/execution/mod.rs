//! Execution: turning decided actions into orders and transactions, and settling them.

pub mod bundle_manager;
pub mod nonce;
pub mod order_executor;

pub use order_executor::{ExecStats, OrderExecutor, TradeRecord, TradeStatus};
