//! What the liquidation strategy knows of a lending market's contracts: the reserve tokens, their
//! pools against the quote token, the lending pool and its oracle, our flash liquidator and router,
//! and the routing between reserves; its reads go through any storage reader (a `ChainView`).

use alloy_primitives::{Address, U256};

use super::liquidation::{FlashRoute, Route};
use crate::chain::contracts::slots;
use crate::chain::simchain::nested_mapping_slot;
use crate::chain::world::DexDeployment;
use crate::market::lending::LendingMarket;

/// One reserve's token on the chain and its pool against the quote token (WETH: the first venue's
/// pair; the quote token itself: none).
#[derive(Clone, Debug)]
pub struct ReserveToken {
    pub symbol: String,
    pub address: Address,
    pub decimals: u8,
    pub quote_pair: Option<Address>,
}

#[derive(Clone, Debug)]
pub struct LendingBook {
    pub dex: DexDeployment,
    pub market: LendingMarket,
    pub tokens: Vec<ReserveToken>,
    /// Our `FlashLiquidator`, owned by the searcher wallet.
    pub flash: Address,
    pub router: Address,
    pub fee_bps: u32,
}

/// The quote token's reserve index (WETH is 0).
pub const QUOTE: usize = 1;

impl LendingBook {
    /// The pair holding reserves `a` and `b` directly (one of them the quote token, or WETH/quote).
    pub fn pair_between(&self, a: usize, b: usize) -> Option<Address> {
        match (a, b) {
            (QUOTE, x) | (x, QUOTE) if x != QUOTE => self.tokens[x].quote_pair,
            _ => None,
        }
    }

    /// Reserve indices from `from` to `to` through the quote token when there is no direct pair.
    pub fn path(&self, from: usize, to: usize) -> Option<Vec<usize>> {
        if from == to {
            return None;
        }
        if self.pair_between(from, to).is_some() {
            return Some(vec![from, to]);
        }
        (self.pair_between(from, QUOTE).is_some() && self.pair_between(QUOTE, to).is_some())
            .then(|| vec![from, QUOTE, to])
    }

    /// As `pair_reserves`, through any storage reader (a strategy's `ChainView`).
    pub fn pair_reserves_with(
        &self,
        storage: &mut dyn FnMut(Address, U256) -> U256,
        a: usize,
        b: usize,
    ) -> Option<(U256, U256)> {
        let packed = storage(self.pair_between(a, b)?, U256::from(self.dex.reserves_slot));
        let mask = (U256::from(1u8) << 112) - U256::from(1u8);
        let (r0, r1) = (packed & mask, (packed >> 112) & mask);
        Some(if self.tokens[a].address < self.tokens[b].address { (r0, r1) } else { (r1, r0) })
    }

    /// The sale path from collateral `c` to debt `d` with each pool's reserves, given the pairs'
    /// current reserves `pairs` (see `pair_reserves`).
    pub fn route(&self, pairs: &PairBook, c: usize, d: usize) -> Option<Route> {
        let path = self.path(c, d)?;
        let hops = path.windows(2).map(|w| pairs.get(w[0], w[1])).collect::<Option<Vec<_>>>()?;
        Some(Route { hops, fee_bps: self.fee_bps })
    }

    /// Where a flash swap for collateral `c` and debt `d` borrows: their own pair, or else the
    /// debt's pair against the quote token, paid back with quote bought on the collateral's pair.
    pub fn flash_route(&self, pairs: &PairBook, c: usize, d: usize) -> Option<FlashRoute> {
        if self.pair_between(c, d).is_some() {
            return pairs.get(c, d).map(FlashRoute::Direct);
        }
        (c != QUOTE && d != QUOTE && self.pair_between(QUOTE, d).is_some() && self.pair_between(c, QUOTE).is_some())
            .then(|| Some(FlashRoute::Via { debt_pair: pairs.get(QUOTE, d)?, collateral_pair: pairs.get(c, QUOTE)? }))
            .flatten()
    }

    pub fn addresses(&self, path: &[usize]) -> Vec<Address> {
        path.iter().map(|&i| self.tokens[i].address).collect()
    }

    /// As `position`, through any storage reader (a strategy's `ChainView`).
    pub fn position_with(
        &self,
        storage: &mut dyn FnMut(Address, U256) -> U256,
        user: Address,
    ) -> (Vec<U256>, Vec<U256>) {
        let pool = self.market.pool;
        let mut read = |slot| -> Vec<U256> {
            self.tokens.iter().map(|t| storage(pool, nested_mapping_slot(user, t.address, slot))).collect()
        };
        let c = read(slots::POOL_COLLATERAL);
        (c, read(slots::POOL_DEBT))
    }
}

/// Pair reserves the strategy sizes against, keyed by (reserve, reserve) and updated as our own
/// planned sales move them within a block.
#[derive(Clone, Debug, Default)]
pub struct PairBook {
    pairs: std::collections::BTreeMap<(usize, usize), (U256, U256)>,
}

impl PairBook {
    pub fn read_with(world: &LendingBook, storage: &mut dyn FnMut(Address, U256) -> U256) -> Self {
        let mut pairs = std::collections::BTreeMap::new();
        for x in 0..world.tokens.len() {
            if let Some(r) = world.pair_reserves_with(storage, x, QUOTE) {
                pairs.insert((x, QUOTE), r);
            }
        }
        PairBook { pairs }
    }

    /// (reserve of `a`, reserve of `b`).
    pub fn get(&self, a: usize, b: usize) -> Option<(U256, U256)> {
        self.pairs.get(&(a, b)).copied().or_else(|| self.pairs.get(&(b, a)).map(|&(x, y)| (y, x)))
    }

    /// `amount_in` of `a` went into the (a, b) pair and `amount_out` of `b` came out.
    pub fn trade(&mut self, a: usize, b: usize, amount_in: U256, amount_out: U256) {
        if let Some(r) = self.pairs.get_mut(&(a, b)) {
            *r = (r.0 + amount_in, r.1.saturating_sub(amount_out));
        } else if let Some(r) = self.pairs.get_mut(&(b, a)) {
            *r = (r.0.saturating_sub(amount_out), r.1 + amount_in);
        }
    }
}
