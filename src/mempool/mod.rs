//! The mempool side: pending transactions decoded into swaps; the mock victim generator and fixture
//! replay for backtests.

pub mod decode;
pub mod filter;
pub mod generator;

pub use decode::{PendingTx, SwapCall, SwapLimit, SwapMethod, decode_swap, target_of};
