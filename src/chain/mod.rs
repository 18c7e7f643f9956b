//! The EVM under the simulated market: our Solidity contracts (committed artifacts, `sol!` bindings)
//! executed by revm on an in-memory chain.

pub mod contracts;
pub mod events;
pub mod fork;
pub mod heads;
pub mod keys;
pub mod rpc;
pub mod signing;
pub mod simchain;
pub mod world;
pub mod ws;

pub use events::ChainEvent;
pub use signing::{TxRequest, Wallet};
pub use simchain::{BundleFailure, BundleTx, CallOutcome, ChainError, Receipt, SimChain, StaleCheckpoint};
