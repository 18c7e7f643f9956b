//! How a DEX swap is executed: by the exact closed-form math (`math`) or by our Uniswap-V2-compatible
//! contracts in revm (`evm`, router transactions on the SimChain). Both keep a `CpPool` mirror of
//! each pair's reserves that strategies read; with `evm` the mirror is re-read from the pair after
//! every swap, so the chain is the source of truth.

use alloy_primitives::{Address, U256};
use alloy_sol_types::SolCall;

use crate::chain::contracts::{ISearcherExecutor, ITestERC20, IUniswapV2Router02, slots};
use crate::chain::simchain::BundleTx;
use crate::chain::simchain::{actor, mapping_slot};
use crate::chain::world::{DexDeployment, deploy_dex_for};
use crate::chain::{CallOutcome, TxRequest, Wallet};
use crate::chain::{ChainError, SimChain};
use crate::core::AtomicPlan;
use crate::market::amm::{AmmError, CpPool, SwapFailure};

/// One swap on one pool, in the pool's base/quote terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapOp {
    /// Sell exactly `amount` base for at least `min_quote`.
    BaseIn { amount: U256, min_quote: U256 },
    /// Buy exactly `amount` base for at most `max_quote`.
    BaseOut { amount: U256, max_quote: U256 },
    /// Sell exactly `amount` quote for at least `min_base`.
    QuoteIn { amount: U256, min_base: U256 },
}

/// Who sends the swap (each has its own account, nonce and balances on the chain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trader {
    Noise,
    Rival,
    Us,
}

/// What a swap did: the amount on the other side (quote out/in, or base out) and, when executed in
/// the EVM, the gas its transaction used (success or revert).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwapReceipt {
    pub result: Result<U256, SwapFailure>,
    pub gas_used: Option<u64>,
}

pub enum PoolEngine {
    Math,
    Evm(Box<EvmPools>),
}

impl PoolEngine {
    /// Executes one swap. `priority_fee_wei` is what our signed transactions bid; other traders'
    /// fees are settled by the market model.
    pub fn swap(
        &mut self,
        pool: usize,
        mirror: &mut CpPool,
        op: SwapOp,
        who: Trader,
        priority_fee_wei: u128,
    ) -> SwapReceipt {
        match self {
            PoolEngine::Math => SwapReceipt { result: math_swap(mirror, op), gas_used: None },
            PoolEngine::Evm(evm) => evm.swap(pool, mirror, op, who, priority_fee_wei),
        }
    }

    /// Executes (`commit`) or only simulates an atomic two-pool arbitrage. Returns the quote profit
    /// (`quote_out − quote_in`) or why it reverted, and the gas used when run in the EVM.
    pub fn atomic(
        &mut self,
        pools: &mut [CpPool],
        plan: &AtomicPlan,
        commit: bool,
    ) -> (Result<u128, String>, Option<u64>) {
        match self {
            PoolEngine::Math => {
                let (b, s) = (plan.buy_pool.0 as usize, plan.sell_pool.0 as usize);
                let (mut buy, mut sell) = (pools[b], pools[s]);
                let r = buy
                    .pair_swap(U256::ZERO, U256::from(plan.quote_in), U256::from(plan.base_mid), U256::ZERO)
                    .and_then(|_| {
                        sell.pair_swap(U256::from(plan.base_mid), U256::ZERO, U256::ZERO, U256::from(plan.quote_out))
                    })
                    .map_err(|e| e.to_string())
                    .and_then(|_| {
                        let profit = plan.quote_out.saturating_sub(plan.quote_in);
                        if plan.quote_out >= plan.quote_in + plan.min_profit {
                            Ok(profit)
                        } else {
                            Err("EXECUTOR: UNPROFITABLE".to_string())
                        }
                    });
                if r.is_ok() && commit {
                    pools[b] = buy;
                    pools[s] = sell;
                }
                (r, None)
            }
            PoolEngine::Evm(evm) => evm.atomic(pools, plan, commit),
        }
    }

    /// Gas the EVM's transactions used in the current block (`None` with the math engine), and the
    /// block's state committed.
    pub fn end_block(&mut self) -> Option<u64> {
        match self {
            PoolEngine::Math => None,
            PoolEngine::Evm(evm) => {
                evm.chain.end_block();
                Some(evm.chain.block_gas_used())
            }
        }
    }

    /// Every pool's mirror re-read from its pair (after others traded on the chain).
    pub fn resync(&mut self, pools: &mut [crate::market::dex::DexPool]) {
        if let PoolEngine::Evm(evm) = self {
            for (i, p) in pools.iter_mut().enumerate() {
                evm.refresh_mirror(i, &mut p.pool);
            }
        }
    }

    /// The contracts and the chain they run on, when the pools are in the EVM.
    pub fn evm(&self) -> Option<&EvmPools> {
        match self {
            PoolEngine::Evm(evm) => Some(evm),
            PoolEngine::Math => None,
        }
    }

    pub fn evm_mut(&mut self) -> Option<&mut EvmPools> {
        match self {
            PoolEngine::Evm(evm) => Some(evm),
            PoolEngine::Math => None,
        }
    }

    pub fn start_block(&mut self, timestamp_s: u64, base_fee_wei: u128) {
        if let PoolEngine::Evm(evm) = self {
            evm.chain.advance_block(
                timestamp_s,
                base_fee_wei.min(u128::from(u64::MAX)) as u64,
                actor("xcrack/builder"),
            );
        }
    }
}

pub fn math_swap(pool: &mut CpPool, op: SwapOp) -> Result<U256, SwapFailure> {
    match op {
        SwapOp::BaseIn { amount, min_quote } => pool.swap_base_in(amount, min_quote),
        SwapOp::BaseOut { amount, max_quote } => pool.swap_base_out(amount, max_quote),
        SwapOp::QuoteIn { amount, min_base } => pool.swap_quote_in(amount, min_base),
    }
}

/// The pools as contracts: one factory + router + WETH/USDC pair per venue on a SimChain.
pub struct EvmPools {
    pub chain: SimChain,
    pub dex: DexDeployment,
    traders: [Address; 3],
    /// Our signing wallet: owns the executor; our swaps and arbitrages are signed transactions.
    wallet: Wallet,
}

/// Balance each simulated market participant (noise traders, rivals) starts with, in each token:
/// they stand for the rest of the market, far deeper than any scenario trades.
const TRADER_FUNDS: u128 = 1 << 100;

/// Our wallet at genesis, exactly as the scenario's `[account]` says: wrapped base, quote, and the
/// native coin that pays gas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalletFunding {
    pub base: u128,
    pub quote: u128,
    pub native: u128,
}

impl EvmPools {
    /// Genesis: contracts deployed, pairs seeded with `reserves` (base = WETH, quote), the market's
    /// traders funded, our wallet holding exactly `funding` (its WETH wrapped by a real deposit, its
    /// quote minted), everyone approving every router and our wallet approving its executor.
    pub fn new(
        chain_id: u64,
        seed: u64,
        quote_decimals: u32,
        reserves: &[(U256, U256)],
        funding: WalletFunding,
    ) -> Result<Self, ChainError> {
        let mut chain = SimChain::new(chain_id);
        let wallet = Wallet::derived(seed, "xcrack/searcher");
        let dex = deploy_dex_for(&mut chain, quote_decimals as u8, reserves, wallet.address())?;
        let us = wallet.address();
        dex.fund_exactly(&mut chain, us, [funding.base, funding.quote, funding.native])?;
        let traders = [actor("xcrack/noise-traders"), actor("xcrack/rivals"), us];
        for t in traders {
            if t != us {
                chain.set_balance(t, U256::from(TRADER_FUNDS));
                chain.set_storage(dex.weth, mapping_slot(t, slots::WETH_BALANCES), U256::from(TRADER_FUNDS));
                chain.set_storage(dex.usdc, mapping_slot(t, slots::ERC20_BALANCES), U256::from(TRADER_FUNDS));
            }
            let pairs: Vec<(Address, Address)> = dex
                .venues
                .iter()
                .map(|v| v.router)
                .chain((t == us).then_some(dex.executor))
                .flat_map(|spender| [(dex.weth, spender), (dex.usdc, spender)])
                .collect();
            dex.approve(&mut chain, t, &pairs)?;
        }
        Ok(EvmPools { chain, dex, traders, wallet })
    }

    /// Pools already on a chain started from real state (`[chain.fork]`, pinned in `db`): the
    /// chain continues from the pinned block (`timestamp` its time) with the pools, tokens and
    /// routers the chain has (`venues`); our executor is deployed there and our wallet holds
    /// exactly `funding` (WETH by a real deposit, the quote token credited in its balance mapping);
    /// the noise traders and rivals are funded deep the same way; everyone approves the routers.
    pub fn forked(
        spec: &crate::config::RunSpec,
        db: crate::chain::fork::ForkDb<crate::chain::rpc::RpcSource>,
        timestamp: u64,
        venues: Vec<crate::chain::world::DexVenue>,
        funding: WalletFunding,
    ) -> Result<Self, ChainError> {
        let fork = spec.chain.fork.as_ref().ok_or_else(|| ChainError::Fork("no [chain.fork]".into()))?;
        let pin = db.pin();
        let mut chain = SimChain::over(crate::chain::fork::Below::Fork(Box::new(db)), spec.chain_id);
        chain.set_spec(crate::chain::simchain::spec_for(spec.chain_id, pin.number + 1, timestamp));
        chain.start_block(pin.number + 1, timestamp, 0, actor("xcrack/builder"));
        let wallet = Wallet::derived(spec.seed, "xcrack/searcher");
        let us = wallet.address();
        // Gas for the executor's deployment, taken back before our wallet is funded exactly.
        chain.set_balance(us, U256::from(10u128.pow(22)));
        let dex = DexDeployment::existing(&mut chain, (fork.weth, fork.quote), venues, fork.quote_balance_slot, us)?;
        chain.set_balance(us, U256::ZERO);
        dex.fund_exactly(&mut chain, us, [funding.base, funding.quote, funding.native])?;
        let traders = [actor("xcrack/noise-traders"), actor("xcrack/rivals"), us];
        for t in &traders[..2] {
            dex.fund_deep(&mut chain, *t)?;
        }
        let ours: Vec<(Address, Address)> = dex
            .venues
            .iter()
            .map(|v| v.router)
            .chain(std::iter::once(dex.executor))
            .flat_map(|spender| [(dex.weth, spender), (dex.usdc, spender)])
            .collect();
        dex.approve(&mut chain, us, &ours)?;
        chain.end_block();
        if let Some(e) = crate::chain::fork::ReadFailure::read_failure(&chain.db_ref().db) {
            return Err(ChainError::Fork(format!("reading the forked state: {e}")));
        }
        Ok(EvmPools { chain, dex, traders, wallet })
    }

    /// The first failed read of the forked state, if any (the run then fails).
    pub fn read_failure(&self) -> Option<String> {
        crate::chain::fork::ReadFailure::read_failure(&self.chain.db_ref().db)
    }

    /// The fork's reads so far, when the chain was started from one.
    pub fn fork_reads(&self) -> Option<crate::chain::fork::FetchStats> {
        self.chain.db_ref().db.fork().map(|f| f.stats())
    }

    /// Our signing wallet's address.
    pub fn address(&self) -> Address {
        self.wallet.address()
    }

    /// Our wallet's balances on the chain: (WETH, quote token, native coin), read through the tokens'
    /// own `balanceOf`.
    pub fn wallet_balances(&mut self) -> Result<(U256, U256, U256), ChainError> {
        let us = self.wallet.address();
        let mut token = |t: Address| -> Result<U256, ChainError> {
            let o = self.chain.view(us, t, ITestERC20::balanceOfCall { owner: us }.abi_encode().into())?;
            Ok(U256::from_be_slice(o.output.get(..32).unwrap_or_default()))
        };
        let (weth, usdc) = (token(self.dex.weth)?, token(self.dex.usdc)?);
        Ok((weth, usdc, self.chain.balance(us)))
    }

    /// Signs `data` to `to` from our wallet (nonce read from the chain) and applies it.
    fn send_signed(
        &mut self,
        to: Address,
        data: Vec<u8>,
        gas_limit: u64,
        priority_fee_wei: u128,
    ) -> Result<CallOutcome, ChainError> {
        self.wallet.nonce = self.chain.nonce(self.wallet.address());
        let req = TxRequest {
            chain_id: self.chain.chain_id(),
            to,
            data: data.into(),
            value: U256::ZERO,
            gas_limit,
            max_fee_per_gas: 2 * u128::from(self.chain.base_fee()) + priority_fee_wei,
            max_priority_fee_per_gas: priority_fee_wei,
        };
        let (raw, _) = self.wallet.sign(&req).map_err(|e| ChainError::Invalid {
            from: self.wallet.address(),
            to: Some(to),
            message: e.to_string(),
        })?;
        let r = self.chain.apply_raw(&raw)?;
        Ok(CallOutcome {
            success: r.success,
            gas_used: r.gas_used,
            output: r.output,
            logs: r.logs,
            revert_reason: r.revert_reason,
        })
    }

    fn swap(
        &mut self,
        pool: usize,
        mirror: &mut CpPool,
        op: SwapOp,
        who: Trader,
        priority_fee_wei: u128,
    ) -> SwapReceipt {
        let from = self.traders[who as usize];
        let (weth, usdc) = (self.dex.weth, self.dex.usdc);
        let deadline = U256::MAX;
        let exact_in = |amount: U256, min_out: U256, path: Vec<Address>| {
            IUniswapV2Router02::swapExactTokensForTokensCall {
                amountIn: amount,
                amountOutMin: min_out,
                path,
                to: from,
                deadline,
            }
            .abi_encode()
        };
        // `pick_last`: the amount we want back is the path's output (exact in) or its input (exact out).
        let (data, pick_last): (Vec<u8>, bool) = match op {
            SwapOp::BaseIn { amount, min_quote } => (exact_in(amount, min_quote, vec![weth, usdc]), true),
            SwapOp::QuoteIn { amount, min_base } => (exact_in(amount, min_base, vec![usdc, weth]), true),
            SwapOp::BaseOut { amount, max_quote } => (
                IUniswapV2Router02::swapTokensForExactTokensCall {
                    amountOut: amount,
                    amountInMax: max_quote,
                    path: vec![usdc, weth],
                    to: from,
                    deadline,
                }
                .abi_encode(),
                false,
            ),
        };
        let router = self.dex.venues[pool].router;
        let sent = match who {
            Trader::Us => self.send_signed(router, data, 500_000, priority_fee_wei),
            Trader::Noise | Trader::Rival => self.chain.call_with(from, router, data.into(), U256::ZERO, 500_000, 0),
        };
        let outcome = match sent {
            Ok(o) => o,
            Err(e) => {
                // Never executed (e.g. our wallet cannot cover the gas limit at this base fee): a
                // failed swap that used no gas, as the chain saw it.
                tracing::warn!(target: "xcrack::market::evm", error = %e, "swap transaction invalid, not executed");
                return SwapReceipt {
                    result: Err(SwapFailure::Math(AmmError::InsufficientLiquidity)),
                    gas_used: Some(0),
                };
            }
        };
        let result = if outcome.success {
            match IUniswapV2Router02::swapExactTokensForTokensCall::abi_decode_returns(&outcome.output) {
                Ok(amounts) if amounts.len() == 2 => Ok(if pick_last { amounts[1] } else { amounts[0] }),
                _ => Err(SwapFailure::Math(AmmError::InsufficientLiquidity)),
            }
        } else {
            Err(classify(outcome.revert_reason.as_deref().unwrap_or("")))
        };
        self.refresh_mirror(pool, mirror);
        SwapReceipt { result, gas_used: Some(outcome.gas_used) }
    }

    /// The executor transaction for `plan` on this deployment's pairs (`atomic_call`).
    pub fn atomic_calldata(&self, plan: &AtomicPlan) -> Vec<u8> {
        let (buy, sell) =
            (self.dex.venues[plan.buy_pool.0 as usize].pair, self.dex.venues[plan.sell_pool.0 as usize].pair);
        atomic_call((self.dex.weth, self.dex.usdc), (buy, sell), self.wallet.address(), plan)
    }

    fn atomic(&mut self, pools: &mut [CpPool], plan: &AtomicPlan, commit: bool) -> (Result<u128, String>, Option<u64>) {
        let tx = BundleTx {
            from: self.wallet.address(),
            to: self.dex.executor,
            data: self.atomic_calldata(plan).into(),
            value: U256::ZERO,
            gas_limit: plan.gas_limit,
            priority_fee: plan.priority_fee_wei,
        };
        let outcome = if commit {
            self.send_signed(tx.to, tx.data.to_vec(), tx.gas_limit, tx.priority_fee)
        } else {
            self.chain.simulate_bundle(std::slice::from_ref(&tx)).map(|mut v| v.remove(0))
        };
        let o = match outcome {
            Ok(o) => o,
            // Not executed at all: no gas spent on the chain.
            Err(e) => return (Err(e.to_string()), Some(0)),
        };
        if commit {
            for p in [plan.buy_pool.0 as usize, plan.sell_pool.0 as usize] {
                self.refresh_mirror(p, &mut pools[p]);
            }
        }
        let r = if o.success {
            Ok(plan.quote_out.saturating_sub(plan.quote_in))
        } else {
            Err(o.revert_reason.unwrap_or_default())
        };
        (r, Some(o.gas_used))
    }

    /// Re-reads the pair's reserves into the mirror.
    pub fn refresh_mirror(&mut self, pool: usize, mirror: &mut CpPool) {
        let (base, quote) = self.dex.reserves(&self.chain, pool);
        mirror.reserve_base = base;
        mirror.reserve_quote = quote;
    }
}

/// The router's and pair's revert reasons, in the math's terms.
fn classify(reason: &str) -> SwapFailure {
    if reason.starts_with("UniswapV2Router:") {
        SwapFailure::Slippage
    } else if reason == "UniswapV2: K" {
        SwapFailure::K
    } else if reason.contains("OVERFLOW") {
        SwapFailure::Math(AmmError::Overflow)
    } else if reason.contains("INSUFFICIENT_OUTPUT_AMOUNT") {
        SwapFailure::Math(AmmError::InsufficientOutputAmount)
    } else if reason.contains("INSUFFICIENT_INPUT_AMOUNT") {
        SwapFailure::Math(AmmError::InsufficientInputAmount)
    } else {
        SwapFailure::Math(AmmError::InsufficientLiquidity)
    }
}

/// The executor transaction for `plan` between pairs `(buy, sell)` of `(weth, quote)`: hop 1 pays
/// our quote into the buy pair and sends the base straight to the sell pair; hop 2 sends the quote
/// back to `owner` (the executor's owner, whose balance must grow by `min_profit`).
pub fn atomic_call(
    (weth, quote): (alloy_primitives::Address, alloy_primitives::Address),
    (buy, sell): (alloy_primitives::Address, alloy_primitives::Address),
    owner: alloy_primitives::Address,
    plan: &AtomicPlan,
) -> Vec<u8> {
    let w0 = weth < quote;
    let (mid, out) = (U256::from(plan.base_mid), U256::from(plan.quote_out));
    let weth_out = if w0 { (mid, U256::ZERO) } else { (U256::ZERO, mid) };
    let usdc_out = if w0 { (U256::ZERO, out) } else { (out, U256::ZERO) };
    let hops = vec![
        ISearcherExecutor::Hop {
            pair: buy,
            tokenIn: quote,
            amountIn: U256::from(plan.quote_in),
            amount0Out: weth_out.0,
            amount1Out: weth_out.1,
            to: sell,
        },
        ISearcherExecutor::Hop {
            pair: sell,
            tokenIn: weth,
            amountIn: U256::ZERO,
            amount0Out: usdc_out.0,
            amount1Out: usdc_out.1,
            to: owner,
        },
    ];
    ISearcherExecutor::executeCall {
        hops,
        profitToken: quote,
        minProfit: U256::from(plan.min_profit),
        coinbasePayment: U256::ZERO,
    }
    .abi_encode()
}
