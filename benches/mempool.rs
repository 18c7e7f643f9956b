//! The pending-transaction filter (`mempool::filter`) over a feed of 10,000 signed transactions:
//! one in ten a router swap we watch, the rest other contracts and methods, one in five seen twice.
//! Throughput is transactions filtered per second (hash, dedupe, decode, rules; no recovery).

use std::hint::black_box;

use alloy_primitives::{Address, Bytes, U256};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use xcrack::chain::{TxRequest, Wallet};
use xcrack::mempool::filter::PendingFilter;

fn feed() -> Vec<Bytes> {
    let router = Address::repeat_byte(1);
    let mut w = Wallet::derived(1, "bench/feed");
    let mut out = Vec::with_capacity(10_000);
    for i in 0..8_000u64 {
        let (to, data) = if i % 10 == 0 {
            (router, [&[0x38u8, 0xed, 0x17, 0x39][..], &[0u8; 160][..]].concat())
        } else {
            (Address::repeat_byte((i % 200) as u8 + 2), [&[0xa9u8, 0x05, 0x9c, 0xbb][..], &[0u8; 64][..]].concat())
        };
        let req = TxRequest {
            chain_id: 1,
            to,
            data: data.into(),
            value: U256::ZERO,
            gas_limit: 200_000,
            max_fee_per_gas: 30_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
        };
        out.push(w.sign(&req).unwrap().0);
    }
    let again: Vec<Bytes> = out.iter().step_by(4).cloned().collect();
    out.extend(again);
    out
}

fn filter(c: &mut Criterion) {
    let txs = feed();
    let mut g = c.benchmark_group("mempool");
    g.throughput(Throughput::Elements(txs.len() as u64));
    g.bench_function("pending_filter_10k", |b| {
        b.iter_batched(
            || PendingFilter::new([Address::repeat_byte(1)], [[0x38, 0xed, 0x17, 0x39]], 100_000),
            |mut f| {
                for t in &txs {
                    black_box(f.check(black_box(t)));
                }
                f.counts
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, filter);
criterion_main!(benches);
