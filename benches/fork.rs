//! Fork mode: the same sandwich decision (victim decoded, sized, bundle signed and simulated with
//! flows checked) on a chain over warm fork state against the in-memory chain holding the same
//! state; the first decision on a cold fork (every read fetched once through `ForkDb` from an
//! in-memory source: our layer's cost, no network); and a whole two-block dry run over the
//! shipped recording (decisions per second). RPC counts per block against anvil are in the
//! README (from `tests/fork_mode.rs`, which asserts 0 requests on the decision path once warm).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

use xcrack::bench::SandwichBench;
use xcrack::bench::fork::ReplayRun;

fn percentiles(name: &str, mut ns: Vec<u128>) {
    ns.sort_unstable();
    let pct = |p: f64| ns[((ns.len() as f64 * p) as usize).min(ns.len() - 1)] as f64 / 1000.0;
    eprintln!("{name}: p50 {:.1} µs, p99 {:.1} µs ({} runs)", pct(0.5), pct(0.99), ns.len());
}

fn fork(c: &mut Criterion) {
    let mut memory = SandwichBench::new();
    let mut warm = memory.forked();
    assert_eq!(warm.victim_to_bundle(), 3, "the fork decides as the in-memory chain");
    let time = |f: &mut dyn FnMut() -> usize| {
        (0..3_000)
            .map(|_| {
                let t = std::time::Instant::now();
                std::hint::black_box(f());
                t.elapsed().as_nanos()
            })
            .collect::<Vec<_>>()
    };
    percentiles("fork/decision_in_memory_chain", time(&mut || memory.victim_to_bundle()));
    percentiles("fork/decision_warm_fork", time(&mut || warm.victim_to_bundle()));
    let replay = ReplayRun::load();
    assert_eq!(replay.run(), 7);

    let mut g = c.benchmark_group("fork");
    g.bench_function("decision_in_memory_chain", |b| b.iter(|| memory.victim_to_bundle()));
    g.bench_function("decision_warm_fork", |b| b.iter(|| warm.victim_to_bundle()));
    g.bench_function("first_decision_cold_fork", |b| {
        b.iter_batched(|| memory.forked(), |mut f| f.victim_to_bundle(), BatchSize::SmallInput)
    });
    g.bench_function("dry_run_two_blocks_replayed_7_decisions", |b| b.iter(|| replay.run()));
    g.finish();
}

criterion_group!(benches, fork);
criterion_main!(benches);
