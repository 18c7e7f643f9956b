use alloy_primitives::U256;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use xcrack::bench::EvmBench;

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
    // Pair swaps as transactions calling `pair.swap` directly, chained between the two venues (each
    // output is the next input, as in a router's multi-hop route), a block of 100 committed at its end.
    let mut b = EvmBench::new();
    const BLOCK: usize = 100;
    g.throughput(Throughput::Elements(BLOCK as u64));
    g.bench_function("pair_swaps_chained_block_of_100", |bn| {
        let mut reverse = false;
        bn.iter(|| {
            assert_eq!(b.chained_swaps(BLOCK, reverse), BLOCK);
            reverse = !reverse;
        })
    });
    // An arbitrage bundle (buy on venue 0, sell on venue 1, one executor tx), simulated and rolled back.
    let mut b = EvmBench::new();
    let tx = b.arbitrage_bundle_tx();
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
