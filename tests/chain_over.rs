//! `SimChain` runs over any revm `DatabaseRef` below its own cache (fork mode's shape): a chain over
//! a snapshot of another gives the same receipts to the wei, and writes stay on the upper chain.

use alloy_primitives::U256;
use alloy_sol_types::SolCall;
use xcrack::chain::SimChain;
use xcrack::chain::contracts::IUniswapV2Router02;
use xcrack::chain::simchain::actor;
use xcrack::chain::world::deploy_dex_for;

#[test]
fn a_chain_over_a_snapshot_swaps_as_the_original() {
    let e18 = 10u128.pow(18);
    let mut base = SimChain::new(1);
    let me = actor("searcher");
    let dex = deploy_dex_for(&mut base, 6, &[(U256::from(1000 * e18), U256::from(3_000_000_000_000u128))], me).unwrap();
    let trader = actor("trader");
    dex.fund_deep(&mut base, trader).unwrap();
    dex.approve(&mut base, trader, &[(dex.weth, dex.venues[0].router), (dex.usdc, dex.venues[0].router)]).unwrap();
    base.advance_block(1_700_000_012, 1_000_000_000, actor("builder"));
    base.end_block();
    let snapshot = base.db().clone();

    // The forked chain reads everything below through the snapshot (a `DatabaseRef`).
    let mut fork: SimChain<_> = SimChain::over(snapshot, 1);
    fork.advance_block(1_700_000_024, 1_000_000_000, actor("builder"));
    base.advance_block(1_700_000_024, 1_000_000_000, actor("builder"));
    let swap = IUniswapV2Router02::swapExactTokensForTokensCall {
        amountIn: U256::from(5 * e18),
        amountOutMin: U256::ZERO,
        path: vec![dex.weth, dex.usdc],
        to: trader,
        deadline: U256::MAX,
    }
    .abi_encode();
    let router = dex.venues[0].router;
    let a = base.call(trader, router, swap.clone().into(), U256::ZERO).unwrap();
    let b = fork.call(trader, router, swap.into(), U256::ZERO).unwrap();
    assert!(a.success && b.success);
    assert_eq!((a.gas_used, &a.logs, &a.output), (b.gas_used, &b.logs, &b.output), "same receipt to the wei");
    let pair = dex.venues[0].pair;
    let slot = U256::from(xcrack::chain::contracts::slots::PAIR_RESERVES);
    assert_eq!(base.storage(pair, slot), fork.storage(pair, slot));

    // A write on the fork stays there.
    let who = actor("someone");
    fork.set_balance(who, U256::from(7u8));
    assert_eq!(fork.balance(who), U256::from(7u8));
    assert_eq!(base.balance(who), U256::ZERO);
}
