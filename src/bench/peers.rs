//! Peer baselines measured side by side with our paths in the same run.
//!
//! The naive revm loop is what a user writes first: a `CacheDB`, and `transact_commit` per
//! transaction, each a Router02 swap. Ours runs the very same transactions through `SimChain`,
//! which keeps a block's transactions in revm's journal and commits once per block. Both start
//! from the same state, do the same swaps and must use the same gas, so the ratio is the loop's
//! cost alone.

use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::handler::{MainnetContext, MainnetEvm};
use revm::{Context, Database, ExecuteCommitEvm, MainBuilder, MainContext};

use crate::chain::contracts::{ITestERC20, IUniswapV2Router02};
use crate::chain::simchain::Db;

/// Router swaps back and forth on one pool: ours through `SimChain`, the naive loop through
/// `transact_commit` on a copy of the same database.
pub struct RouterSwaps {
    ours: super::EvmBench,
    naive: MainnetEvm<MainnetContext<Db>>,
    router: Address,
    searcher: Address,
    weth: Address,
    usdc: Address,
    naive_nonce: u64,
}

impl RouterSwaps {
    pub fn new() -> Self {
        let mut ours = super::EvmBench::new();
        let (router, searcher) = (ours.dex.venues[0].router, ours.dex.searcher);
        for token in [ours.dex.weth, ours.dex.usdc] {
            let approve = ITestERC20::approveCall { spender: router, value: U256::MAX };
            match ours.chain.call(searcher, token, approve.abi_encode().into(), U256::ZERO) {
                Ok(o) if o.success => {}
                other => panic!("bench approve: {other:?}"),
            }
        }
        ours.chain.end_block();
        let mut cfg = CfgEnv::default();
        cfg.chain_id = ours.chain.chain_id();
        let block = BlockEnv {
            number: U256::from(ours.chain.block_number()),
            timestamp: U256::from(ours.chain.timestamp()),
            gas_limit: crate::core::BLOCK_GAS_LIMIT,
            basefee: ours.chain.base_fee(),
            ..Default::default()
        };
        let db = ours.chain.db().clone();
        let mut naive = Context::mainnet().with_db(db).with_cfg(cfg).with_block(block).build_mainnet();
        let naive_nonce = naive.ctx.journaled_state.database.basic(searcher).ok().flatten().map_or(0, |a| a.nonce);
        let (weth, usdc) = (ours.dex.weth, ours.dex.usdc);
        RouterSwaps { ours, naive, router, searcher, weth, usdc, naive_nonce }
    }

    /// Calldata of swap `i`: even ones sell 1 WETH, odd ones sell 3,000 USDC back.
    fn swap_data(&self, i: usize) -> Bytes {
        let (amount, path) = if i.is_multiple_of(2) {
            (U256::from(10u128.pow(18)), vec![self.weth, self.usdc])
        } else {
            (U256::from(3_000_000_000u64), vec![self.usdc, self.weth])
        };
        IUniswapV2Router02::swapExactTokensForTokensCall {
            amountIn: amount,
            amountOutMin: U256::ZERO,
            path,
            to: self.searcher,
            deadline: U256::MAX,
        }
        .abi_encode()
        .into()
    }

    /// `n` swaps through our chain, committed as one block; the gas they used.
    pub fn ours(&mut self, n: usize) -> u64 {
        let mut gas = 0;
        for i in 0..n {
            let data = self.swap_data(i);
            match self.ours.chain.call_with(self.searcher, self.router, data, U256::ZERO, 300_000, 0) {
                Ok(o) if o.success => gas += o.gas_used,
                other => panic!("our router swap {i}: {other:?}"),
            }
        }
        self.ours.chain.end_block();
        gas
    }

    /// The same `n` swaps, `transact_commit` each; the gas they used.
    pub fn naive(&mut self, n: usize) -> u64 {
        let mut gas = 0;
        for i in 0..n {
            let tx = TxEnv::builder()
                .caller(self.searcher)
                .kind(TxKind::Call(self.router))
                .data(self.swap_data(i))
                .gas_limit(300_000)
                .gas_price(u128::from(self.naive.ctx.block.basefee))
                .nonce(self.naive_nonce)
                .chain_id(Some(self.naive.ctx.cfg.chain_id))
                .build();
            let Ok(tx) = tx else { panic!("naive tx {i}") };
            match self.naive.transact_commit(tx) {
                Ok(r) if r.is_success() => gas += r.tx_gas_used(),
                other => panic!("naive router swap {i}: {other:?}"),
            }
            self.naive_nonce += 1;
        }
        gas
    }
}

impl Default for RouterSwaps {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_loops_do_the_same_swaps_for_the_same_gas() {
        let mut s = RouterSwaps::new();
        let (a, b) = (s.ours(10), s.naive(10));
        assert_eq!(a, b);
        assert!(a / 10 > 50_000, "a router swap costs tens of thousands of gas: {}", a / 10);
        assert_eq!(s.ours(10), s.naive(10), "and again from the state both left");
    }
}
