//! Live mode's write-ahead journal on the send path: one bundle (two signed transactions) written
//! and committed before the (no-op) relay sends it, its answer written after — with every commit
//! synced (`synchronous = FULL`, the default) and synced only at checkpoints (`NORMAL`).

use alloy_primitives::{Address, B256, Bytes, U256};
use criterion::{Criterion, criterion_group, criterion_main};
use xcrack::chain::{TxRequest, Wallet};
use xcrack::execution::bundle_manager::BundleSink;
use xcrack::live::{JournaledSink, LiveJournal};
use xcrack::relay::rpc::SendBundleParams;

struct Nowhere;

impl BundleSink for Nowhere {
    fn send(&mut self, _p: &SendBundleParams) -> Result<B256, String> {
        Ok(B256::ZERO)
    }
    fn cancel(&mut self, _uuid: &str) -> Result<(), String> {
        Ok(())
    }
}

fn journal(c: &mut Criterion) {
    let mut w = Wallet::derived(1, "bench/live");
    let mut n = 0u64;
    let mut bundle = move || {
        let req = TxRequest {
            chain_id: 1,
            to: Address::repeat_byte(9),
            data: Bytes::from(vec![0u8; 196]),
            value: U256::ZERO,
            gas_limit: 200_000,
            max_fee_per_gas: 30_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
        };
        let (a, _) = w.sign(&req).unwrap();
        let (b, _) = w.sign(&req).unwrap();
        n += 1;
        SendBundleParams::for_block(vec![a, b], 1_000_000 + n)
    };
    let mut g = c.benchmark_group("live");
    for (name, relaxed) in [("journaled_send_sync_full", false), ("journaled_send_sync_normal", true)] {
        let dir = tempfile::tempdir().unwrap();
        let j = LiveJournal::open(&dir.path().join("j.sqlite")).unwrap();
        let j = if relaxed { j.relaxed().unwrap() } else { j };
        let mut sink = JournaledSink::new(Nowhere, j);
        g.bench_function(name, |b| {
            b.iter_batched(&mut bundle, |p| sink.send(&p).unwrap(), criterion::BatchSize::SmallInput)
        });
    }
    g.finish();
}

criterion_group!(benches, journal);
criterion_main!(benches);
