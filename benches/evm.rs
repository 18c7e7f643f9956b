use alloy_primitives::U256;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use xcrack::bench::EvmBench;
use xcrack::chain::BundleTx;

fn evm(c: &mut Criterion) {
    let mut g = c.benchmark_group("evm");
    // A pair swap through revm: the executor sends 1 WETH to the pair and calls swap, committed;
    // the next iteration sells the USDC back so state stays bounded.
    let mut b = EvmBench::new();
    let (searcher, exec) = (b.dex.searcher, b.dex.executor);
    g.throughput(Throughput::Elements(2));
    g.bench_function("pair_swap_round_trip_committed", |bn| {
        bn.iter(|| {
            let data = b.one_hop(0, true, U256::from(10u128.pow(18)));
            let o = b.chain.call(searcher, exec, data, U256::ZERO).unwrap();
            assert!(o.success, "{:?}", o.revert_reason);
            let data = b.one_hop(0, false, U256::from(3_000_000_000u64));
            let o = b.chain.call(searcher, exec, data, U256::ZERO).unwrap();
            assert!(o.success, "{:?}", o.revert_reason);
        })
    });
    // The pair alone: input delivered by a balance write (as a preceding transfer would), then
    // `pair.swap` called directly by the trader and committed. This is the floor of an EVM swap here.
    let mut b = EvmBench::new();
    g.throughput(Throughput::Elements(1));
    g.bench_function("pair_swap_direct_committed", |bn| {
        let mut sell_weth = true;
        bn.iter(|| {
            let o = b.direct_swap(0, sell_weth);
            assert!(o.success, "{:?}", o.revert_reason);
            sell_weth = !sell_weth;
        })
    });
    // An arbitrage bundle (buy on venue 0, sell on venue 1, one executor tx), simulated and rolled back.
    let mut b = EvmBench::new();
    let data = b.arbitrage(0, 1, U256::from(10_000_000_000u64));
    let tx = BundleTx {
        from: b.dex.searcher,
        to: b.dex.executor,
        data,
        value: U256::ZERO,
        gas_limit: 1_000_000,
        priority_fee: 0,
    };
    let first = b.chain.simulate_bundle(std::slice::from_ref(&tx)).unwrap();
    assert!(first[0].success, "{:?}", first[0].revert_reason);
    g.throughput(Throughput::Elements(1));
    g.bench_function("arbitrage_bundle_simulate_rollback", |bn| {
        bn.iter(|| {
            let o = b.chain.simulate_bundle(std::slice::from_ref(&tx)).unwrap();
            assert!(o[0].success);
        })
    });
    g.finish();
}

criterion_group!(benches, evm);
criterion_main!(benches);
