//! Genesis of a lending scenario on the SimChain: the DEX (WETH/quote pair), one ERC-20 and one
//! pool against the quote token per further reserve, the Aave-v3-compatible pool and its oracle
//! with every reserve, and our flash-swap liquidator. Also what the block loop asks of that world:
//! sale paths and pair reserves between two reserves, balances, positions and the arbitrageur who
//! keeps every pool at the market.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, SolValue};
use revm::database::DatabaseRef;

use crate::chain::contracts::{self, ITestERC20, IUniswapV2Router02, slots};
use crate::chain::simchain::{mapping_slot, nested_mapping_slot};
use crate::chain::world::{DexDeployment, deploy_dex_for};
use crate::chain::{ChainError, SimChain};
use crate::config::{ReserveSpec, RunSpec};
use crate::market::lending::{self, Reserve};
use rand::RngExt;
use rand_distr::StandardNormal;

use crate::chain::simchain::actor;
use crate::core::rng::component_rng;
use crate::strategies::lending_book::LendingBook;
pub use crate::strategies::lending_book::{PairBook, QUOTE, ReserveToken};
use crate::strategies::liquidation::Borrower;

/// The lending market on our simulated chain: its address book, and what genesis and the world do
/// to the chain (deploy, set positions, fund, arbitrage).
#[derive(Clone, Debug)]
pub struct LendingWorld {
    pub book: LendingBook,
}

impl std::ops::Deref for LendingWorld {
    type Target = LendingBook;
    fn deref(&self) -> &LendingBook {
        &self.book
    }
}

impl LendingWorld {
    /// Deploys everything for `spec`'s reserves at oracle prices `prices` (8 decimals, reserve
    /// order) on `dex` (the WETH/quote pools already on the chain) or on a DEX of its own;
    /// `searcher` owns the executor and the flash liquidator, `operator` the oracle.
    pub fn deploy<X: DatabaseRef>(
        chain: &mut SimChain<X>,
        spec: &RunSpec,
        searcher: Address,
        operator: Address,
        prices: &[u128],
        dex: Option<DexDeployment>,
    ) -> Result<(Self, Vec<Reserve>), ChainError> {
        let dex = match dex {
            Some(dex) => dex,
            None => {
                let reserves_dex: Vec<_> = spec.dex.iter().map(|d| (d.reserve_base, d.reserve_quote)).collect();
                deploy_dex_for(chain, spec.quote_decimals as u8, &reserves_dex, searcher)?
            }
        };
        let venue = dex.venues[0].clone();
        let specs = &spec.lending.reserves;
        let mut tokens = vec![
            ReserveToken {
                symbol: specs[0].symbol.clone(),
                address: dex.weth,
                decimals: 18,
                quote_pair: Some(venue.pair),
            },
            ReserveToken {
                symbol: specs[QUOTE].symbol.clone(),
                address: dex.usdc,
                decimals: spec.quote_decimals as u8,
                quote_pair: None,
            },
        ];
        for r in &specs[2..] {
            tokens.push(deploy_reserve_token(chain, &dex, venue.router, venue.factory, r)?);
        }
        let listed: Vec<(Address, Reserve)> = specs
            .iter()
            .zip(&tokens)
            .zip(prices)
            .map(|((s, t), &p)| {
                (
                    t.address,
                    Reserve {
                        ltv: s.ltv,
                        liquidation_threshold: s.liquidation_threshold,
                        liquidation_bonus: s.liquidation_bonus,
                        decimals: t.decimals,
                        price: U256::from(p),
                    },
                )
            })
            .collect();
        let (market, reserves) = lending::deploy_market_with(chain, operator, &listed)?;
        let flash = chain.deploy(searcher, contracts::flash_liquidator(), &market.pool.abi_encode())?;
        let book = LendingBook { dex, market, tokens, flash, router: venue.router, fee_bps: spec.dex[0].fee_bps };
        let world = LendingWorld { book };
        Ok((world, reserves))
    }

    /// The pair's reserves as (reserve of `a`, reserve of `b`), read from its packed slot.
    pub fn pair_reserves<X: DatabaseRef>(&self, chain: &mut SimChain<X>, a: usize, b: usize) -> Option<(U256, U256)> {
        self.pair_reserves_with(&mut |c, s| chain.storage(c, s), a, b)
    }

    pub fn balance_of<X: DatabaseRef>(
        &self,
        chain: &mut SimChain<X>,
        who: Address,
        i: usize,
    ) -> Result<U256, ChainError> {
        let o =
            chain.view(who, self.tokens[i].address, ITestERC20::balanceOfCall { owner: who }.abi_encode().into())?;
        Ok(U256::from_be_slice(o.output.get(..32).unwrap_or_default()))
    }

    /// Writes `user`'s balances into the lending pool and makes sure the pool holds the
    /// collateral it may pay out (WETH9 and our ERC-20 keep balances at the same slot).
    pub fn set_position<X: DatabaseRef>(
        &self,
        chain: &mut SimChain<X>,
        user: Address,
        collateral: &[U256],
        debt: &[U256],
    ) {
        let pool = self.market.pool;
        for (i, t) in self.tokens.iter().enumerate() {
            let c = collateral.get(i).copied().unwrap_or_default();
            let old = chain.storage(pool, nested_mapping_slot(user, t.address, slots::POOL_COLLATERAL));
            chain.set_storage(pool, nested_mapping_slot(user, t.address, slots::POOL_COLLATERAL), c);
            chain.set_storage(
                pool,
                nested_mapping_slot(user, t.address, slots::POOL_DEBT),
                debt.get(i).copied().unwrap_or_default(),
            );
            if c > old {
                let slot = mapping_slot(pool, slots::ERC20_BALANCES);
                let held = chain.storage(t.address, slot);
                chain.set_storage(t.address, slot, held + (c - old));
            }
        }
    }

    /// `user`'s balances as the pool holds them.
    pub fn position<X: DatabaseRef>(&self, chain: &mut SimChain<X>, user: Address) -> (Vec<U256>, Vec<U256>) {
        self.position_with(&mut |c, s| chain.storage(c, s), user)
    }

    /// Deep pockets in every reserve token (market participants standing for the rest of the
    /// market), with the router and the lending pool approved.
    pub fn fund_deep<X: DatabaseRef>(&self, chain: &mut SimChain<X>, who: Address) -> Result<(), ChainError> {
        self.dex.fund_deep(chain, who)?;
        for t in &self.tokens[2..] {
            chain.set_storage(t.address, mapping_slot(who, slots::ERC20_BALANCES), U256::from(1u128 << 100));
        }
        let approvals: Vec<_> =
            self.tokens.iter().flat_map(|t| [(t.address, self.router), (t.address, self.market.pool)]).collect();
        self.dex.approve(chain, who, &approvals)
    }

    /// The arbitrageur swaps each pool against the quote token back to the market price
    /// (`prices`, 8 decimals per reserve), stopping within the fee band as a real one would; only
    /// the pools of reserves `from` onwards.
    pub fn arbitrage<X: DatabaseRef>(&self, chain: &mut SimChain<X>, arb: Address, prices: &[u128], from: usize) {
        for x in (from..self.tokens.len()).filter(|&x| self.pair_between(x, QUOTE).is_some()) {
            let Some((rx, rq)) = self.pair_reserves(chain, x, QUOTE) else { continue };
            let (dx, dq) = (10f64.powi(self.tokens[x].decimals.into()), 10f64.powi(self.tokens[QUOTE].decimals.into()));
            let (bx, bq) = (crate::core::amount::u256_to_f64(rx) / dx, crate::core::amount::u256_to_f64(rq) / dq);
            let target = prices[x] as f64 / prices[QUOTE].max(1) as f64;
            let target_x = (bx * bq / target).sqrt();
            let (amount, path) = if target_x > bx * 1.0001 {
                // Pool price above the market: sell the token into it.
                (((target_x - bx) * dx) as u128, [x, QUOTE])
            } else if target_x < bx * 0.9999 {
                ((((bx * bq * target).sqrt() - bq) * dq) as u128, [QUOTE, x])
            } else {
                continue;
            };
            if amount == 0 {
                continue;
            }
            let call = IUniswapV2Router02::swapExactTokensForTokensCall {
                amountIn: U256::from(amount),
                amountOutMin: U256::ZERO,
                path: self.addresses(&path),
                to: arb,
                deadline: U256::MAX,
            };
            let _ = chain.call(arb, self.router, call.abi_encode().into(), U256::ZERO);
        }
    }
}

/// The scenario's generated borrowers (collateral value lognormal in ETH at `eth0`, assets by the
/// mixes, debt for a uniform starting health factor) followed by the declared ones.
pub fn scenario_borrowers(spec: &RunSpec, eth0: f64) -> Vec<Borrower> {
    let lend = &spec.lending;
    let n = lend.reserves.len();
    let mut borrowers = Vec::new();
    let mut rng_b = component_rng(spec.seed, "lending/borrowers");
    let zeros = vec![U256::ZERO; n];
    let mut rng_mix = component_rng(spec.seed, "lending/borrower-mix");
    let usd_of = |i: usize| if i == 0 { eth0 } else { lend.reserves[i].price_usd };
    for i in 0..lend.borrowers {
        let z: f64 = rng_b.sample(StandardNormal);
        let coll_eth = lend.collateral_median_eth * (lend.collateral_sigma * z).exp();
        let hf = lend.health_min + (lend.health_max - lend.health_min) * rng_b.random::<f64>();
        let mut b =
            Borrower { user: actor(&format!("lending/borrower-{i}")), collateral: zeros.clone(), debt: zeros.clone() };
        // Collateral: one asset by the mix, sometimes split half and half with a second.
        let first = pick(&lend.collateral_mix, &[], &mut rng_mix);
        let second = (rng_mix.random::<f64>() < lend.second_collateral_probability)
            .then(|| pick(&lend.collateral_mix, &[first], &mut rng_mix))
            .filter(|&c| c != first);
        let parts: Vec<(usize, f64)> = match second {
            Some(c) => vec![(first, coll_eth / 2.0), (c, coll_eth / 2.0)],
            None => vec![(first, coll_eth)],
        };
        let mut borrow_usd = 0.0;
        for &(c, eth) in &parts {
            let r = &lend.reserves[c];
            b.collateral[c] = U256::from(if c == 0 {
                (eth * 1e18) as u128
            } else {
                (eth * eth0 / r.price_usd * 10f64.powi(r.decimals.into())) as u128
            });
            borrow_usd += eth * eth0 * f64::from(r.liquidation_threshold) / 1e4;
        }
        let held: Vec<usize> = parts.iter().map(|p| p.0).collect();
        let d = pick(&lend.debt_mix, &held, &mut rng_mix);
        if !held.contains(&d) {
            let dec = 10f64.powi(lend.reserves[d].decimals.into());
            b.debt[d] = U256::from((borrow_usd / hf / usd_of(d) * dec) as u128);
        }
        borrowers.push(b);
    }
    for d in &lend.declared {
        let user = actor(&format!("lending/declared/{}", d.name));
        borrowers.push(Borrower { user, collateral: d.collateral.clone(), debt: d.debt.clone() });
    }
    borrowers
}

/// A reserve index drawn by `mix`'s weights among those not in `exclude` (the first allowed one
/// when nothing else is left).
fn pick(mix: &[(usize, f64)], exclude: &[usize], rng: &mut impl rand::Rng) -> usize {
    let allowed: Vec<(usize, f64)> = mix.iter().copied().filter(|(i, _)| !exclude.contains(i)).collect();
    let total: f64 = allowed.iter().map(|x| x.1).sum();
    let mut u = rng.random::<f64>() * total;
    for &(i, w) in &allowed {
        if u < w {
            return i;
        }
        u -= w;
    }
    allowed.last().or(mix.first()).map(|x| x.0).unwrap_or(0)
}

/// A further reserve's ERC-20 and its pool against the quote token, seeded by the deployer.
fn deploy_reserve_token<X: DatabaseRef>(
    chain: &mut SimChain<X>,
    dex: &DexDeployment,
    router: Address,
    factory: Address,
    r: &ReserveSpec,
) -> Result<ReserveToken, ChainError> {
    let deployer = dex.deployer;
    let args = (r.symbol.clone(), r.symbol.clone(), U256::from(r.decimals)).abi_encode_params();
    let token = chain.deploy(deployer, contracts::test_erc20(), &args)?;
    let quote_pair = match r.pool {
        None => None,
        Some((amount, quote)) => {
            let mint = |c: &mut SimChain<X>, t: Address, value: U256, what: &'static str| {
                let data = ITestERC20::mintCall { to: deployer, value }.abi_encode();
                c.call_with(deployer, t, data.into(), U256::ZERO, 15_000_000, 0).and_then(|o| o.require(what))
            };
            mint(chain, token, amount, "mint")?;
            mint(chain, dex.usdc, quote, "USDC.mint")?;
            Some(crate::chain::world::seed_pool(
                chain,
                deployer,
                (factory, router),
                (token, dex.usdc),
                (amount, quote),
            )?)
        }
    };
    Ok(ReserveToken { symbol: r.symbol.clone(), address: token, decimals: r.decimals, quote_pair })
}
