//! DEX venues: constant-product pools whose swaps settle only when a block is built. Noise traders and
//! rival arbitrageurs compete with our transactions; the block orders everything by priority fee.

use alloy_primitives::U256;
use rand::RngExt;
use rand_distr::StandardNormal;

use crate::config::{ChainSpec, DexSpecRun, RivalSpec};
use crate::core::rng::SimRng;
use crate::core::{BLOCK_GAS_LIMIT, PoolId, Side, SimTime, Wei, next_base_fee};
use crate::market::amm::CpPool;
use crate::market::pool_engine::{PoolEngine, SwapOp, Trader};

pub struct DexPool {
    pub id: PoolId,
    pub spec: DexSpecRun,
    pub pool: CpPool,
}

/// A transaction waiting for the next block.
#[derive(Clone, Copy, Debug)]
pub struct PendingTx {
    pub arrival_seq: u64,
    pub priority_fee_wei: Wei,
    pub pool: PoolId,
    pub kind: TxKind,
}

#[derive(Clone, Copy, Debug)]
pub enum TxKind {
    /// Careless retail flow: exact input, no slippage limit. Buying base pays `amount` quote; selling
    /// base sells `amount` base.
    Noise { side: Side, amount: U256 },
    /// Our router swap (see `LegOrder::Dex`).
    Ours { order: u32, side: Side, base_raw: u128, quote_limit: u128, gas_limit: u64 },
    /// A rival arbitrageur; its trade is sized when it executes, against the state it finds.
    Rival,
    /// Our atomic two-pool arbitrage through the executor contract.
    Atomic { order: u32, plan: crate::core::AtomicPlan },
}

/// What happened to one of our transactions in a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OurTxResult {
    pub order: u32,
    /// Quote paid (buy) or received (sell); `None` when the swap reverted.
    pub quote: Option<u128>,
    pub gas_used: u64,
    pub effective_gas_price: Wei,
    /// How many rival or noise swaps on the same pool(s) ran before ours in this block.
    pub touched_before: u32,
    /// Why it reverted, when it did.
    pub revert_reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockStats {
    pub noise_swaps: u64,
    pub rival_swaps: u64,
    pub our_swaps: u64,
    pub our_reverts: u64,
}

/// Unix time of the first simulated block (the EVM's `block.timestamp` starts here).
pub const GENESIS_TIMESTAMP: u64 = 1_700_000_000;

pub struct Chain {
    pub spec: ChainSpec,
    pub engine: PoolEngine,
    pub rivals: RivalSpec,
    pub pools: Vec<DexPool>,
    pub mempool: Vec<PendingTx>,
    pub number: u64,
    pub timestamp: SimTime,
    /// Unix time of the run's start: our genesis's, or the forked block's (`[chain.fork]`).
    pub genesis_ts: u64,
    /// Block number the run starts after: 0 on our genesis, the pinned block on a fork.
    pub number_base: u64,
    pub base_fee: Wei,
    pub stats: BlockStats,
    next_seq: u64,
    quote_scale: f64,
    base_scale: f64,
}

impl Chain {
    pub fn new(
        spec: ChainSpec,
        rivals: RivalSpec,
        pools: Vec<DexPool>,
        engine: PoolEngine,
        base_decimals: u32,
        quote_decimals: u32,
    ) -> Self {
        Chain {
            engine,
            base_fee: spec.base_fee_wei,
            spec,
            rivals,
            pools,
            mempool: Vec::new(),
            number: 0,
            timestamp: 0,
            genesis_ts: GENESIS_TIMESTAMP,
            number_base: 0,
            stats: BlockStats::default(),
            next_seq: 0,
            quote_scale: 10f64.powi(quote_decimals as i32),
            base_scale: 10f64.powi(base_decimals as i32),
        }
    }

    /// Simulates an atomic arbitrage on the current state, changing nothing: the profit it would
    /// make, or why it would revert.
    pub fn simulate_atomic(&mut self, plan: &crate::core::AtomicPlan) -> Result<u128, String> {
        let mut mirrors: Vec<CpPool> = self.pools.iter().map(|p| p.pool).collect();
        self.engine.atomic(&mut mirrors, plan, false).0
    }

    pub fn submit(&mut self, pool: PoolId, priority_fee_wei: Wei, kind: TxKind) {
        self.next_seq += 1;
        self.mempool.push(PendingTx { arrival_seq: self.next_seq, priority_fee_wei, pool, kind });
    }

    /// A noise trader's swap of a lognormal quote size, converted to base at `price` for sells.
    pub fn submit_noise(&mut self, rng: &mut SimRng, median: f64, sigma: f64, buy_probability: f64, price: f64) {
        if self.pools.is_empty() {
            return;
        }
        let pool = PoolId(rng.random_range(0..self.pools.len() as u16));
        let z: f64 = rng.sample(StandardNormal);
        let size_quote = median * (sigma * z).exp();
        let side = if rng.random::<f64>() < buy_probability { Side::Buy } else { Side::Sell };
        let amount = match side {
            Side::Buy => size_quote * self.quote_scale,
            Side::Sell => size_quote / price * self.base_scale,
        };
        if amount < 1.0 {
            return;
        }
        let fee = self.sample_rival_fee(rng) / 2;
        self.submit(pool, fee, TxKind::Noise { side, amount: U256::from(amount as u128) });
    }

    fn sample_rival_fee(&self, rng: &mut SimRng) -> Wei {
        let z: f64 = rng.sample(StandardNormal);
        (self.rivals.priority_fee_median_gwei * 1e9 * (self.rivals.priority_fee_sigma * z).exp()) as Wei
    }

    /// Builds the block at `now`: rivals join, everything is ordered by priority fee (then arrival),
    /// swaps execute in order, the base fee moves by EIP-1559. Returns our transactions' outcomes.
    pub fn build_block(&mut self, now: SimTime, fundamental: f64, rng: &mut SimRng, out: &mut Vec<OurTxResult>) {
        self.number += 1;
        self.engine.start_block(self.genesis_ts + now / crate::core::NANOS_PER_SEC, self.base_fee);
        self.fill_block(now, fundamental, rng, out);
    }

    /// `build_block` on a block someone else opened on the same chain (bundles and other flows'
    /// transactions went first): the pools' mirrors are re-read from the chain, then this market's
    /// transactions follow and the block is closed.
    pub fn build_opened_block(&mut self, now: SimTime, fundamental: f64, rng: &mut SimRng, out: &mut Vec<OurTxResult>) {
        self.engine.resync(&mut self.pools);
        if let Some(evm) = self.engine.evm() {
            self.number = evm.chain.block_number();
        }
        self.fill_block(now, fundamental, rng, out);
    }

    fn fill_block(&mut self, now: SimTime, fundamental: f64, rng: &mut SimRng, out: &mut Vec<OurTxResult>) {
        self.timestamp = now;
        let mut txs = std::mem::take(&mut self.mempool);
        for p in 0..self.pools.len() {
            if self.rivals.probability > 0.0 && rng.random::<f64>() < self.rivals.probability {
                let fee = self.sample_rival_fee(rng);
                // Rivals arrive last among equal fees: they react to the same state we do.
                txs.push(PendingTx {
                    arrival_seq: u64::MAX,
                    priority_fee_wei: fee,
                    pool: PoolId(p as u16),
                    kind: TxKind::Rival,
                });
            }
        }
        txs.sort_by(|a, b| b.priority_fee_wei.cmp(&a.priority_fee_wei).then(a.arrival_seq.cmp(&b.arrival_seq)));
        let mut touches = vec![0u32; self.pools.len()];
        // Gas of the simulated transactions as the math engine charges it (the EVM counts its own).
        let mut math_gas = 0u64;
        for tx in txs {
            match tx.kind {
                TxKind::Rival => {
                    if self.rival_swap(tx.pool, fundamental, tx.priority_fee_wei) {
                        math_gas += self.pools[tx.pool.0 as usize].spec.swap_gas;
                        touches[tx.pool.0 as usize] += 1;
                        self.stats.rival_swaps += 1;
                    }
                }
                _ => {
                    let i = tx.pool.0 as usize;
                    match tx.kind {
                        TxKind::Noise { side, amount } => {
                            let op = match side {
                                Side::Buy => SwapOp::QuoteIn { amount, min_base: U256::ZERO },
                                Side::Sell => SwapOp::BaseIn { amount, min_quote: U256::ZERO },
                            };
                            let ok = self.engine.swap(i, &mut self.pools[i].pool, op, Trader::Noise, 0).result.is_ok();
                            let spec = &self.pools[i].spec;
                            math_gas += if ok { spec.swap_gas } else { spec.revert_gas };
                            if ok {
                                touches[tx.pool.0 as usize] += 1;
                                self.stats.noise_swaps += 1;
                            }
                        }
                        TxKind::Ours { order, side, base_raw, quote_limit, gas_limit } => {
                            let (amount, limit) = (U256::from(base_raw), U256::from(quote_limit));
                            let op = match side {
                                Side::Buy => SwapOp::BaseOut { amount, max_quote: limit },
                                Side::Sell => SwapOp::BaseIn { amount, min_quote: limit },
                            };
                            let receipt =
                                self.engine.swap(i, &mut self.pools[i].pool, op, Trader::Us, tx.priority_fee_wei);
                            let spec = &self.pools[i].spec;
                            // The EVM reports the gas the transaction really used; the math engine
                            // charges the configured figures.
                            let (quote, gas) = match receipt.result {
                                Ok(q) => {
                                    (Some(q.to::<u128>()), receipt.gas_used.unwrap_or(spec.swap_gas).min(gas_limit))
                                }
                                Err(_) => (None, receipt.gas_used.unwrap_or(spec.revert_gas).min(gas_limit)),
                            };
                            math_gas += gas;
                            self.stats.our_swaps += 1;
                            if quote.is_none() {
                                self.stats.our_reverts += 1;
                            }
                            out.push(OurTxResult {
                                order,
                                quote,
                                gas_used: gas,
                                effective_gas_price: self.base_fee + tx.priority_fee_wei,
                                touched_before: touches[tx.pool.0 as usize],
                                revert_reason: receipt.result.err().map(|e| e.to_string()),
                            });
                        }
                        TxKind::Atomic { order, plan } => {
                            let (b, s) = (plan.buy_pool.0 as usize, plan.sell_pool.0 as usize);
                            let mut mirrors: Vec<CpPool> = self.pools.iter().map(|p| p.pool).collect();
                            let (r, gas_used) = self.engine.atomic(&mut mirrors, &plan, true);
                            for (p, m) in self.pools.iter_mut().zip(mirrors) {
                                p.pool = m;
                            }
                            let fallback =
                                if r.is_ok() { 2 * self.pools[b].spec.swap_gas } else { self.pools[b].spec.revert_gas };
                            let gas = gas_used.unwrap_or(fallback).min(plan.gas_limit);
                            math_gas += gas;
                            self.stats.our_swaps += 1;
                            if r.is_err() {
                                self.stats.our_reverts += 1;
                            }
                            out.push(OurTxResult {
                                order,
                                quote: r.as_ref().ok().map(|_| plan.quote_out),
                                gas_used: gas,
                                effective_gas_price: self.base_fee + tx.priority_fee_wei,
                                touched_before: touches[b] + touches[s],
                                revert_reason: r.err(),
                            });
                        }
                        TxKind::Rival => {}
                    }
                }
            }
        }
        // The block holds the rest of mainnet's transactions (the utilisation model, relative to the
        // target) plus ours and the simulated traders', as much gas as the EVM really used; the base
        // fee follows by EIP-1559's exact rule.
        let simulated = self.engine.end_block().unwrap_or(math_gas);
        let z: f64 = rng.sample(StandardNormal);
        let u = (self.spec.utilization_mean + self.spec.utilization_sigma * z).clamp(0.0, 2.0);
        let background = (u * (BLOCK_GAS_LIMIT / 2) as f64) as u64;
        let used = background.saturating_add(simulated).min(BLOCK_GAS_LIMIT);
        if !self.spec.fixed_base_fee {
            self.base_fee = next_base_fee(self.base_fee, used, BLOCK_GAS_LIMIT);
        }
    }

    /// A rival arbitrageur trades the pool to the fundamental if that pays at least its minimum.
    /// Like us, a rival pays gas: it only trades when the gap pays its gas and its minimum profit.
    fn rival_swap(&mut self, pool: PoolId, fundamental: f64, priority_fee_wei: Wei) -> bool {
        let i = pool.0 as usize;
        let p = &self.pools[i];
        let gas_quote = p.spec.swap_gas as f64 * (self.base_fee + priority_fee_wei) as f64 * 1e-18 * fundamental;
        let rb = crate::core::amount::u256_to_f64(p.pool.reserve_base) / self.base_scale;
        let rq = crate::core::amount::u256_to_f64(p.pool.reserve_quote) / self.quote_scale;
        let gamma = 1.0 - p.spec.fee_bps as f64 / 10_000.0;
        let price = fundamental;
        let min_profit = self.rivals.min_profit_quote as f64 / self.quote_scale + gas_quote;
        // Buy base with x quote when the pool is cheap: x* = (sqrt(P·γ·Rb·Rq) − Rq)/γ.
        let x = ((price * gamma * rb * rq).sqrt() - rq) / gamma;
        if x > 0.0 {
            let base_out = gamma * x * rb / (rq + gamma * x);
            if base_out * price - x >= min_profit {
                let op = SwapOp::QuoteIn { amount: U256::from((x * self.quote_scale) as u128), min_base: U256::ZERO };
                return self.engine.swap(i, &mut self.pools[i].pool, op, Trader::Rival, 0).result.is_ok();
            }
        }
        // Sell y base when the pool is dear: y* = (sqrt(γ·Rb·Rq/P) − Rb)/γ.
        let y = ((gamma * rb * rq / price).sqrt() - rb) / gamma;
        if y > 0.0 {
            let quote_out = gamma * y * rq / (rb + gamma * y);
            if quote_out - y * price >= min_profit {
                let op = SwapOp::BaseIn { amount: U256::from((y * self.base_scale) as u128), min_quote: U256::ZERO };
                return self.engine.swap(i, &mut self.pools[i].pool, op, Trader::Rival, 0).result.is_ok();
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DexEngine;
    use crate::core::rng::component_rng;
    use crate::market::pool_engine::{EvmPools, WalletFunding};

    const E18: u128 = 1_000_000_000_000_000_000;

    fn chain(engine: DexEngine) -> Chain {
        let spec = ChainSpec {
            dex_engine: engine,
            block_time: 12 * crate::core::NANOS_PER_SEC,
            base_fee_wei: 20_000_000_000,
            // A block exactly at target before our simulated transactions are added.
            utilization_mean: 1.0,
            utilization_sigma: 0.0,
            fixed_base_fee: false,
            fork: None,
        };
        let (rb, rq) = (U256::from(1_000 * E18), U256::from(3_000_000_000_000u128));
        let dex = DexSpecRun {
            name: "uni".into(),
            reserve_base: rb,
            reserve_quote: rq,
            fee_bps: 30,
            swap_gas: 120_000,
            revert_gas: 40_000,
        };
        let engine = match engine {
            DexEngine::Evm => PoolEngine::Evm(Box::new(
                EvmPools::new(1, 7, 6, &[(rb, rq)], WalletFunding { base: E18, quote: 10u128.pow(9), native: E18 })
                    .unwrap(),
            )),
            DexEngine::Math => PoolEngine::Math,
        };
        let pool =
            DexPool { id: PoolId(0), spec: dex, pool: CpPool { reserve_base: rb, reserve_quote: rq, fee_bps: 30 } };
        let rivals =
            RivalSpec { probability: 0.0, min_profit_quote: 0, priority_fee_median_gwei: 1.0, priority_fee_sigma: 0.0 };
        Chain::new(spec, rivals, vec![pool], engine, 18, 6)
    }

    /// The base fee follows EIP-1559 on the block's gas: with the background exactly at target, it
    /// rises by exactly what the simulated swaps used (the EVM's own figure, or the configured one).
    #[test]
    fn base_fee_follows_the_gas_the_block_used() {
        for engine in [DexEngine::Evm, DexEngine::Math] {
            let mut c = chain(engine);
            let mut rng = component_rng(1, "test");
            let before = c.base_fee;
            for i in 0..3u128 {
                let side = if i == 1 { Side::Sell } else { Side::Buy };
                let amount = if i == 1 { U256::from(E18) } else { U256::from(2_000_000_000u64) };
                c.submit(PoolId(0), 0, TxKind::Noise { side, amount });
            }
            let mut out = Vec::new();
            c.build_block(12 * crate::core::NANOS_PER_SEC, 3000.0, &mut rng, &mut out);
            assert_eq!(c.stats.noise_swaps, 3);
            let simulated = match &mut c.engine {
                PoolEngine::Evm(e) => e.chain.block_gas_used(),
                PoolEngine::Math => 3 * 120_000,
            };
            assert!(simulated > 3 * 50_000, "{engine:?}: {simulated}");
            let target = crate::core::BLOCK_GAS_LIMIT / 2;
            assert_eq!(c.base_fee, next_base_fee(before, target + simulated, crate::core::BLOCK_GAS_LIMIT));
            assert_eq!(c.base_fee, before + before * u128::from(simulated) / u128::from(target) / 8, "{engine:?}");
        }
    }
}
