//! The liquidation backtest: borrowers on our Aave-v3-compatible pool, an oracle that follows the
//! simulated ETH price by its posting rule (its updates are signed transactions in the mempool), a
//! DEX pool kept at the market by an arbitrageur, and the liquidation strategy: on each update the
//! watch list finds the newly liquidatable borrowers, each profitable one is sized against the pool,
//! and the bundle [oracle update, (liquidationCall, collateral sale)…] is simulated and sent over
//! HTTP to the relay to land in the update's block.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;
use rand::RngExt;
use rand_distr::StandardNormal;

use crate::chain::contracts::{self, ILendingPool, IPriceOracle, ITestERC20, IUniswapV2Router02, slots};
use crate::chain::simchain::{actor, mapping_slot, nested_mapping_slot};
use crate::chain::world::{DexDeployment, deploy_dex_for};
use crate::chain::{ChainError, SimChain, TxRequest, Wallet};
use crate::config::RunSpec;
use crate::core::rng::component_rng;
use crate::core::{NANOS_PER_SEC, SimTime};
use crate::market::dex::GENESIS_TIMESTAMP;
use crate::market::lending;
use crate::market::oracle::OracleFeed;
use crate::market::price::Fundamental;
use crate::relay::rpc::{SendBundleParams, quantity};
use crate::relay::{BundleOutcome, Relay, RelayClient, RelayServer};
use crate::strategies::liquidation::{Borrower, LiquidationPlan, WatchList, best_liquidation};

#[derive(Debug, thiserror::Error)]
pub enum LiquidationRunError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("relay: {0}")]
    Relay(String),
}

/// One liquidation we attempted.
#[derive(Clone, Debug, PartialEq)]
pub struct LiquidationRecord {
    pub block: u64,
    pub borrower: Address,
    pub health_before: U256,
    pub health_after: Option<U256>,
    pub debt_to_cover: U256,
    pub predicted_repaid: U256,
    pub predicted_seized: U256,
    pub predicted_proceeds: U256,
    /// Quote raw: proceeds of the collateral sale minus the debt repaid (before gas and bribe).
    pub realised_gross: Option<i128>,
    pub gas_wei: u128,
    pub bribe_wei: u128,
    /// Quote raw per whole ETH when decided (the oracle price).
    pub mark: u128,
    pub outcome: &'static str,
    pub reason: String,
}

pub struct LiquidationResult {
    pub records: Vec<LiquidationRecord>,
    pub blocks: u64,
    pub oracle_updates: u64,
    pub borrowers: u32,
    /// Borrowers still below HF 1 at the end, and their debt not covered by collateral (quote raw).
    pub unhealthy_at_end: u64,
    /// Of those, how many have no liquidation that pays its gas and the minimum profit at the
    /// end's prices and pool (the ones a liquidator rightly leaves alone).
    pub unhealthy_unprofitable_at_end: u64,
    pub bad_debt_quote: u128,
    pub booked: [u128; 3],
    pub on_chain: [u128; 3],
    pub initial: [u128; 3],
    pub bundles_submitted: u64,
    pub bundles_included: u64,
    pub simulation_failed: u64,
    /// Liquidatable borrowers passed over in a block, by reason (a borrower can be counted in
    /// several blocks).
    pub skips: std::collections::BTreeMap<&'static str, u64>,
}

fn lock(relay: &Arc<Mutex<Relay>>) -> MutexGuard<'_, Relay> {
    relay.lock().unwrap_or_else(|p| p.into_inner())
}

/// ETH price with 8 decimals (the oracle's unit) from the simulated fundamental.
fn oracle_price(usd: f64) -> u128 {
    (usd * 1e8).round().max(1.0) as u128
}

/// What the loop needs between blocks.
struct World {
    dex: DexDeployment,
    pool: Address,
    oracle: Address,
    operator: Wallet,
    me: Wallet,
    arb: Address,
}

pub fn run(spec: &RunSpec) -> Result<LiquidationResult, LiquidationRunError> {
    let l = &spec.liquidation;
    let mut chain = SimChain::new(spec.chain_id);
    let me = Wallet::derived(spec.seed, "xcrack/liquidator");
    let operator = Wallet::derived(spec.seed, "oracle/operator");
    let reserves_dex: Vec<_> = spec.dex.iter().map(|d| (d.reserve_base, d.reserve_quote)).collect();
    let dex = deploy_dex_for(&mut chain, spec.quote_decimals as u8, &reserves_dex, me.address())?;
    chain.set_balance(operator.address(), U256::from(10u128.pow(21)));
    let mut fundamental = Fundamental::new(spec.price_model.clone(), spec.tick_interval, 0);
    let mut rng_price = component_rng(spec.seed, "fundamental");
    let p0 = oracle_price(fundamental.price());
    let usd = U256::from(lending::USD);
    let (market, mut reserves) = lending::deploy_market(
        &mut chain,
        operator.address(),
        dex.weth,
        dex.usdc,
        spec.quote_decimals as u8,
        U256::from(p0),
    )?;
    let (pool, oracle) = (market.pool, market.oracle);
    // Borrowers: WETH collateral (lognormal), quote debt for a uniform starting health factor.
    let mut rng_b = component_rng(spec.seed, "lending/borrowers");
    let lend = &spec.lending;
    let mut borrowers = Vec::with_capacity(lend.borrowers as usize);
    let mut weth_in_pool = U256::ZERO;
    let qs = 10f64.powi(spec.quote_decimals as i32);
    for i in 0..lend.borrowers {
        let user = actor(&format!("lending/borrower-{i}"));
        let z: f64 = rng_b.sample(StandardNormal);
        let coll_eth = lend.collateral_median_eth * (lend.collateral_sigma * z).exp();
        let hf = lend.health_min + (lend.health_max - lend.health_min) * rng_b.random::<f64>();
        let coll = U256::from((coll_eth * 1e18) as u128);
        let debt =
            U256::from((coll_eth * fundamental.price() * f64::from(lending::WETH_PARAMS.1) / 1e4 / hf * qs) as u128);
        chain.set_storage(pool, nested_mapping_slot(user, dex.weth, slots::POOL_COLLATERAL), coll);
        chain.set_storage(pool, nested_mapping_slot(user, dex.usdc, slots::POOL_DEBT), debt);
        weth_in_pool += coll;
        borrowers.push(Borrower { user, collateral: vec![coll, U256::ZERO], debt: vec![U256::ZERO, debt] });
    }
    for (name, coll, debt) in &lend.declared {
        let user = actor(&format!("lending/declared/{name}"));
        let (coll, debt) = (U256::from(*coll), U256::from(*debt));
        chain.set_storage(pool, nested_mapping_slot(user, dex.weth, slots::POOL_COLLATERAL), coll);
        chain.set_storage(pool, nested_mapping_slot(user, dex.usdc, slots::POOL_DEBT), debt);
        weth_in_pool += coll;
        borrowers.push(Borrower { user, collateral: vec![coll, U256::ZERO], debt: vec![U256::ZERO, debt] });
    }
    // The pool holds the collateral it pays out (WETH9 balance; deposits are not replayed).
    chain.set_storage(dex.weth, mapping_slot(pool, slots::WETH_BALANCES), weth_in_pool);
    // Our wallet: exactly the scenario's account; it approves the pool (repay) and the router (sale).
    let initial = [spec.wallet_base, spec.wallet_quote, spec.wallet_native];
    let us = me.address();
    dex.fund_exactly(&mut chain, us, initial)?;
    dex.approve(&mut chain, us, &[(dex.usdc, pool), (dex.weth, dex.venues[0].router), (dex.usdc, dex.executor)])?;
    // An arbitrageur keeps the DEX pool at the market.
    let arb = actor("lending/arbitrageur");
    dex.fund_deep(&mut chain, arb)?;
    let base_fee = spec.chain.base_fee_wei;
    let builder = actor("xcrack/builder");
    let block_s = (spec.chain.block_time / NANOS_PER_SEC).max(1);
    chain.advance_block(GENESIS_TIMESTAMP, base_fee.min(u128::from(u64::MAX)) as u64, builder);
    chain.end_block();
    let mut watch = WatchList::new(&reserves, borrowers);
    let mut feed = OracleFeed::new(lend.oracle, p0, 0);

    let relay = Arc::new(Mutex::new(Relay::new(chain, block_s)));
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut server =
        RelayServer::start(relay.clone(), loopback).map_err(|e| LiquidationRunError::Relay(e.to_string()))?;
    let mut client = RelayClient::new(server.addr(), Wallet::derived(spec.seed, "xcrack/flashbots-auth"));
    let mut w = World { dex, pool, oracle, operator, me, arb };

    let mut records: Vec<LiquidationRecord> = Vec::new();
    let mut booked = initial;
    let (mut updates, mut submitted, mut included, mut sim_failed) = (0u64, 0u64, 0u64, 0u64);
    // Borrowers liquidatable but not (yet) liquidated: re-checked every block.
    let mut waiting: Vec<usize> = Vec::new();
    let mut skips: std::collections::BTreeMap<&'static str, u64> = std::collections::BTreeMap::new();
    let blocks = spec.duration / spec.chain.block_time;
    let mut t: SimTime = 0;
    for k in 1..=blocks {
        let now = k * spec.chain.block_time;
        while t < now {
            t += spec.tick_interval;
            fundamental.step(t, &mut rng_price);
        }
        let timestamp = GENESIS_TIMESTAMP + now / NANOS_PER_SEC;
        let price = oracle_price(fundamental.price());
        let mut r = lock(&relay);
        let head = r.chain().block_number();
        // 1. The oracle operator posts when its rule says so: a signed transaction in the mempool.
        let old = reserves[0].price;
        let update: Option<Bytes> = match feed.observe(price, now) {
            Some(p) => {
                updates += 1;
                reserves[0].price = U256::from(p);
                let chain = r.chain();
                w.operator.nonce = chain.nonce(w.operator.address());
                let call = IPriceOracle::setAssetPriceCall { asset: w.dex.weth, price: U256::from(p) };
                let req = TxRequest {
                    chain_id: spec.chain_id,
                    to: w.oracle,
                    data: call.abi_encode().into(),
                    value: U256::ZERO,
                    gas_limit: 100_000,
                    max_fee_per_gas: 4 * base_fee + 1_000_000_000,
                    max_priority_fee_per_gas: 1_000_000_000,
                };
                w.operator.sign(&req).ok().map(|(raw, _)| raw)
            }
            None => None,
        };
        // 2. Who became liquidatable, plus those still waiting; sized one after another against
        //    the pool as our own earlier sales leave it, within our quote inventory.
        let mut candidates: Vec<usize> = if update.is_some() { watch.affected(&reserves, 0, old) } else { Vec::new() };
        candidates.extend(waiting.iter().copied());
        candidates.sort_unstable();
        candidates.dedup();
        candidates.sort_by_key(|&i| std::cmp::Reverse(watch.borrowers[i].debt[1]));
        waiting.clear();
        let chain = r.chain();
        let mut pool_res = w.dex.reserves(chain, 0);
        let mark = (reserves[0].price * U256::from(10u128.pow(spec.quote_decimals)) / usd).saturating_to::<u128>();
        let gas_per = u128::from(l.gas_estimate) * (base_fee + l.priority_fee_wei);
        let mut quote_left = U256::from(booked[1]);
        let mut chosen: Vec<(usize, LiquidationPlan)> = Vec::new();
        for i in candidates {
            if !watch.liquidatable(&reserves, i) {
                *skips.entry("health_factor_above_1").or_default() += 1;
                continue;
            }
            let Some(p) = best_liquidation(&reserves, &watch.borrowers[i], 0, 1, pool_res, spec.dex[0].fee_bps) else {
                *skips.entry("unprofitable_after_swap").or_default() += 1;
                waiting.push(i);
                continue;
            };
            let gas_quote = crate::core::wei_to_quote(gas_per, mark) as i128;
            if p.gross() - gas_quote < l.min_profit_quote as i128 {
                *skips.entry("unprofitable_after_gas").or_default() += 1;
                waiting.push(i);
                continue;
            }
            if p.repaid > quote_left {
                *skips.entry("insufficient_inventory").or_default() += 1;
                waiting.push(i);
                continue;
            }
            quote_left -= p.repaid;
            pool_res = (pool_res.0 + p.seized, pool_res.1 - p.proceeds);
            chosen.push((i, p));
        }
        // 3. The bundle: the update (when there is one) first, then each liquidation and its sale,
        //    then the bribe; simulated, then sent for this block.
        let mut txs: Vec<Bytes> = Vec::new();
        let mut senders: Vec<Address> = Vec::new();
        if let Some(u) = &update {
            txs.push(u.clone());
            senders.push(w.operator.address());
        }
        let us = w.me.address();
        w.me.nonce = chain.nonce(us);
        let first_record = records.len();
        let total_gross: i128 = chosen.iter().map(|(_, p)| p.gross()).sum();
        let gross_wei = (U256::from(total_gross.max(0) as u128) * U256::from(10u128.pow(18)) / U256::from(mark.max(1)))
            .saturating_to::<u128>();
        let gas_wei_est = gas_per * chosen.len() as u128;
        // The bribe is paid in ETH from the wallet while profits arrive in the quote token: it
        // never eats into the up-front gas of this bundle or into half of the starting gas money.
        let upfront =
            u128::from(l.gas_estimate * 3 / 4) * (2 * base_fee + l.priority_fee_wei) * (2 * chosen.len() as u128 + 1);
        let bribe = (((gross_wei.saturating_sub(gas_wei_est)) as f64 * l.bribe_share) as u128)
            .min(booked[2].saturating_sub(upfront.max(initial[2] / 2)));
        let sign = |me: &mut Wallet, to: Address, data: Vec<u8>, value: u128| {
            let req = TxRequest {
                chain_id: spec.chain_id,
                to,
                data: data.into(),
                value: U256::from(value),
                gas_limit: l.gas_estimate * 3 / 4,
                max_fee_per_gas: 2 * base_fee + l.priority_fee_wei,
                max_priority_fee_per_gas: l.priority_fee_wei,
            };
            me.sign(&req).map(|(raw, _)| raw)
        };
        for (i, p) in &chosen {
            let b = &watch.borrowers[*i];
            let liq = ILendingPool::liquidationCallCall {
                collateralAsset: w.dex.weth,
                debtAsset: w.dex.usdc,
                user: b.user,
                debtToCover: p.debt_to_cover,
                receiveAToken: false,
            };
            let sell = IUniswapV2Router02::swapExactTokensForTokensCall {
                amountIn: p.seized,
                amountOutMin: p.proceeds,
                path: vec![w.dex.weth, w.dex.usdc],
                to: us,
                deadline: U256::MAX,
            };
            for (to, data) in [(w.pool, liq.abi_encode()), (w.dex.venues[0].router, sell.abi_encode())] {
                if let Ok(raw) = sign(&mut w.me, to, data, 0) {
                    txs.push(raw);
                    senders.push(us);
                }
            }
            records.push(LiquidationRecord {
                block: head + 1,
                borrower: b.user,
                health_before: lending::account_data(&reserves, &b.collateral, &b.debt).health_factor,
                health_after: None,
                debt_to_cover: p.debt_to_cover,
                predicted_repaid: p.repaid,
                predicted_seized: p.seized,
                predicted_proceeds: p.proceeds,
                realised_gross: None,
                gas_wei: 0,
                bribe_wei: 0,
                mark,
                outcome: "pending",
                reason: String::new(),
            });
        }
        if !chosen.is_empty() && bribe > 0 {
            let pay = contracts::ISearcherExecutor::executeCall {
                hops: vec![],
                profitToken: w.dex.usdc,
                minProfit: U256::ZERO,
                coinbasePayment: U256::from(bribe),
            };
            if let Ok(raw) = sign(&mut w.me, w.dex.executor, pay.abi_encode(), bribe) {
                txs.push(raw);
                senders.push(us);
            }
        }
        let mut bundle_hash: Option<B256> = None;
        if !chosen.is_empty() {
            match chain.simulate_signed_from(&txs, &senders, head + 1, timestamp) {
                Ok(rs) if rs.iter().all(|x| x.success) => {
                    drop(r);
                    let p = SendBundleParams {
                        txs: txs.clone(),
                        block_number: quantity(head + 1),
                        min_timestamp: None,
                        max_timestamp: None,
                        reverting_tx_hashes: vec![],
                        replacement_uuid: None,
                        builders: vec![],
                    };
                    match client.send_bundle(&p) {
                        Ok(h) => {
                            submitted += 1;
                            bundle_hash = Some(h);
                        }
                        Err(e) => records[first_record..]
                            .iter_mut()
                            .for_each(|x| (x.outcome, x.reason) = ("submit_failed", e.to_string())),
                    }
                    r = lock(&relay);
                }
                other => {
                    sim_failed += 1;
                    let why = match other {
                        Ok(rs) => {
                            rs.iter().find(|x| !x.success).and_then(|x| x.revert_reason.clone()).unwrap_or_default()
                        }
                        Err((i, e)) => format!("tx {i}: {e}"),
                    };
                    for x in &mut records[first_record..] {
                        (x.outcome, x.reason) = ("simulation_failed", why.clone());
                    }
                    waiting.extend(chosen.iter().map(|(i, _)| *i));
                }
            }
        }
        // 4. The block: our bundle on top; the oracle update publicly if it was not in it.
        let build = r.build_block(timestamp, base_fee.min(u128::from(u64::MAX)) as u64, builder, &[]);
        let landed = bundle_hash.is_some_and(|h| matches!(r.outcome(&h), Some(BundleOutcome::Included { .. })));
        let chain = r.chain();
        if !landed && let Some(u) = &update {
            let _ = chain.apply_raw(u);
        }
        if landed {
            included += 1;
            let receipts = &build
                .included
                .iter()
                .find(|(h, _)| Some(*h) == bundle_hash)
                .map(|(_, rc)| rc.clone())
                .unwrap_or_default();
            let ours: Vec<&crate::chain::Receipt> = receipts.iter().filter(|x| x.from == us).collect();
            let gas_total: u128 = ours.iter().map(|x| u128::from(x.gas_used) * x.effective_gas_price).sum();
            booked[2] -= gas_total + if bribe > 0 { bribe } else { 0 };
            for (n, (i, p)) in chosen.iter().enumerate() {
                let rec = &mut records[first_record + n];
                // Each liquidation is two of our transactions: its gas share is theirs.
                let pair_gas: u128 =
                    ours.iter().skip(2 * n).take(2).map(|x| u128::from(x.gas_used) * x.effective_gas_price).sum();
                rec.gas_wei = pair_gas;
                rec.bribe_wei =
                    if total_gross > 0 { bribe * p.gross().max(0) as u128 / total_gross as u128 } else { 0 };
                rec.realised_gross = Some(p.proceeds.saturating_to::<i128>() - p.repaid.saturating_to::<i128>());
                rec.outcome = "included";
                booked[1] = booked[1] + p.proceeds.saturating_to::<u128>() - p.repaid.saturating_to::<u128>();
                let user = watch.borrowers[*i].user;
                let c = chain.storage(w.pool, nested_mapping_slot(user, w.dex.weth, slots::POOL_COLLATERAL));
                let d = chain.storage(w.pool, nested_mapping_slot(user, w.dex.usdc, slots::POOL_DEBT));
                watch.update(&reserves, *i, vec![c, U256::ZERO], vec![U256::ZERO, d]);
                rec.health_after =
                    Some(lending::account_data(&reserves, &[c, U256::ZERO], &[U256::ZERO, d]).health_factor);
                if watch.liquidatable(&reserves, *i) {
                    waiting.push(*i);
                }
            }
            // What the per-liquidation split leaves (the bribe transaction's own gas, the bribe's
            // rounding) goes to the bundle's last liquidation, so the records add up to the wei.
            let n = chosen.len();
            if n > 0 {
                let recs = &mut records[first_record..first_record + n];
                let (gas_split, bribe_split): (u128, u128) =
                    recs.iter().fold((0, 0), |(g, b), r| (g + r.gas_wei, b + r.bribe_wei));
                let last = &mut recs[n - 1];
                last.gas_wei += gas_total - gas_split;
                last.bribe_wei += bribe - bribe_split;
            }
        } else if bundle_hash.is_some() {
            for x in &mut records[first_record..] {
                x.outcome = "not_included";
            }
            waiting.extend(chosen.iter().map(|(i, _)| *i));
        }
        // 5. The arbitrageur brings the DEX pool back to the market price.
        arbitrage_to(chain, &w, spec, fundamental.price());
        chain.end_block();
    }
    let (on_chain, unhealthy, unprofitable, bad_debt) = {
        let mut r = lock(&relay);
        let chain = r.chain();
        let bal = |c: &mut SimChain, t: Address| -> Result<u128, ChainError> {
            let o = c.view(us, t, ITestERC20::balanceOfCall { owner: us }.abi_encode().into())?;
            Ok(U256::from_be_slice(o.output.get(..32).unwrap_or_default()).saturating_to())
        };
        let on_chain = [bal(chain, w.dex.weth)?, bal(chain, w.dex.usdc)?, chain.balance(us).saturating_to()];
        let mut unhealthy = 0;
        let mut unprofitable = 0;
        let mut bad = 0u128;
        let pool_res = w.dex.reserves(chain, 0);
        let mark = (reserves[0].price * U256::from(10u128.pow(spec.quote_decimals)) / usd).saturating_to::<u128>();
        let gas_quote =
            crate::core::wei_to_quote(u128::from(l.gas_estimate) * (base_fee + l.priority_fee_wei), mark) as i128;
        for b in &watch.borrowers {
            let d = lending::account_data(&reserves, &b.collateral, &b.debt);
            if d.health_factor < U256::from(lending::WAD) {
                unhealthy += 1;
                let pays = best_liquidation(&reserves, b, 0, 1, pool_res, spec.dex[0].fee_bps)
                    .is_some_and(|p| p.gross() - gas_quote >= l.min_profit_quote as i128);
                if !pays {
                    unprofitable += 1;
                }
            }
            if d.total_debt_base > d.total_collateral_base {
                bad += ((d.total_debt_base - d.total_collateral_base) * U256::from(10u128.pow(spec.quote_decimals))
                    / usd)
                    .saturating_to::<u128>();
            }
        }
        (on_chain, unhealthy, unprofitable, bad)
    };
    server.stop();
    Ok(LiquidationResult {
        records,
        blocks,
        oracle_updates: updates,
        borrowers: lend.borrowers,
        unhealthy_at_end: unhealthy,
        unhealthy_unprofitable_at_end: unprofitable,
        bad_debt_quote: bad_debt,
        booked,
        on_chain,
        initial,
        bundles_submitted: submitted,
        bundles_included: included,
        simulation_failed: sim_failed,
        skips,
    })
}

/// Swaps on the pool so its price meets `usd` per ETH (closed form without the fee: the
/// arbitrageur stops within the fee band, as a real one would).
fn arbitrage_to(chain: &mut SimChain, w: &World, spec: &RunSpec, usd: f64) {
    let (rb, rq) = w.dex.reserves(chain, 0);
    let (b, q) = (rb.to::<u128>() as f64 / 1e18, rq.to::<u128>() as f64 / 10f64.powi(spec.quote_decimals as i32));
    let target_b = (b * q / usd).sqrt();
    let (amount, path) = if target_b > b * 1.0001 {
        // Pool price too high: sell WETH into it.
        (U256::from(((target_b - b) * 1e18) as u128), vec![w.dex.weth, w.dex.usdc])
    } else if target_b < b * 0.9999 {
        let target_q = (b * q * usd).sqrt();
        (U256::from(((target_q - q) * 10f64.powi(spec.quote_decimals as i32)) as u128), vec![w.dex.usdc, w.dex.weth])
    } else {
        return;
    };
    if amount.is_zero() {
        return;
    }
    let call = IUniswapV2Router02::swapExactTokensForTokensCall {
        amountIn: amount,
        amountOutMin: U256::ZERO,
        path,
        to: w.arb,
        deadline: U256::MAX,
    };
    let _ = chain.call(w.arb, w.dex.venues[0].router, call.abi_encode().into(), U256::ZERO);
}
