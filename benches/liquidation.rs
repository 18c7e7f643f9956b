use criterion::{Criterion, criterion_group, criterion_main};

use xcrack::bench::LiquidationBench;

fn liquidation(c: &mut Criterion) {
    let mut b = LiquidationBench::new(10_000);
    let (affected, gross) = b.oracle_update(2_940);
    assert!(affected > 0 && gross > 0, "{affected} {gross}");
    let mut ns: Vec<u128> = (0..2_000)
        .map(|_| {
            let t = std::time::Instant::now();
            std::hint::black_box(b.oracle_update(2_940));
            t.elapsed().as_nanos()
        })
        .collect();
    ns.sort_unstable();
    let pct = |p: f64| ns[((ns.len() as f64 * p) as usize).min(ns.len() - 1)] as f64 / 1000.0;
    eprintln!(
        "liquidation/oracle_update_to_simulated_liquidation (10,000 borrowers, {affected} newly liquidatable at -2 %): p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs (2,000 runs)",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    let mut g = c.benchmark_group("liquidation");
    g.bench_function("oracle_update_to_simulated_liquidation_10k", |bn| bn.iter(|| b.oracle_update(2_940)));
    g.finish();
}

criterion_group!(benches, liquidation);
criterion_main!(benches);
