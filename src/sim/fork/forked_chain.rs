//! A backtest's chain started from real state (`[chain.fork]`): the node or recording it reads,
//! the pinned block, the pools found there and the state every world then reads first, in one
//! place for the sandwich world and the CEX/DEX market.

use alloy_primitives::{Address, U256};

use crate::chain::fork::{ForkDb, ForkError};
use crate::chain::rpc::{BlockHead, RpcSource};
use crate::chain::world::DexVenue;
use crate::config::RunSpec;

#[derive(Debug)]
pub enum ForkedChainError {
    /// The node or the recording failed.
    Fork(ForkError),
    /// The config and the chain disagree (named by key).
    Message(String),
}

impl From<ForkError> for ForkedChainError {
    fn from(e: ForkError) -> Self {
        ForkedChainError::Fork(e)
    }
}

impl std::fmt::Display for ForkedChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForkedChainError::Fork(e) => write!(f, "forked state: {e}"),
            ForkedChainError::Message(m) => f.write_str(m),
        }
    }
}

/// Where `[chain.fork]` reads: its recording (`replay`) or its node (`rpc_url`).
pub fn source(spec: &RunSpec) -> Result<RpcSource, ForkedChainError> {
    let fork = spec.chain.fork.as_ref().ok_or_else(|| ForkedChainError::Message("no [chain.fork]".into()))?;
    match (&fork.replay, &fork.rpc_url) {
        (Some(file), _) => {
            let rec = crate::chain::rpc::Recording::load(file)?;
            Ok(RpcSource::new(std::rc::Rc::new(crate::chain::rpc::Replay::new(&rec))))
        }
        (None, Some(url)) => {
            let endpoint = crate::chain::rpc::Endpoint::parse(url)
                .map_err(|m| ForkedChainError::Message(format!("key `chain.fork.rpc_url`: {m}")))?;
            let retry =
                crate::chain::rpc::Retry { attempts: fork.attempts, timeout: fork.timeout, ..Default::default() };
            Ok(RpcSource::new(endpoint.transport(retry)))
        }
        (None, None) => Err(ForkedChainError::Message("[chain.fork] names no node and no recording".into())),
    }
}

/// Pins `[chain.fork]`'s block on `rpc` (chain id and hash checked), finds its pools, and reads in
/// one batch what a world reads first: the pairs' own slots and the quote token's balance-slot
/// candidates for our wallet. The database, the pinned block's header and the pools.
pub fn pin(spec: &RunSpec, rpc: RpcSource) -> Result<(ForkDb<RpcSource>, BlockHead, Vec<DexVenue>), ForkedChainError> {
    let fork = spec.chain.fork.as_ref().ok_or_else(|| ForkedChainError::Message("no [chain.fork]".into()))?;
    let number = match fork.block {
        Some(n) => n,
        None => rpc.latest()?,
    };
    let pin = rpc.pin(Some(number), fork.block_hash)?;
    if pin.chain_id != spec.chain_id {
        return Err(ForkedChainError::Message(format!(
            "key `network.chain_id`: is {}, but the node [chain.fork] reads serves chain {}",
            spec.chain_id, pin.chain_id
        )));
    }
    let head = rpc.heads(&[number])?[0];
    let venues = super::venues_of(&rpc, &pin, fork).map_err(|e| ForkedChainError::Message(e.to_string()))?;
    let db = ForkDb::new(rpc, pin);
    let me = crate::chain::Wallet::derived(spec.seed, "xcrack/searcher").address();
    let mut hot: Vec<(Address, U256)> =
        (0..=100u64).map(|s| (fork.quote, crate::chain::simchain::mapping_slot(me, s))).collect();
    hot.extend(venues.iter().flat_map(|v| (6..=12u64).map(move |s| (v.pair, U256::from(s)))));
    db.prefetch(&hot)?;
    Ok((db, head, venues))
}
