//! What a fork run walks, read from the node: the pinned block and the headers after it (linked by
//! parent hash), the transactions offered as pending (each next block's, or the node's pool), and
//! each configured pool's pair.

use alloy_primitives::{Address, B256};
use alloy_sol_types::SolCall;

use super::ForkRunError;
use crate::chain::contracts::IUniswapV2Factory;
use crate::chain::fork::Pin;
use crate::chain::rpc::{BlockHead, LandedTx, RpcSource};
use crate::chain::world::DexVenue as Venue;
use crate::config::{ForkSpec, PairOf, RunSpec};
use crate::core::{NANOS_PER_SEC, next_base_fee};

/// Each configured pool's Router02 and pair: as given, or the factory's `getPair(weth, quote)` at
/// the pin (the factory is zero when the config names the pair).
pub fn venues_of(rpc: &RpcSource, pin: &Pin, fork: &ForkSpec) -> Result<Vec<Venue>, ForkRunError> {
    let mut out = Vec::with_capacity(fork.pools.len());
    for (i, p) in fork.pools.iter().enumerate() {
        let (factory, pair) = match p.pair {
            PairOf::Pair(a) => (Address::ZERO, a),
            PairOf::Factory(f) => {
                let call = IUniswapV2Factory::getPairCall { tokenA: fork.weth, tokenB: fork.quote }.abi_encode();
                let out = rpc.call(pin, f, &call)?;
                let pair = IUniswapV2Factory::getPairCall::abi_decode_returns(&out).unwrap_or_default();
                if pair.is_zero() {
                    return Err(ForkRunError::Config {
                        key: format!("fork.pools[{i}].factory"),
                        message: format!("{f} has no fork.weth/fork.quote pair at block {}", pin.number),
                    });
                }
                (f, pair)
            }
        };
        out.push(Venue { factory, router: p.router, pair });
    }
    Ok(out)
}

/// The first block and the blocks after it, as the spec and the node say.
pub(super) fn walk(rpc: &RpcSource, spec: &RunSpec, fork: &ForkSpec) -> Result<(Pin, Vec<BlockHead>), ForkRunError> {
    let chain_id = rpc.chain_id()?;
    if chain_id != spec.chain_id {
        return Err(ForkRunError::Config {
            key: "network.chain_id".into(),
            message: format!("is {}, but the node serves chain {chain_id}", spec.chain_id),
        });
    }
    let first = match fork.block {
        Some(n) => n,
        None => rpc.latest()?.checked_sub(fork.blocks).ok_or_else(|| ForkRunError::Config {
            key: "fork.blocks".into(),
            message: format!("the node has fewer than {} blocks after genesis", fork.blocks),
        })?,
    };
    let pin = rpc.pin(Some(first), fork.block_hash)?;
    let numbers: Vec<u64> = (first..=first + fork.blocks).collect();
    let heads = rpc.heads(&numbers)?;
    for w in heads.windows(2) {
        if w[1].parent_hash != w[0].hash {
            return Err(ForkRunError::Fork(crate::chain::fork::ForkError::Source {
                method: "eth_getBlockByNumber",
                message: format!(
                    "block {}'s parent is {}, not block {} ({})",
                    w[1].number, w[1].parent_hash, w[0].number, w[0].hash
                ),
            }));
        }
        if w[1].timestamp <= w[0].timestamp {
            return Err(ForkRunError::Fork(crate::chain::fork::ForkError::Source {
                method: "eth_getBlockByNumber",
                message: format!("block {}'s timestamp does not follow its parent's", w[1].number),
            }));
        }
    }
    if heads.first().map(|h| h.hash) != Some(pin.hash) {
        return Err(ForkRunError::Internal("the pinned block changed between two reads"));
    }
    Ok((pin, heads))
}

/// The txpool flow: the node's latest block pinned (a `fork.block` must be it), its pending pool
/// as the next block's transactions, and that block as it would follow (one block time later,
/// its base fee by EIP-1559, the same fee recipient): nothing has landed yet.
pub(super) fn pool(rpc: &RpcSource, spec: &RunSpec, fork: &ForkSpec) -> Result<Blocks, ForkRunError> {
    check_chain(rpc, spec)?;
    over_latest(rpc, spec, fork, rpc.txpool()?)
}

/// The subscribe flow: what the node announces during `window` (then still pending, in arrival
/// order) over its latest block when the window closes, as the txpool flow offers its pool.
pub(super) fn listen(
    rpc: &RpcSource,
    spec: &RunSpec,
    fork: &ForkSpec,
    window: std::time::Duration,
) -> Result<Blocks, ForkRunError> {
    check_chain(rpc, spec)?;
    let hashes = rpc.pending_hashes(window)?;
    let txs = rpc.pending_txs(&hashes)?;
    over_latest(rpc, spec, fork, txs)
}

fn check_chain(rpc: &RpcSource, spec: &RunSpec) -> Result<(), ForkRunError> {
    let chain_id = rpc.chain_id()?;
    if chain_id != spec.chain_id {
        return Err(ForkRunError::Config {
            key: "network.chain_id".into(),
            message: format!("is {}, but the node serves chain {chain_id}", spec.chain_id),
        });
    }
    Ok(())
}

/// The node's latest block pinned (a `fork.block` must be it) with `txs` as its next block's, and
/// that block as it would follow (one block time later, its base fee by EIP-1559, the same fee
/// recipient): nothing has landed yet.
fn over_latest(rpc: &RpcSource, spec: &RunSpec, fork: &ForkSpec, txs: Vec<LandedTx>) -> Result<Blocks, ForkRunError> {
    let latest = rpc.latest()?;
    if let Some(n) = fork.block.filter(|n| *n != latest) {
        return Err(ForkRunError::Config {
            key: "fork.block".into(),
            message: format!("is {n}, but this flow reads the pending pool over the node's latest block, {latest}"),
        });
    }
    let pin = rpc.pin(Some(latest), fork.block_hash)?;
    let head = rpc.heads(&[latest])?[0];
    if head.hash != pin.hash {
        return Err(ForkRunError::Internal("the latest block changed between two reads"));
    }
    let next = BlockHead {
        number: head.number + 1,
        hash: B256::ZERO,
        parent_hash: head.hash,
        timestamp: head.timestamp + (spec.chain.block_time / NANOS_PER_SEC).max(1),
        base_fee: next_base_fee(head.base_fee, head.gas_used, head.gas_limit),
        gas_used: 0,
        gas_limit: head.gas_limit,
        coinbase: head.coinbase,
    };
    Ok(Blocks { pin, heads: vec![head, next], pending: vec![txs] })
}

/// What a run walks: the first pinned block, the headers N…N+K, and the transactions offered as
/// pending for each of N+1…N+K.
pub(super) struct Blocks {
    pub pin: Pin,
    pub heads: Vec<BlockHead>,
    pub pending: Vec<Vec<LandedTx>>,
}
