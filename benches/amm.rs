use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use xcrack::market::amm::{get_amount_in, get_amount_out, get_amount_out_u128};

fn amm(c: &mut Criterion) {
    let (rb, rq, sizes) = xcrack::bench::amm_inputs();
    let mut g = c.benchmark_group("amm");
    g.throughput(Throughput::Elements(sizes.len() as u64));
    g.bench_function("get_amount_out_u256", |b| {
        b.iter(|| {
            for a in &sizes {
                black_box(get_amount_out(black_box(*a), rb, rq, 30).ok());
            }
        })
    });
    g.bench_function("get_amount_in_u256", |b| {
        let outs: Vec<_> = sizes.iter().map(|a| *a / alloy_primitives::U256::from(1000u32)).collect();
        b.iter(|| {
            for o in &outs {
                black_box(get_amount_in(black_box(*o), rq, rb, 30).ok());
            }
        })
    });
    let (rb128, rq128): (u128, u128) = (rb.to(), rq.to());
    let sizes128: Vec<u128> = sizes.iter().map(|a| a.to()).collect();
    g.bench_function("get_amount_out_u128_fast_path", |b| {
        b.iter(|| {
            for a in &sizes128 {
                black_box(get_amount_out_u128(black_box(*a), rb128, rq128, 30).ok());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, amm);
criterion_main!(benches);
