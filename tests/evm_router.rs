//! Victim-style Router02 calls on the SimChain: each method moves the expected amounts (computed by
//! our Rust math from the pair's reserves), emits Swap and Sync, and reverts with the router's own
//! message when amountOutMin / amountInMax / deadline are violated, leaving state untouched.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, SolEvent, SolValue};

use xcrack::chain::contracts::{ITestERC20, IUniswapV2Pair, IUniswapV2Router02, IWETH9};
use xcrack::chain::simchain::actor;
use xcrack::chain::world::{DexDeployment, deploy_dex};
use xcrack::chain::{CallOutcome, SimChain};
use xcrack::market::amm::{get_amount_in, get_amount_out};

const E18: u128 = 1_000_000_000_000_000_000;
const E6: u128 = 1_000_000;

struct T {
    chain: SimChain,
    d: DexDeployment,
    victim: Address,
}

fn setup() -> T {
    let mut chain = SimChain::new(1);
    let d = deploy_dex(&mut chain, 6, &[(U256::from(1_000 * E18), U256::from(3_000_000 * E6))]).unwrap();
    let victim = actor("victim");
    chain.set_balance(victim, U256::from(100 * E18));
    let mint = ITestERC20::mintCall { to: victim, value: U256::from(1_000_000 * E6) }.abi_encode();
    assert!(chain.call(d.deployer, d.usdc, mint.into(), U256::ZERO).unwrap().success);
    let wrap = IWETH9::depositCall {}.abi_encode();
    assert!(chain.call(victim, d.weth, wrap.into(), U256::from(50 * E18)).unwrap().success);
    for token in [d.weth, d.usdc] {
        let approve = ITestERC20::approveCall { spender: d.venues[0].router, value: U256::MAX }.abi_encode();
        assert!(chain.call(victim, token, approve.into(), U256::ZERO).unwrap().success);
    }
    T { chain, d, victim }
}

impl T {
    fn token_balance(&mut self, token: Address, who: Address) -> U256 {
        let o = self.chain.view(who, token, ITestERC20::balanceOfCall { owner: who }.abi_encode().into()).unwrap();
        U256::abi_decode(&o.output).unwrap()
    }
    /// (WETH reserve, USDC reserve)
    fn reserves(&mut self) -> (U256, U256) {
        let pair = self.d.venues[0].pair;
        let o = self.chain.view(self.victim, pair, IUniswapV2Pair::getReservesCall {}.abi_encode().into()).unwrap();
        let r = IUniswapV2Pair::getReservesCall::abi_decode_returns(&o.output).unwrap();
        let (r0, r1) = (U256::from(r.reserve0), U256::from(r.reserve1));
        if self.d.weth_is_token0() { (r0, r1) } else { (r1, r0) }
    }
    fn send(&mut self, data: Vec<u8>, value: U256) -> CallOutcome {
        let router = self.d.venues[0].router;
        self.chain.call(self.victim, router, data.into(), value).unwrap()
    }
    fn snapshot(&mut self) -> (U256, U256, U256, (U256, U256)) {
        let (w, u, v) = (self.d.weth, self.d.usdc, self.victim);
        (self.token_balance(w, v), self.token_balance(u, v), self.chain.balance(v), self.reserves())
    }
    fn path(&self, weth_first: bool) -> Vec<Address> {
        if weth_first { vec![self.d.weth, self.d.usdc] } else { vec![self.d.usdc, self.d.weth] }
    }
}

/// The swap emitted exactly one Swap and one Sync from the pair, and Sync holds the new reserves.
fn check_events(t: &mut T, o: &CallOutcome) {
    let pair = t.d.venues[0].pair;
    let swaps = o
        .logs
        .iter()
        .filter(|l| l.address == pair && l.topics().first() == Some(&IUniswapV2Pair::Swap::SIGNATURE_HASH))
        .count();
    assert_eq!(swaps, 1);
    let sync = o
        .logs
        .iter()
        .find(|l| l.address == pair && l.topics().first() == Some(&IUniswapV2Pair::Sync::SIGNATURE_HASH))
        .unwrap();
    let sync = IUniswapV2Pair::Sync::decode_log_data(&sync.data).unwrap();
    let (w, u) = t.reserves();
    let (r0, r1) = if t.d.weth_is_token0() { (w, u) } else { (u, w) };
    assert_eq!((U256::from(sync.reserve0), U256::from(sync.reserve1)), (r0, r1));
}

#[test]
fn exact_input_swaps_move_the_math_amounts() {
    let mut t = setup();
    // USDC → WETH
    let (w0, u0, _, (rw, ru)) = t.snapshot();
    let a = U256::from(10_000 * E6);
    let expect = get_amount_out(a, ru, rw, 30).unwrap();
    let call = IUniswapV2Router02::swapExactTokensForTokensCall {
        amountIn: a,
        amountOutMin: expect,
        path: t.path(false),
        to: t.victim,
        deadline: U256::MAX,
    };
    let o = t.send(call.abi_encode(), U256::ZERO);
    assert!(o.success, "{:?}", o.revert_reason);
    let amounts = IUniswapV2Router02::swapExactTokensForTokensCall::abi_decode_returns(&o.output).unwrap();
    assert_eq!(amounts, vec![a, expect]);
    let (w1, u1, _, _) = t.snapshot();
    assert_eq!((w1 - w0, u0 - u1), (expect, a));
    check_events(&mut t, &o);

    // ETH → USDC
    let (_, u0, e0, (rw, ru)) = t.snapshot();
    let v = U256::from(2 * E18);
    let expect = get_amount_out(v, rw, ru, 30).unwrap();
    let call = IUniswapV2Router02::swapExactETHForTokensCall {
        amountOutMin: expect,
        path: t.path(true),
        to: t.victim,
        deadline: U256::MAX,
    };
    let o = t.send(call.abi_encode(), v);
    assert!(o.success, "{:?}", o.revert_reason);
    let (_, u1, e1, _) = t.snapshot();
    assert_eq!((u1 - u0, e0 - e1), (expect, v));
    check_events(&mut t, &o);

    // USDC → ETH
    let (_, u0, e0, (rw, ru)) = t.snapshot();
    let a = U256::from(5_000 * E6);
    let expect = get_amount_out(a, ru, rw, 30).unwrap();
    let call = IUniswapV2Router02::swapExactTokensForETHCall {
        amountIn: a,
        amountOutMin: expect,
        path: t.path(false),
        to: t.victim,
        deadline: U256::MAX,
    };
    let o = t.send(call.abi_encode(), U256::ZERO);
    assert!(o.success, "{:?}", o.revert_reason);
    let (_, u1, e1, _) = t.snapshot();
    assert_eq!((u0 - u1, e1 - e0), (a, expect));
}

#[test]
fn exact_output_swaps_pay_the_math_amounts() {
    let mut t = setup();
    // WETH → exactly 1,000 USDC
    let (w0, u0, _, (rw, ru)) = t.snapshot();
    let b = U256::from(1_000 * E6);
    let need = get_amount_in(b, rw, ru, 30).unwrap();
    let call = IUniswapV2Router02::swapTokensForExactTokensCall {
        amountOut: b,
        amountInMax: need,
        path: t.path(true),
        to: t.victim,
        deadline: U256::MAX,
    };
    let o = t.send(call.abi_encode(), U256::ZERO);
    assert!(o.success, "{:?}", o.revert_reason);
    let (w1, u1, _, _) = t.snapshot();
    assert_eq!((w0 - w1, u1 - u0), (need, b));
    check_events(&mut t, &o);

    // ETH → exactly 3,000 USDC, overpaying: the dust comes back.
    let (_, u0, e0, (rw, ru)) = t.snapshot();
    let b = U256::from(3_000 * E6);
    let need = get_amount_in(b, rw, ru, 30).unwrap();
    let call = IUniswapV2Router02::swapETHForExactTokensCall {
        amountOut: b,
        path: t.path(true),
        to: t.victim,
        deadline: U256::MAX,
    };
    let o = t.send(call.abi_encode(), need + U256::from(E18));
    assert!(o.success, "{:?}", o.revert_reason);
    let (_, u1, e1, _) = t.snapshot();
    assert_eq!((u1 - u0, e0 - e1), (b, need));

    // USDC → exactly 0.5 ETH
    let (_, u0, e0, (rw, ru)) = t.snapshot();
    let b = U256::from(E18 / 2);
    let need = get_amount_in(b, ru, rw, 30).unwrap();
    let call = IUniswapV2Router02::swapTokensForExactETHCall {
        amountOut: b,
        amountInMax: need,
        path: t.path(false),
        to: t.victim,
        deadline: U256::MAX,
    };
    let o = t.send(call.abi_encode(), U256::ZERO);
    assert!(o.success, "{:?}", o.revert_reason);
    let (_, u1, e1, _) = t.snapshot();
    assert_eq!((u0 - u1, e1 - e0), (need, b));
}

#[test]
fn violated_limits_revert_with_the_routers_reason_and_change_nothing() {
    let mut t = setup();
    let before = t.snapshot();
    let (rw, ru) = before.3;
    let a = U256::from(10_000 * E6);
    let out = get_amount_out(a, ru, rw, 30).unwrap();
    let b = U256::from(E18);
    let need = get_amount_in(b, ru, rw, 30).unwrap();
    let cases: Vec<(Vec<u8>, U256, &str)> = vec![
        (
            IUniswapV2Router02::swapExactTokensForTokensCall {
                amountIn: a,
                amountOutMin: out + U256::from(1u8),
                path: t.path(false),
                to: t.victim,
                deadline: U256::MAX,
            }
            .abi_encode(),
            U256::ZERO,
            "UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT",
        ),
        (
            IUniswapV2Router02::swapTokensForExactTokensCall {
                amountOut: b,
                amountInMax: need - U256::from(1u8),
                path: t.path(false),
                to: t.victim,
                deadline: U256::MAX,
            }
            .abi_encode(),
            U256::ZERO,
            "UniswapV2Router: EXCESSIVE_INPUT_AMOUNT",
        ),
        (
            IUniswapV2Router02::swapExactETHForTokensCall {
                amountOutMin: U256::MAX,
                path: t.path(true),
                to: t.victim,
                deadline: U256::MAX,
            }
            .abi_encode(),
            U256::from(E18),
            "UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT",
        ),
        (
            IUniswapV2Router02::swapETHForExactTokensCall {
                amountOut: U256::from(10_000 * E6),
                path: t.path(true),
                to: t.victim,
                deadline: U256::MAX,
            }
            .abi_encode(),
            U256::from(E18),
            "UniswapV2Router: EXCESSIVE_INPUT_AMOUNT",
        ),
        (
            IUniswapV2Router02::swapExactTokensForETHCall {
                amountIn: a,
                amountOutMin: U256::MAX,
                path: t.path(false),
                to: t.victim,
                deadline: U256::MAX,
            }
            .abi_encode(),
            U256::ZERO,
            "UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT",
        ),
        (
            IUniswapV2Router02::swapExactTokensForTokensCall {
                amountIn: a,
                amountOutMin: U256::ZERO,
                path: t.path(false),
                to: t.victim,
                deadline: U256::from(1u8),
            }
            .abi_encode(),
            U256::ZERO,
            "UniswapV2Router: EXPIRED",
        ),
    ];
    for (data, value, reason) in cases {
        let o = t.send(data, value);
        assert!(!o.success, "expected `{reason}`");
        assert_eq!(o.revert_reason.as_deref(), Some(reason));
        assert_eq!(t.snapshot(), before, "a reverted swap changes nothing (gas is free at base fee 0)");
    }
}

#[test]
fn rolled_back_simulation_leaves_state_untouched() {
    let mut t = setup();
    let before = t.snapshot();
    let nonce = t.chain.nonce(t.victim);
    let cp = t.chain.checkpoint();
    let a = U256::from(50_000 * E6);
    let call = IUniswapV2Router02::swapExactTokensForTokensCall {
        amountIn: a,
        amountOutMin: U256::ZERO,
        path: t.path(false),
        to: t.victim,
        deadline: U256::MAX,
    };
    assert!(t.send(call.abi_encode(), U256::ZERO).success);
    assert_ne!(t.snapshot(), before);
    t.chain.rollback(cp).unwrap();
    assert_eq!(t.snapshot(), before);
    assert_eq!(t.chain.nonce(t.victim), nonce);
}

/// A block's transactions stay in revm's journal until the block ends. That must be invisible: the
/// same swaps committed one by one give the same outcomes (gas, output, logs, reverts included) and
/// the same final balances and reserves.
#[test]
fn batched_block_equals_committing_every_transaction() {
    let run = |commit_each: bool| {
        let mut t = setup();
        let mut outcomes = Vec::new();
        for i in 0..24u128 {
            let weth_first = i % 3 != 0;
            let amount = if weth_first { U256::from((1 + i) * E18 / 4) } else { U256::from((1 + i) * 900 * E6) };
            // Every fifth swap asks for more than the pool gives: a revert in the middle of the block.
            let min_out = if i % 5 == 4 { U256::MAX } else { U256::ZERO };
            let call = IUniswapV2Router02::swapExactTokensForTokensCall {
                amountIn: amount,
                amountOutMin: min_out,
                path: t.path(weth_first),
                to: t.victim,
                deadline: U256::MAX,
            };
            outcomes.push(t.send(call.abi_encode(), U256::ZERO));
            if commit_each {
                t.chain.end_block();
            }
        }
        let gas = t.chain.block_gas_used();
        (outcomes, t.snapshot(), gas)
    };
    let (batched, commit_each) = (run(false), run(true));
    assert_eq!(batched.0.iter().filter(|o| !o.success).count(), 4);
    assert_eq!(batched, commit_each);
}

#[test]
fn rollback_past_a_commit_is_refused() {
    let mut t = setup();
    let cp = t.chain.checkpoint();
    let call = IUniswapV2Router02::swapExactTokensForTokensCall {
        amountIn: U256::from(E18),
        amountOutMin: U256::ZERO,
        path: t.path(true),
        to: t.victim,
        deadline: U256::MAX,
    };
    assert!(t.send(call.abi_encode(), U256::ZERO).success);
    let after = t.snapshot();
    t.chain.end_block();
    assert!(t.chain.rollback(cp).is_err());
    assert_eq!(t.snapshot(), after, "a refused rollback changes nothing");
}

/// Receipt logs decode into our event types: an ETH → USDC swap is the WETH deposit, the WETH
/// transfer into the pair, the USDC transfer out, Sync, Swap, in that order with the exact amounts.
#[test]
fn receipt_logs_decode_into_chain_events() {
    use xcrack::chain::ChainEvent;
    let mut t = setup();
    let (_, _, _, (rw, ru)) = t.snapshot();
    let v = U256::from(2 * E18);
    let out = get_amount_out(v, rw, ru, 30).unwrap();
    let call = IUniswapV2Router02::swapExactETHForTokensCall {
        amountOutMin: out,
        path: t.path(true),
        to: t.victim,
        deadline: U256::MAX,
    };
    let o = t.send(call.abi_encode(), v);
    assert!(o.success);
    let (pair, router, weth, usdc) = (t.d.venues[0].pair, t.d.venues[0].router, t.d.weth, t.d.usdc);
    let w0 = t.d.weth_is_token0();
    let (new_w, new_u) = (rw + v, ru - out);
    let (amount0_in, amount1_in, amount0_out, amount1_out) =
        if w0 { (v, U256::ZERO, U256::ZERO, out) } else { (U256::ZERO, v, out, U256::ZERO) };
    let (reserve0, reserve1) = if w0 { (new_w, new_u) } else { (new_u, new_w) };
    assert_eq!(
        o.events(),
        vec![
            ChainEvent::Deposit { weth, to: router, value: v },
            ChainEvent::Transfer { token: weth, from: router, to: pair, value: v },
            ChainEvent::Transfer { token: usdc, from: pair, to: t.victim, value: out },
            ChainEvent::Sync { pair, reserve0, reserve1 },
            ChainEvent::Swap { pair, sender: router, to: t.victim, amount0_in, amount1_in, amount0_out, amount1_out },
        ]
    );
}
