use criterion::{Criterion, criterion_group, criterion_main};

use xcrack::bench::SandwichBench;

fn sandwich(c: &mut Criterion) {
    let mut b = SandwichBench::new();
    assert_eq!(b.victim_to_bundle(), 3);
    // Tail latency, which criterion's mean/median do not show: 5,000 timed runs.
    let mut ns: Vec<u128> = (0..5_000)
        .map(|_| {
            let t = std::time::Instant::now();
            std::hint::black_box(b.victim_to_bundle());
            t.elapsed().as_nanos()
        })
        .collect();
    ns.sort_unstable();
    let pct = |p: f64| ns[((ns.len() as f64 * p) as usize).min(ns.len() - 1)] as f64 / 1000.0;
    eprintln!(
        "sandwich/victim_to_signed_simulated_bundle: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, max {:.1} µs (5,000 runs)",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    let mut g = c.benchmark_group("sandwich");
    g.bench_function("victim_to_signed_simulated_bundle", |bn| bn.iter(|| b.victim_to_bundle()));
    g.finish();
}

criterion_group!(benches, sandwich);
criterion_main!(benches);
