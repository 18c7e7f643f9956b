//! The mempool side: pending transactions decoded into swaps; the mock victim generator and fixture
//! replay for backtests.

pub mod decode;
pub mod filter;
pub mod generator;

pub use decode::{MIN_SWAP_GAS, PendingTx, SWAP_SELECTORS, SwapCall, SwapLimit, SwapMethod, decode_swap, target_of};
