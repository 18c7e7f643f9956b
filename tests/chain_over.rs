//! `SimChain` runs over any revm `DatabaseRef` below its own cache (fork mode's shape): a chain over
//! a snapshot of another gives the same receipts to the wei, and writes stay on the upper chain; the
//! sandwich and lending flows deploy and build a block on such a chain.

use alloy_primitives::U256;
use alloy_sol_types::SolCall;
use xcrack::chain::SimChain;
use xcrack::chain::contracts::IUniswapV2Router02;
use xcrack::chain::simchain::actor;
use xcrack::chain::world::deploy_dex_for;

mod common;

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

/// The bundle flows take their chain as a parameter of any `DatabaseRef` below it: the lending
/// market and the victims' wallets are deployed on a chain over a snapshot of the market's, a block
/// is built there by the relay, and the victims' swaps land on it, not on the snapshot's chain.
#[test]
fn the_sandwich_and_lending_flows_run_on_a_chain_over_a_snapshot() {
    use xcrack::chain::Wallet;
    use xcrack::core::NANOS_PER_SEC;
    use xcrack::execution::bundle_manager::BundleManager;
    use xcrack::market::dex::GENESIS_TIMESTAMP;
    use xcrack::relay::RelayClient;
    use xcrack::sim::desk::{BundleDesk, RelayHost};
    use xcrack::sim::lending::{LendingFlow, LendingGenesis};
    use xcrack::sim::sandwich::SandwichFlow;

    let spec = common::spec("all_strategies.toml", &[]);
    let me = Wallet::derived(spec.seed, "xcrack/searcher");
    let mut base = SimChain::new(spec.chain_id);
    let reserves: Vec<_> = spec.dex.iter().map(|d| (d.reserve_base, d.reserve_quote)).collect();
    let dex = deploy_dex_for(&mut base, spec.quote_decimals as u8, &reserves, me.address()).unwrap();
    dex.fund_exactly(&mut base, me.address(), [spec.wallet_base, spec.wallet_quote, spec.wallet_native]).unwrap();
    let builder = actor("xcrack/builder");
    base.advance_block(GENESIS_TIMESTAMP, 10_000_000_000, builder);
    base.end_block();

    let mut fork: SimChain<_> = SimChain::over(base.db().clone(), spec.chain_id);
    let mut lending = LendingFlow::new(&spec, &mut fork, me.address(), LendingGenesis::On(dex.clone())).unwrap();
    let mut sandwich = SandwichFlow::new(&spec, &mut fork, dex.clone(), me.address()).unwrap();
    let pool = lending.w.market.pool;
    assert!(fork.nonce_ref(pool) > 0 && base.nonce_ref(pool) == 0, "the lending pool is on the fork only");
    fork.advance_block(GENESIS_TIMESTAMP + 12, 10_000_000_000, builder);
    fork.end_block();
    sandwich.closed(&fork, 0);
    lending.closed(&fork, 0);

    let mut host = RelayHost::start(&fork, 12).unwrap();
    let client = RelayClient::new(host.addr(), Wallet::derived(spec.seed, "xcrack/flashbots-auth"));
    let mut desk = BundleDesk::new(BundleManager::new(me, client, spec.chain_id));
    let mut out = Vec::new();
    for i in 0..4 {
        sandwich.on_arrival(&mut fork, &mut desk, i, &mut out);
    }
    let now = 10 * 60 * NANOS_PER_SEC;
    lending.prepare(&mut fork, &mut desk, now, Some(3000.0), &mut out);
    assert!(out.len() >= 4, "victims (and any oracle update) announced: {out:?}");
    let mut risk = xcrack::risk::RiskGate::new(spec.safety.clone());
    let pre = sandwich.before_build(&mut fork, now);
    let reserves_before = dex.reserves(&fork, 0);
    {
        let mut r = host.lock();
        let build =
            r.build_block(&mut fork, GENESIS_TIMESTAMP + now / NANOS_PER_SEC, 10_000_000_000, builder, &pre.rivals);
        sandwich.settle(&mut fork, &r, &build, &mut desk, pre, now, &mut risk);
        lending.settle(&mut fork, &r, &build, &mut desk, now, &mut risk);
    }
    fork.end_block();
    host.stop();
    assert_eq!(sandwich.victims_out.len(), 4);
    assert!(sandwich.victims_out.iter().all(|v| v.succeeded && !v.sandwiched));
    let moved = sandwich.victims_out.iter().any(|v| v.pool == 0);
    assert_eq!(dex.reserves(&fork, 0) != reserves_before, moved, "the victims traded on the fork");
    let genesis = (spec.dex[0].reserve_base, spec.dex[0].reserve_quote);
    assert_eq!(dex.reserves(&base, 0), genesis, "and not on the chain below it");
    // We did nothing: our wallet is genesis's.
    assert_eq!(lending.wallet_on_chain(&mut fork).unwrap(), lending.initial);
}
