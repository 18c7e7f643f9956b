use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn engine(c: &mut Criterion) {
    // The standard scenario: shipped calm market, 30 simulated minutes, micro-arbitrage attached.
    let spec = xcrack::bench::standard_spec("30m");
    let events = xcrack::bench::engine_run(&spec);
    let mut g = c.benchmark_group("engine");
    g.sample_size(20);
    g.throughput(Throughput::Elements(events));
    g.bench_function("calm_30m_micro_arbitrage", |b| b.iter(|| xcrack::bench::engine_run(&spec)));
    g.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
