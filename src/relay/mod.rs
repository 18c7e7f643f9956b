//! Flashbots-compatible relay: the client a searcher uses, and our local relay (HTTP JSON-RPC server
//! plus the simulated builder that puts bundles into blocks).

pub mod auth;
pub mod builder;
pub mod builders;
pub mod client;
pub mod http;
pub mod port;
pub mod rpc;
pub mod server;
pub mod upstream;

pub use builder::{BlockBuild, BundleOutcome, CallRequest, Handled, Relay, RelayStats, RivalBid};
pub use client::{RelayClient, RelayError};
pub use port::{ChainInbox, ChainPort, chain_port};
pub use server::{HttpServer, RelayServer, SharedRelay};
