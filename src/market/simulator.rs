//! ArbitrageSimulator: the whole simulated market of one run (fundamental price, CEX venues, DEX pools
//! on a simulated chain, the price feed and our balances), every component with its own seeded RNG.

use alloy_primitives::U256;

use super::cex::CexVenue;
use super::dex::{Chain, DexPool};
use super::feed::{PriceFeed, Verdict};
use super::latency::LatencyModel;
use super::price::Fundamental;
use crate::chain::ChainError;
use crate::config::{DexEngine, RunSpec};
use crate::core::Side;
use crate::core::rng::{SimRng, component_rng};
use crate::core::strategy::{AssetSpec, CexSpec, Inventory, MarketView, PoolSpec};
use crate::core::{AssetId, BlockInfo, BookSnapshot, PoolId, SimTime, VenueId};
use crate::market::amm::CpPool;
use crate::market::orderbook::{Fill, fill_ioc};
use crate::market::pool_engine::{EvmPools, PoolEngine, WalletFunding};

pub struct ArbitrageSimulator {
    pub fundamental: Fundamental,
    pub venues: Vec<CexVenue>,
    pub chain: Chain,
    pub feed: PriceFeed,
    pub inventory: Inventory,
    pub initial_inventory: Inventory,
    assets: Vec<AssetSpec>,
    cex_specs: Vec<CexSpec>,
    pool_specs: Vec<PoolSpec>,
    quote_decimals: u32,
    base_decimals: u32,
    pub rng_fundamental: SimRng,
    pub rng_books: Vec<SimRng>,
    pub rng_feed: Vec<SimRng>,
    pub rng_orders: Vec<SimRng>,
    pub rng_noise: SimRng,
    pub rng_chain: SimRng,
    /// Modelled feed latencies (ns), for the report's percentiles.
    pub feed_latencies: crate::market::latency::LatencySketch,
    pool_mids: Vec<f64>,
}

impl ArbitrageSimulator {
    /// Builds the market; with `dex_engine = "evm"` this deploys and seeds the contracts; with
    /// `[chain.fork]` the pools are the forked chain's, read where `[chain.fork]` says.
    pub fn new(spec: &RunSpec) -> Result<Self, crate::chain::ChainError> {
        Self::with_source(spec, None)
    }

    /// `new`, a forked chain read through `rpc` when given (e.g. a recorder around a node).
    pub fn with_source(
        spec: &RunSpec,
        rpc: Option<crate::chain::rpc::RpcSource>,
    ) -> Result<Self, crate::chain::ChainError> {
        let seed = spec.seed;
        let max_lag = spec.cex.iter().map(|c| c.lag).max().unwrap_or(0);
        let venues: Vec<CexVenue> = spec
            .cex
            .iter()
            .enumerate()
            .map(|(i, c)| CexVenue::new(VenueId(i as u16), c.clone(), spec.quote_decimals, spec.tick_interval))
            .collect();
        let pools: Vec<DexPool> = spec
            .dex
            .iter()
            .enumerate()
            .map(|(i, d)| DexPool {
                id: PoolId(i as u16),
                spec: d.clone(),
                pool: CpPool { reserve_base: d.reserve_base, reserve_quote: d.reserve_quote, fee_bps: d.fee_bps },
            })
            .collect();
        let (mut genesis_ts, mut number_base) = (super::dex::GENESIS_TIMESTAMP, 0);
        let engine = match spec.chain.dex_engine {
            // A chain started from real state: its own pools, at the pinned block.
            _ if spec.chain.fork.is_some() => {
                let fail = |e: crate::sim::fork::forked_chain::ForkedChainError| ChainError::Fork(e.to_string());
                let rpc = match rpc {
                    Some(rpc) => rpc,
                    None => crate::sim::fork::forked_chain::source(spec).map_err(fail)?,
                };
                let (db, head, venues) = crate::sim::fork::forked_chain::pin(spec, rpc).map_err(fail)?;
                (genesis_ts, number_base) = (head.timestamp, head.number);
                let funding =
                    WalletFunding { base: spec.wallet_base, quote: spec.wallet_quote, native: spec.wallet_native };
                PoolEngine::Evm(Box::new(EvmPools::forked(spec, db, head.timestamp, venues, funding)?))
            }
            DexEngine::Evm if !spec.dex.is_empty() => {
                let reserves: Vec<_> = spec.dex.iter().map(|d| (d.reserve_base, d.reserve_quote)).collect();
                let funding =
                    WalletFunding { base: spec.wallet_base, quote: spec.wallet_quote, native: spec.wallet_native };
                PoolEngine::Evm(Box::new(EvmPools::new(
                    spec.chain_id,
                    spec.seed,
                    spec.quote_decimals,
                    &reserves,
                    funding,
                )?))
            }
            _ => PoolEngine::Math,
        };
        let asset = AssetId(0);
        let cex_specs = super::cex::venue_specs(&spec.cex, asset);
        let pool_specs = spec
            .dex
            .iter()
            .enumerate()
            .map(|(i, d)| PoolSpec {
                id: PoolId(i as u16),
                name: d.name.clone(),
                asset,
                fee_bps: d.fee_bps,
                swap_gas: d.swap_gas,
            })
            .collect();
        let tick_values =
            spec.cex.iter().map(|c| c.tick_quote_raw as f64 / 10f64.powi(spec.quote_decimals as i32)).collect();
        let inventory = Inventory {
            cex_base: spec.cex.iter().map(|c| c.balance_base).collect(),
            cex_quote: spec.cex.iter().map(|c| c.balance_quote).collect(),
            wallet_base: vec![spec.wallet_base],
            wallet_quote: spec.wallet_quote,
            wallet_native: spec.wallet_native,
        };
        let mut sim = ArbitrageSimulator {
            fundamental: Fundamental::new(spec.price_model.clone(), spec.tick_interval, max_lag),
            rng_books: spec.cex.iter().map(|c| component_rng(seed, &format!("cex/{}/book", c.name))).collect(),
            rng_feed: spec.cex.iter().map(|c| component_rng(seed, &format!("cex/{}/feed", c.name))).collect(),
            rng_orders: spec.cex.iter().map(|c| component_rng(seed, &format!("cex/{}/orders", c.name))).collect(),
            venues,
            chain: Chain::new(
                spec.chain.clone(),
                spec.rivals.clone(),
                pools,
                engine,
                spec.base_decimals,
                spec.quote_decimals,
            ),
            feed: PriceFeed::new(tick_values, spec.feed_max_age, spec.feed_outlier_bps),
            initial_inventory: inventory.clone(),
            inventory,
            assets: vec![AssetSpec { id: asset, symbol: spec.base_symbol.clone(), decimals: spec.base_decimals }],
            cex_specs,
            pool_specs,
            quote_decimals: spec.quote_decimals,
            base_decimals: spec.base_decimals,
            rng_fundamental: component_rng(seed, "fundamental"),
            rng_noise: component_rng(seed, "noise_traders"),
            rng_chain: component_rng(seed, "chain"),
            feed_latencies: Default::default(),
            pool_mids: Vec::new(),
        };
        // On a fork the blocks carry the chain's numbers, counted from the pinned block.
        (sim.chain.genesis_ts, sim.chain.number_base, sim.chain.number) = (genesis_ts, number_base, number_base);
        if spec.chain.fork.is_some() {
            // A forked chain's pools start where the chain has them.
            sim.chain.engine.resync(&mut sim.chain.pools);
        }
        sim.refresh_pool_mids();
        Ok(sim)
    }

    /// Republishes venue `v`'s book; returns (slot, arrival delay) of the quote on its way to us.
    pub fn refresh_book(&mut self, v: VenueId, now: SimTime) -> (u32, SimTime) {
        let i = v.0 as usize;
        let lagged = self.fundamental.lagged(self.venues[i].lag_ticks());
        let book = self.venues[i].refresh(now, lagged, &mut self.rng_books[i]);
        let slot = self.feed.publish(book);
        let delay = self.venues[i].spec.feed_latency.sample(&mut self.rng_feed[i]);
        self.feed_latencies.record(delay);
        (slot, delay)
    }

    /// A quote reaches the feed; `true` when accepted (the strategy should hear of it).
    pub fn quote_arrives(&mut self, v: VenueId, slot: u32, now: SimTime) -> bool {
        self.feed.arrive(v, slot, now, &self.pool_mids) == Verdict::Accepted
    }

    /// Pool prices change only when a block is built; the feed's outlier check reads this cache.
    pub fn refresh_pool_mids(&mut self) {
        self.pool_mids = (0..self.chain.pools.len()).map(|p| self.pool_mid(PoolId(p as u16))).collect();
    }

    /// Pool spot price in quote units per whole base.
    pub fn pool_mid(&self, p: PoolId) -> f64 {
        let pool = &self.chain.pools[p.0 as usize].pool;
        let rb = crate::core::amount::u256_to_f64(pool.reserve_base) / 10f64.powi(self.base_decimals as i32);
        let rq = crate::core::amount::u256_to_f64(pool.reserve_quote) / 10f64.powi(self.quote_decimals as i32);
        rq / rb
    }

    /// The fundamental as an exact integer: quote raw units per whole base (used to mark inventory).
    pub fn fundamental_raw(&self) -> u128 {
        (self.fundamental.price() * 10f64.powi(self.quote_decimals as i32)).round() as u128
    }

    /// Value of the inventory change since the start, in quote raw units, marked at `mark`
    /// (quote raw per whole base). Gas spent in native ETH is marked at the same price.
    pub fn equity(&self, mark: u128) -> i128 {
        let a = &self.inventory;
        let b = &self.initial_inventory;
        let d = |x: u128, y: u128| x as i128 - y as i128;
        let quote: i128 = a.cex_quote.iter().zip(&b.cex_quote).map(|(x, y)| d(*x, *y)).sum::<i128>()
            + d(a.wallet_quote, b.wallet_quote);
        let base: i128 = a.cex_base.iter().zip(&b.cex_base).map(|(x, y)| d(*x, *y)).sum::<i128>()
            + a.wallet_base.iter().zip(&b.wallet_base).map(|(x, y)| d(*x, *y)).sum::<i128>()
            + d(a.wallet_native, b.wallet_native);
        quote + crate::core::base_to_quote(base, mark, self.base_decimals)
    }

    pub fn base_decimals(&self) -> u32 {
        self.base_decimals
    }

    /// An immediate-or-cancel order reaching venue `v`: fills against its live book, no deeper
    /// than `limit_ticks` and within our balance there (sells: the base we hold; buys: what the
    /// quote we hold pays for, fee included), and moves that balance.
    pub fn fill_ioc(&mut self, v: VenueId, side: Side, lots: u64, limit_ticks: u64) -> Fill {
        let i = v.0 as usize;
        let terms = super::cex::ioc_terms(&self.venues[i].spec);
        let inv = &mut self.inventory;
        fill_ioc(
            &mut self.venues[i].book,
            terms,
            (&mut inv.cex_base[i], &mut inv.cex_quote[i]),
            side,
            lots,
            limit_ticks,
        )
    }
}

impl MarketView for ArbitrageSimulator {
    fn assets(&self) -> &[AssetSpec] {
        &self.assets
    }
    fn quote_decimals(&self) -> u32 {
        self.quote_decimals
    }
    fn venues(&self) -> &[CexSpec] {
        &self.cex_specs
    }
    fn pools(&self) -> &[PoolSpec] {
        &self.pool_specs
    }
    fn book(&self, venue: VenueId) -> Option<&BookSnapshot> {
        self.feed.book(venue)
    }
    fn reserves(&self, pool: PoolId) -> (U256, U256) {
        let p = &self.chain.pools[pool.0 as usize].pool;
        (p.reserve_base, p.reserve_quote)
    }
    fn block(&self) -> BlockInfo {
        BlockInfo { number: self.chain.number, timestamp: self.chain.timestamp, base_fee_wei: self.chain.base_fee }
    }
    fn inventory(&self) -> &Inventory {
        &self.inventory
    }
    fn mark_price(&self, _asset: AssetId) -> Option<u128> {
        let scale = 10f64.powi(self.quote_decimals as i32);
        match self.feed.median_mid() {
            Some(m) => Some((m * scale).round() as u128),
            None if !self.chain.pools.is_empty() => Some((self.pool_mid(PoolId(0)) * scale).round() as u128),
            None => None,
        }
    }
}
