//! What actually happened: sandwiches of our pools' swaps in a block as it landed, labelled by the
//! standard heuristic (one sender's swaps on the same pair right before and right after a victim,
//! in opposite directions), with the rival's take from its receipts and call traces.

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolEvent;

use crate::chain::contracts::IUniswapV2Pair;
use crate::chain::rpc::{BlockHead, LandedLog, LandedTx, RpcSource};
use crate::mempool::PendingTx;

/// A victim someone else sandwiched in the block as it landed (same pool, one sender's swaps right
/// before and after it, in opposite directions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RivalSandwich {
    pub block: u64,
    pub victim: B256,
    pub pool: usize,
    pub searcher: Address,
    pub front: B256,
    pub back: B256,
    /// The token the front-run paid in, and the rival's gross in it (back-run out − front-run in),
    /// before gas and bribe.
    pub token: Address,
    pub gross_raw: i128,
    /// Gas of its two transactions (priority fees included), and what they sent the block's fee
    /// recipient directly (from call traces; `None` where the node does not trace).
    pub gas_wei: u128,
    pub bribe_wei: Option<u128>,
}

/// One swap on a pair, from the taker's side.
#[derive(Clone, Copy, Debug)]
struct SwapLeg {
    sells_base: bool,
    amount_in: U256,
    amount_out: U256,
}

fn swap_leg(l: &LandedLog, weth_is_token0: bool) -> Option<SwapLeg> {
    if l.topics.first() != Some(&IUniswapV2Pair::Swap::SIGNATURE_HASH) || l.data.len() != 128 {
        return None;
    }
    let word = |i: usize| U256::from_be_slice(&l.data[32 * i..32 * (i + 1)]);
    let (a0in, a1in, a0out, a1out) = (word(0), word(1), word(2), word(3));
    let (base_in, quote_in, base_out, quote_out) =
        if weth_is_token0 { (a0in, a1in, a0out, a1out) } else { (a1in, a0in, a1out, a0out) };
    if !base_in.is_zero() && quote_in.is_zero() {
        Some(SwapLeg { sells_base: true, amount_in: base_in, amount_out: quote_out })
    } else if !quote_in.is_zero() && base_in.is_zero() {
        Some(SwapLeg { sells_base: false, amount_in: quote_in, amount_out: base_out })
    } else {
        None
    }
}

/// The sandwiches in `txs` (a block as it landed, `head` its header) of swaps on `pairs` (our
/// pools' pairs, by pool index), the pairs holding (`weth`, `quote`).
pub fn sandwiches_in(
    txs: &[LandedTx],
    pairs: &[Address],
    (weth, quote): (Address, Address),
    head: &BlockHead,
    rpc: &RpcSource,
) -> Vec<RivalSandwich> {
    let mut found: Vec<RivalSandwich> = Vec::new();
    let swaps: Vec<Vec<(usize, SwapLeg)>> = txs
        .iter()
        .map(|t| {
            t.logs
                .iter()
                .filter_map(|l| {
                    let pool = pairs.iter().position(|p| *p == l.address)?;
                    swap_leg(l, weth < quote).map(|s| (pool, s))
                })
                .collect()
        })
        .collect();
    let sender = |i: usize| PendingTx::from_raw(txs[i].raw.clone()).ok().map(|p| p.from);
    for v in 1..txs.len().saturating_sub(1) {
        for &(pool, leg) in &swaps[v] {
            let before = swaps[v - 1].iter().find(|(p, s)| *p == pool && s.sells_base == leg.sells_base);
            let after = swaps[v + 1].iter().find(|(p, s)| *p == pool && s.sells_base != leg.sells_base);
            let (Some((_, front)), Some((_, back))) = (before, after) else { continue };
            let (Some(a), Some(b)) = (sender(v - 1), sender(v + 1)) else { continue };
            if a != b || sender(v) == Some(a) {
                continue;
            }
            let token = if front.sells_base { weth } else { quote };
            let gross = back.amount_out.saturating_to::<i128>() - front.amount_in.saturating_to::<i128>();
            let gas = [&txs[v - 1], &txs[v + 1]].iter().map(|t| u128::from(t.gas_used) * t.effective_gas_price).sum();
            found.push(RivalSandwich {
                block: head.number,
                victim: txs[v].hash,
                pool,
                searcher: a,
                front: txs[v - 1].hash,
                back: txs[v + 1].hash,
                token,
                gross_raw: gross,
                gas_wei: gas,
                bribe_wei: None,
            });
        }
    }
    // What the rivals paid the block's fee recipient directly, from call traces (one batch).
    let legs: Vec<B256> = found.iter().flat_map(|r| [r.front, r.back]).collect();
    if let Some(paid) = rpc.coinbase_transfers(&legs, head.coinbase) {
        for (r, pair) in found.iter_mut().zip(paid.chunks(2)) {
            r.bribe_wei = Some(pair.iter().map(|w| w.saturating_to::<u128>()).sum());
        }
    }
    found
}
