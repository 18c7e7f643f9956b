//! The lending market a fork run watches (`[fork.lending]`): read from the chain at the first pin
//! — the pool's reserves list and risk parameters, its oracle and that oracle's prices and owner,
//! each further reserve's pair against the quote token through the pools' factory, the borrowers
//! (listed, or every `onBehalfOf` of the pool's Supply and Borrow events up to the pin) and their
//! positions — and what actually happened to them: each `LiquidationCall` in a landed block,
//! valued at the oracle's prices at that point of the block.
//!
//! The strategy reads positions from storage (the `collateralOf`/`debtOf` mappings of xcrack's
//! `LendingPool`); a pool whose getters disagree with those slots is refused at the pin rather
//! than read wrongly.

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{SolCall, SolEvent};

use super::ForkRunError;
use crate::chain::contracts::{self, ILendingPool, IPriceOracle, ITestERC20, IUniswapV2Factory, IUniswapV2Router02};
use crate::chain::fork::{ForkDb, Pin};
use crate::chain::rpc::{LandedTx, RpcSource};
use crate::chain::simchain::nested_mapping_slot;
use crate::chain::world::DexDeployment;
use crate::chain::{ChainError, SimChain};
use crate::config::{ForkLending, ForkSpec, RunSpec};
use crate::market::lending::{LendingMarket, Reserve, unit};
use crate::strategies::lending_book::{LendingBook, QUOTE, ReserveToken};
use crate::strategies::liquidation::Borrower;

type Chain = SimChain<ForkDb<RpcSource>>;

/// Most reserves read from a pool's list (Aave v3 caps it at 128).
const MAX_RESERVES: u64 = 128;

/// The market as read at the first pin, and what changes per pin (prices, positions).
pub struct ForkLendingMarket {
    /// Tokens in the strategy's order: WETH, the quote token, then the pool's list order.
    pub book: LendingBook,
    /// Risk parameters with the oracle's prices at the head.
    pub reserves: Vec<Reserve>,
    pub borrowers: Vec<Address>,
    /// (collateral, debt) per borrower at the head, raw units per reserve.
    pub positions: Vec<(Vec<U256>, Vec<U256>)>,
    /// Who posts the oracle's prices (its `owner()`); updates from anyone else are not announced.
    pub operator: Address,
}

/// A liquidation someone made in a block as it landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RivalLiquidation {
    pub block: u64,
    pub tx: B256,
    /// The event's liquidator (the contract or account that called the pool).
    pub liquidator: Address,
    pub borrower: Address,
    /// Reserve indices (the strategy's order).
    pub collateral: usize,
    pub debt: usize,
    pub repaid_raw: U256,
    pub seized_raw: U256,
    /// Seized value above repaid value at the oracle's prices where the liquidation stood in its
    /// block (base currency, 8 decimals): the bonus, before its gas and whatever selling the
    /// collateral gained or lost.
    pub bonus_base: i128,
    pub gas_wei: u128,
}

impl ForkLendingMarket {
    /// Reads the market on `chain` (the pinned state with our overlay; only views run).
    pub fn read(
        chain: &mut Chain,
        rpc: &RpcSource,
        pin: &Pin,
        fork: &ForkSpec,
        l: &ForkLending,
        dex: DexDeployment,
        fee_bps: u32,
    ) -> Result<Self, ForkRunError> {
        let me = dex.searcher;
        let pool = l.pool;
        let oracle =
            view::<ILendingPool::oracleCall>(chain, me, pool, ILendingPool::oracleCall {}, "fork.lending.pool")?;
        let mut listed = Vec::new();
        for i in 0..MAX_RESERVES {
            let o =
                chain.view(me, pool, ILendingPool::reservesListCall { index: U256::from(i) }.abi_encode().into())?;
            match ILendingPool::reservesListCall::abi_decode_returns(&o.output) {
                Ok(a) if o.success => listed.push(a),
                _ => break,
            }
        }
        for (token, key) in [(fork.weth, "fork.weth"), (fork.quote, "fork.quote")] {
            if !listed.contains(&token) {
                return Err(config("fork.lending.pool", format!("{pool} does not list {key} ({token}) as a reserve")));
            }
        }
        let order: Vec<Address> = [fork.weth, fork.quote]
            .into_iter()
            .chain(listed.iter().copied().filter(|a| *a != fork.weth && *a != fork.quote))
            .collect();
        let factory = match dex.venues[0].factory {
            f if !f.is_zero() => f,
            _ => view::<IUniswapV2Router02::factoryCall>(
                chain,
                me,
                dex.venues[0].router,
                IUniswapV2Router02::factoryCall {},
                "fork.pools[0].router",
            )?,
        };
        let mut tokens = Vec::with_capacity(order.len());
        let mut reserves = Vec::with_capacity(order.len());
        for (i, &asset) in order.iter().enumerate() {
            let c = view::<ILendingPool::reservesCall>(
                chain,
                me,
                pool,
                ILendingPool::reservesCall { asset },
                "fork.lending.pool",
            )?;
            if !c.active {
                return Err(config("fork.lending.pool", format!("reserve {asset} is listed but not active")));
            }
            let price = view::<IPriceOracle::getAssetPriceCall>(
                chain,
                me,
                oracle,
                IPriceOracle::getAssetPriceCall { asset },
                "fork.lending.pool",
            )?;
            if price.is_zero() {
                return Err(config("fork.lending.pool", format!("its oracle {oracle} has no price for {asset}")));
            }
            let symbol = chain
                .view(me, asset, ITestERC20::symbolCall {}.abi_encode().into())
                .ok()
                .filter(|o| o.success)
                .and_then(|o| ITestERC20::symbolCall::abi_decode_returns(&o.output).ok())
                .filter(|s| !s.is_empty() && s.len() <= 32)
                .unwrap_or_else(|| format!("{asset}"));
            let quote_pair = match i {
                0 => Some(dex.venues[0].pair),
                QUOTE => None,
                _ => {
                    let get = IUniswapV2Factory::getPairCall { tokenA: asset, tokenB: fork.quote };
                    Some(view::<IUniswapV2Factory::getPairCall>(chain, me, factory, get, "fork.pools[0]")?)
                        .filter(|p| !p.is_zero())
                }
            };
            tokens.push(ReserveToken { symbol, address: asset, decimals: c.decimals, quote_pair });
            reserves.push(Reserve {
                ltv: c.ltv,
                liquidation_threshold: c.liquidationThreshold,
                liquidation_bonus: c.liquidationBonus,
                decimals: c.decimals,
                price,
            });
        }
        // The oracle's owner posts prices; an oracle without one has no updates we can read.
        let operator = chain
            .view(me, oracle, IPriceOracle::ownerCall {}.abi_encode().into())
            .ok()
            .filter(|o| o.success)
            .and_then(|o| IPriceOracle::ownerCall::abi_decode_returns(&o.output).ok())
            .unwrap_or_default();
        let borrowers = borrowers_of(rpc, pin, l)?;
        let book = LendingBook {
            dex,
            market: LendingMarket { pool, oracle },
            tokens,
            flash: Address::ZERO,
            router: Address::ZERO,
            fee_bps,
        };
        let mut market = ForkLendingMarket { book, reserves, borrowers, positions: Vec::new(), operator };
        market.book.router = market.book.dex.venues[0].router;
        chain.db().db.prefetch(&market.position_slots()).map_err(ForkRunError::Fork)?;
        market.check_layout(chain)?;
        market.positions = market.read_positions(chain);
        market.warm_balances(chain);
        Ok(market)
    }

    /// Every borrower's two slots per reserve (one batch before the positions are read).
    fn position_slots(&self) -> Vec<(Address, U256)> {
        let pool = self.book.market.pool;
        let mut slots = Vec::with_capacity(self.borrowers.len() * self.book.tokens.len() * 2);
        for &user in &self.borrowers {
            for t in &self.book.tokens {
                for s in [contracts::slots::POOL_COLLATERAL, contracts::slots::POOL_DEBT] {
                    slots.push((pool, nested_mapping_slot(user, t.address, s)));
                }
            }
        }
        slots
    }

    /// The pool's `collateralOf`/`debtOf` getters must read what the strategy reads from storage,
    /// for the first borrowers with a position.
    fn check_layout(&self, chain: &mut Chain) -> Result<(), ForkRunError> {
        let me = self.book.dex.searcher;
        let pool = self.book.market.pool;
        for &user in self.borrowers.iter().take(16) {
            let (c, d) = self.book.position_with(&mut |a, s| chain.storage_ref(a, s), user);
            let mut any = false;
            for (i, t) in self.book.tokens.iter().enumerate() {
                let asset = t.address;
                let gc = view::<ILendingPool::collateralOfCall>(
                    chain,
                    me,
                    pool,
                    ILendingPool::collateralOfCall { user, asset },
                    "fork.lending.pool",
                )?;
                let gd = view::<ILendingPool::debtOfCall>(
                    chain,
                    me,
                    pool,
                    ILendingPool::debtOfCall { user, asset },
                    "fork.lending.pool",
                )?;
                if (gc, gd) != (c[i], d[i]) {
                    return Err(config(
                        "fork.lending.pool",
                        format!(
                            "{pool}'s collateralOf/debtOf of {user} in {asset} are not at xcrack's LendingPool slots \
                             ({}, {}): fork mode reads that layout only",
                            contracts::slots::POOL_COLLATERAL,
                            contracts::slots::POOL_DEBT
                        ),
                    ));
                }
                any |= !(gc.is_zero() && gd.is_zero());
            }
            if any {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Reads the balances a liquidation moves (the pool's and the pairs' in every reserve token,
    /// ours) once here, so that the first bundle's simulation asks the node nothing; later pins
    /// prefetch them with the rest of what the pin before read.
    fn warm_balances(&self, chain: &mut Chain) {
        let b = &self.book;
        let me = b.dex.searcher;
        let mut holders = vec![b.market.pool, me];
        holders.extend(b.tokens.iter().filter_map(|t| t.quote_pair));
        for t in &b.tokens {
            for &owner in &holders {
                let _ = chain.view(me, t.address, ITestERC20::balanceOfCall { owner }.abi_encode().into());
            }
        }
    }

    /// Every borrower's position at the head.
    pub fn read_positions(&self, chain: &Chain) -> Vec<(Vec<U256>, Vec<U256>)> {
        self.borrowers.iter().map(|&u| self.book.position_with(&mut |a, s| chain.storage_ref(a, s), u)).collect()
    }

    /// The oracle's prices at the head (a failed read keeps the last price; the source's failure
    /// ends the run anyway).
    pub fn read_prices(&mut self, chain: &mut Chain) {
        let (me, oracle) = (self.book.dex.searcher, self.book.market.oracle);
        for (r, t) in self.reserves.iter_mut().zip(&self.book.tokens) {
            let call = IPriceOracle::getAssetPriceCall { asset: t.address };
            if let Ok(p) = view::<IPriceOracle::getAssetPriceCall>(chain, me, oracle, call, "fork.lending.pool") {
                r.price = p;
            }
        }
    }

    /// The strategy's watch list: every borrower with its position at the head.
    pub fn watch_list(&self) -> Vec<Borrower> {
        self.borrowers
            .iter()
            .zip(&self.positions)
            .map(|(&user, (c, d))| Borrower { user, collateral: c.clone(), debt: d.clone() })
            .collect()
    }

    /// Our overlay for liquidations: the flash liquidator (owned by us) and our approvals of the
    /// pool (repayments) and the router (sales) for every reserve token.
    pub fn lay(&mut self, chain: &mut Chain) -> Result<(), ChainError> {
        let me = self.book.dex.searcher;
        self.book.flash = chain.deploy(
            me,
            contracts::flash_liquidator(),
            &alloy_sol_types::SolValue::abi_encode(&self.book.market.pool),
        )?;
        for t in &self.book.tokens {
            for spender in [self.book.market.pool, self.book.router] {
                let approve = ITestERC20::approveCall { spender, value: U256::MAX }.abi_encode();
                chain.call(me, t.address, approve.into(), U256::ZERO)?.require("approve (a lending reserve)")?;
            }
        }
        Ok(())
    }

    /// The pool's liquidations in a landed block, valued at the oracle's prices as the block's own
    /// price updates before each one left them (`reserves`: the prices at its parent).
    pub fn liquidations_in(&self, txs: &[LandedTx], block: u64) -> Vec<RivalLiquidation> {
        let mut prices: Vec<U256> = self.reserves.iter().map(|r| r.price).collect();
        let index = |topic: &B256| self.book.tokens.iter().position(|t| t.address == Address::from_word(*topic));
        let mut found = Vec::new();
        for t in txs.iter().filter(|t| t.success) {
            for l in &t.logs {
                if l.address == self.book.market.oracle
                    && l.topics.first() == Some(&IPriceOracle::AssetPriceUpdated::SIGNATURE_HASH)
                    && let (Some(i), Some(word)) = (l.topics.get(1).and_then(index), l.data.get(..32))
                {
                    prices[i] = U256::from_be_slice(word);
                    continue;
                }
                if l.address != self.book.market.pool
                    || l.topics.first() != Some(&ILendingPool::LiquidationCall::SIGNATURE_HASH)
                    || l.topics.len() != 4
                    || l.data.len() < 96
                {
                    continue;
                }
                let (Some(c), Some(d)) = (index(&l.topics[1]), index(&l.topics[2])) else { continue };
                let word = |i: usize| U256::from_be_slice(&l.data[32 * i..32 * (i + 1)]);
                let (repaid, seized) = (word(0), word(1));
                let value = |i: usize, amount: U256| {
                    (amount * prices[i] / unit(self.reserves[i].decimals)).saturating_to::<i128>()
                };
                found.push(RivalLiquidation {
                    block,
                    tx: t.hash,
                    liquidator: Address::from_word(B256::from(word(2))),
                    borrower: Address::from_word(l.topics[3]),
                    collateral: c,
                    debt: d,
                    repaid_raw: repaid,
                    seized_raw: seized,
                    bonus_base: value(c, seized) - value(d, repaid),
                    gas_wei: u128::from(t.gas_used) * t.effective_gas_price,
                });
            }
        }
        found
    }
}

/// The borrowers to watch: those listed, then every `onBehalfOf` of the pool's Supply and Borrow
/// events from `events_from` to the pin, in first-seen order, at most `max_borrowers`.
fn borrowers_of(rpc: &RpcSource, pin: &Pin, l: &ForkLending) -> Result<Vec<Address>, ForkRunError> {
    let mut out = l.borrowers.clone();
    let Some(from) = l.events_from else { return Ok(out) };
    if from > pin.number {
        return Err(config(
            "fork.lending.borrowers_from_block",
            format!("is {from}, after the pinned block {} (no lookahead)", pin.number),
        ));
    }
    let signatures = [ILendingPool::Supply::SIGNATURE_HASH, ILendingPool::Borrow::SIGNATURE_HASH];
    for (_, log) in rpc.logs(pin, l.pool, &signatures, from)? {
        let Some(user) = log.topics.get(2).map(|t| Address::from_word(*t)) else { continue };
        if out.contains(&user) {
            continue;
        }
        if out.len() == l.max_borrowers {
            return Err(config(
                "fork.lending.max_borrowers",
                format!(
                    "the pool's events from block {from} name more than {} borrowers: raise it or start later",
                    l.max_borrowers
                ),
            ));
        }
        out.push(user);
    }
    Ok(out)
}

/// A view call's decoded answer; a revert or an undecodable answer is `key`'s error.
fn view<C: SolCall>(
    chain: &mut Chain,
    from: Address,
    to: Address,
    call: C,
    key: &str,
) -> Result<C::Return, ForkRunError> {
    let o = chain.view(from, to, call.abi_encode().into())?;
    if !o.success {
        return Err(config(key, format!("{to}: {} reverted", C::SIGNATURE)));
    }
    C::abi_decode_returns(&o.output).map_err(|e| config(key, format!("{to}: {}: {e}", C::SIGNATURE)))
}

fn config(key: &str, message: String) -> ForkRunError {
    ForkRunError::Config { key: key.into(), message }
}

/// `[fork.lending]`'s tokens beside the pools' (WETH and the quote token): their symbols must be
/// allowed for a bundle moving them to pass the risk gate.
pub fn moves_foreign_reserve(spec: &RunSpec, m: &ForkLendingMarket, flows: &[(Address, i128)]) -> bool {
    flows.iter().any(|(t, f)| {
        *f != 0
            && m.book.tokens.iter().enumerate().find(|(_, x)| x.address == *t).is_none_or(|(i, x)| {
                let safety = &spec.safety;
                // WETH stands for the base asset (allowed as ETH or WETH) and the quote token for
                // the scenario's quote symbol, as in a backtest.
                let named = match i {
                    0 => safety.allows(&spec.base_symbol) || safety.allows(&format!("W{}", spec.base_symbol)),
                    QUOTE => safety.allows(&spec.quote_symbol),
                    _ => false,
                };
                !(named || safety.allows(&x.symbol))
            })
    })
}
