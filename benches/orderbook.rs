use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use xcrack::core::Side;

fn orderbook(c: &mut Criterion) {
    let book = xcrack::bench::book();
    let mut g = c.benchmark_group("orderbook_walk");
    for (name, lots) in [("top_level", 10_000u64), ("five_levels", 170_000), ("whole_book_partial", 10_000_000)] {
        g.bench_function(name, |b| b.iter(|| black_box(xcrack::bench::walk(&book, Side::Buy, black_box(lots)))));
    }
    g.finish();
}

criterion_group!(benches, orderbook);
criterion_main!(benches);
