//! The liquidation backtest: borrowers on our Aave-v3-compatible pool (generated, declared, or a
//! recorded borrower replayed row by row), an oracle that posts each reserve's market price by its
//! rule (its updates are the operator's signed transactions in the mempool, a block behind the
//! market as a real feed's round is), DEX pools kept at the market by an arbitrageur, rival
//! liquidators, and the liquidation strategy: on each update the watch list finds the newly
//! liquidatable borrowers, each is given its best (collateral, debt, funding) liquidation against
//! the pools, and the bundle [oracle updates, liquidations…, bribe] is simulated and sent over HTTP
//! to the relay to land in the update's block.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;

pub use super::lending_history::HealthPoint;
use super::lending_history::History;
use super::lending_rival::Rival;
use super::lending_world::{LendingWorld, PairBook, QUOTE};
use crate::chain::contracts::{self, IFlashLiquidator, ILendingPool, IPriceOracle, IUniswapV2Router02};
use crate::chain::simchain::actor;
use crate::chain::{ChainError, Receipt, SimChain, TxRequest, Wallet};
use crate::config::RunSpec;
use crate::core::rng::component_rng;
use crate::core::{NANOS_PER_SEC, SimTime};
use crate::execution::bundle_manager::{BundleManager, SignedBundle};
use crate::market::dex::GENESIS_TIMESTAMP;
use crate::market::lending::{self, Reserve};
use crate::market::oracle::OracleFeed;
use crate::market::price::Fundamental;
use crate::relay::{BundleOutcome, Relay, RelayClient, RelayServer};
use crate::strategies::liquidation::{Borrower, Choice, Funding, Market, WatchList, base_value, best_choice};

#[derive(Debug, thiserror::Error)]
pub enum LiquidationRunError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("relay: {0}")]
    Relay(String),
}

/// One liquidation we attempted. Amounts are raw units of their asset; `*_base` values are in the
/// oracle's base currency (USD, 8 decimals) at the oracle prices of the decision.
#[derive(Clone, Debug, PartialEq)]
pub struct LiquidationRecord {
    pub block: u64,
    pub borrower: Address,
    pub collateral: usize,
    pub debt: usize,
    pub funding: Funding,
    pub health_before: U256,
    pub health_after: Option<U256>,
    pub debt_to_cover: U256,
    pub predicted_repaid: U256,
    pub predicted_seized: U256,
    /// Inventory: the debt asset the seized collateral sells for. Flash swap: the collateral paid
    /// back to the pair.
    pub predicted_proceeds: U256,
    /// The asset our profit arrives in and the amount (before gas and bribe) once included.
    pub profit_asset: usize,
    pub realised_gross: Option<i128>,
    pub gross_base: i128,
    /// Seized collateral's value beyond the debt repaid (the bonus); the rest of it went to the DEX.
    pub bonus_base: i128,
    pub gas_wei: u128,
    pub bribe_wei: u128,
    /// ETH's oracle price when decided (8 decimals), for gas and bribe in the base currency.
    pub eth_price: u128,
    pub outcome: &'static str,
    pub reason: String,
    /// In a replay: the recorded (mainnet) block of the row in effect.
    pub source_block: Option<u64>,
}

pub struct LiquidationResult {
    pub records: Vec<LiquidationRecord>,
    pub symbols: Vec<String>,
    pub blocks: u64,
    pub oracle_updates: u64,
    pub borrowers: u32,
    pub unhealthy_at_end: u64,
    /// Of those, how many have no liquidation that pays its gas and the minimum profit at the
    /// end's prices and pools (the ones a liquidator rightly leaves alone).
    pub unhealthy_unprofitable_at_end: u64,
    /// Debt above collateral value, in base units.
    pub bad_debt_base: u128,
    /// Per reserve token, then ETH (last): at the start, as booked, and on the chain.
    pub initial: Vec<u128>,
    pub booked: Vec<u128>,
    pub on_chain: Vec<u128>,
    pub bundles_submitted: u64,
    pub bundles_included: u64,
    pub simulation_failed: u64,
    pub rival_liquidations: u64,
    /// Liquidatable borrowers passed over, by reason, once per evaluation.
    pub skips: BTreeMap<&'static str, u64>,
    pub timeline: Vec<HealthPoint>,
    /// In a replay: (our block, recorded block) where each recorded row took effect.
    pub replay_blocks: Vec<(u64, u64)>,
}

fn lock(relay: &Arc<Mutex<Relay>>) -> MutexGuard<'_, Relay> {
    relay.lock().unwrap_or_else(|p| p.into_inner())
}

/// USD with 8 decimals (the oracle's unit).
fn usd8(usd: f64) -> u128 {
    (usd * 1e8).round().max(1.0) as u128
}

pub fn run(spec: &RunSpec) -> Result<LiquidationResult, LiquidationRunError> {
    let l = &spec.liquidation;
    let lend = &spec.lending;
    let n = lend.reserves.len();
    let mut chain = SimChain::new(spec.chain_id);
    let me = Wallet::derived(spec.seed, "xcrack/liquidator");
    let mut operator = Wallet::derived(spec.seed, "oracle/operator");

    let mut fundamental = Fundamental::new(spec.price_model.clone(), spec.tick_interval, 0);
    let mut rng_price = component_rng(spec.seed, "fundamental");
    // Market prices per reserve: ETH from the price model, the rest fixed, unless replayed.
    let replay = lend.replay.as_ref();
    let replayed: Vec<bool> =
        (0..n).map(|i| replay.is_some_and(|r| r.rows[0].prices.iter().any(|(j, _)| *j == i))).collect();
    let mut market: Vec<u128> = lend.reserves.iter().map(|r| usd8(r.price_usd)).collect();
    market[0] = usd8(fundamental.price());
    if let Some(r) = replay {
        for &(i, p) in &r.rows[0].prices {
            market[i] = p;
        }
    }
    let dynamic: Vec<bool> = (0..n).map(|i| i == 0 || replayed[i] || lend.reserves[i].beta_to_eth.is_some()).collect();
    let (w, mut reserves) = LendingWorld::deploy(&mut chain, spec, me.address(), operator.address(), &market)?;
    chain.set_balance(operator.address(), U256::from(10u128.pow(21)));

    // Borrowers: generated (WETH collateral, quote debt for a uniform starting health factor),
    // declared, and the replayed one.
    let eth0 = fundamental.price();
    let mut borrowers = super::lending_world::scenario_borrowers(spec, eth0);
    let replay_borrower = replay.map(|r| {
        borrowers.push(Borrower {
            // A recorded borrower keeps its real address; any other name derives one.
            user: r.name.parse().unwrap_or_else(|_| actor(&format!("lending/replay/{}", r.name))),
            collateral: r.rows[0].collateral.clone(),
            debt: r.rows[0].debt.clone(),
        });
        borrowers.len() - 1
    });
    for b in &borrowers {
        w.set_position(&mut chain, b.user, &b.collateral, &b.debt);
    }
    // Our wallet: exactly the scenario's account; it approves the pool (repayments) and the
    // router (sales) for every reserve.
    let us = me.address();
    w.dex.fund_exactly(&mut chain, us, [spec.wallet_base, spec.wallet_quote, spec.wallet_native])?;
    let approvals: Vec<_> = w.tokens.iter().flat_map(|t| [(t.address, w.market.pool), (t.address, w.router)]).collect();
    w.dex.approve(&mut chain, us, &approvals)?;
    // Per token then ETH: `[account]` gives WETH, quote and gas; `lending.inventory` the rest.
    let mut initial: Vec<u128> = lend.inventory.iter().map(|v| v.saturating_to()).chain([spec.wallet_native]).collect();
    (initial[0], initial[QUOTE]) = (spec.wallet_base, spec.wallet_quote);
    for (t, &amount) in w.tokens.iter().zip(&lend.inventory).skip(2) {
        let slot = crate::chain::simchain::mapping_slot(us, contracts::slots::ERC20_BALANCES);
        chain.set_storage(t.address, slot, amount);
    }
    let arb = actor("lending/arbitrageur");
    w.fund_deep(&mut chain, arb)?;
    let rival_wallet = Wallet::derived(spec.seed, "lending/rival-liquidator");
    if l.rival_probability > 0.0 {
        w.fund_deep(&mut chain, rival_wallet.address())?;
    }
    let base_fee = spec.chain.base_fee_wei;
    let builder = actor("xcrack/builder");
    let block_s = (spec.chain.block_time / NANOS_PER_SEC).max(1);
    chain.advance_block(GENESIS_TIMESTAMP, base_fee.min(u128::from(u64::MAX)) as u64, builder);
    chain.end_block();
    let mut history = History::new(&reserves, &borrowers);
    let mut watch = WatchList::new(&reserves, borrowers);
    let mut feeds: Vec<Option<OracleFeed>> =
        (0..n).map(|i| dynamic[i].then(|| OracleFeed::new(lend.oracle, market[i], 0))).collect();

    let relay = Arc::new(Mutex::new(Relay::new(chain, block_s)));
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut server =
        RelayServer::start(relay.clone(), loopback).map_err(|e| LiquidationRunError::Relay(e.to_string()))?;
    tracing::info!(target: "xcrack::relay", addr = %server.addr(), "embedded relay listening");
    let client = RelayClient::new(server.addr(), Wallet::derived(spec.seed, "xcrack/flashbots-auth"));
    let mut manager = BundleManager::new(me, client, spec.chain_id);
    let mut rival = Rival {
        wallet: rival_wallet,
        client: RelayClient::new(server.addr(), Wallet::derived(spec.seed, "lending/rival-auth")),
        rng: component_rng(spec.seed, "lending/rivals"),
        probability: l.rival_probability,
        share: l.rival_share,
        chain_id: spec.chain_id,
        base_fee,
    };

    let mut records: Vec<LiquidationRecord> = Vec::new();
    let mut booked = initial.clone();
    let (mut updates_posted, mut rival_wins) = (0u64, 0u64);
    let mut waiting: Vec<usize> = Vec::new();
    let mut skips: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut liquidated_at: Vec<(usize, u64)> = Vec::new();
    let min_profit_base = (U256::from(l.min_profit_quote) * U256::from(lending::USD)
        / U256::from(10u128.pow(spec.quote_decimals)))
    .saturating_to::<i128>();
    // Gas per liquidation by funding (inventory, flash swap): the configured estimate, raised to
    // the dearest our own receipts have shown (a pool with many reserves makes liquidationCall
    // dearer; the cheapest would let marginal liquidations lose money after gas).
    let mut gas_used = [l.gas_estimate; 2];
    let gas_price = base_fee + l.priority_fee_wei;
    let mut rows = replay.map(|r| r.rows.iter().skip(1).peekable());
    let mut observed = market.clone();
    let mut source_block = replay.map(|r| r.rows[0].block);
    let mut replay_blocks: Vec<(u64, u64)> = replay.map(|r| vec![(0, r.rows[0].block)]).unwrap_or_default();
    let mut market_moved = false;
    let blocks = spec.duration / spec.chain.block_time;
    let mut t: SimTime = 0;
    for k in 1..=blocks {
        let now = k * spec.chain.block_time;
        while t < now {
            t += spec.tick_interval;
            fundamental.step(t, &mut rng_price);
        }
        let timestamp = GENESIS_TIMESTAMP + now / NANOS_PER_SEC;
        let mut r = lock(&relay);
        let head = r.chain().block_number();
        // 1. The market moves; a replay row also sets the recorded borrower's position (its own
        //    actions and others' liquidations, as recorded).
        if !replayed[0] {
            market[0] = usd8(fundamental.price());
        }
        // Reserves that move with ETH: price × (ETH / ETH at the start)^beta.
        for (i, r) in lend.reserves.iter().enumerate().filter(|(i, _)| !replayed[*i]) {
            if let Some(beta) = r.beta_to_eth {
                market[i] = usd8(r.price_usd * (fundamental.price() / eth0).powf(beta));
            }
        }
        let mut replay_moved = false;
        if let (Some(rows), Some(i)) = (rows.as_mut(), replay_borrower) {
            while let Some(row) = rows.next_if(|row| row.at <= now) {
                for &(j, p) in &row.prices {
                    market[j] = p;
                }
                w.set_position(r.chain(), watch.borrowers[i].user, &row.collateral, &row.debt);
                watch.update(&reserves, i, row.collateral.clone(), row.debt.clone());
                history.position(i, head + 1, &watch.borrowers[i], "replay");
                source_block = Some(row.block);
                replay_blocks.push((head + 1, row.block));
                replay_moved = true;
            }
        }
        // 2. The oracle posts what it observed a block ago, by its rule: signed transactions in
        //    the mempool. The watch list finds who each posted price makes liquidatable.
        let before = reserves.clone();
        let mut update_txs: Vec<Bytes> = Vec::new();
        let mut candidates: Vec<usize> = Vec::new();
        operator.nonce = r.chain().nonce(operator.address());
        for i in 0..n {
            let Some(p) = feeds[i].as_mut().and_then(|f| f.observe(observed[i], now)) else { continue };
            updates_posted += 1;
            let old = reserves[i].price;
            reserves[i].price = U256::from(p);
            candidates.extend(watch.affected(&reserves, i, old));
            let call = IPriceOracle::setAssetPriceCall { asset: w.tokens[i].address, price: U256::from(p) };
            let req = TxRequest {
                chain_id: spec.chain_id,
                to: w.market.oracle,
                data: call.abi_encode().into(),
                value: U256::ZERO,
                gas_limit: 100_000,
                max_fee_per_gas: 4 * base_fee + 1_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
            };
            if let Ok((raw, _)) = operator.sign(&req) {
                update_txs.push(raw);
            }
        }
        observed.clone_from(&market);
        if replay_moved && let Some(i) = replay_borrower.filter(|&i| watch.liquidatable(&reserves, i)) {
            candidates.push(i);
        }
        // Borrowers already passed over are looked at again only when prices, positions or pools
        // may have moved since (an update, a replay row, a landed bundle).
        if !update_txs.is_empty() || replay_moved || market_moved {
            candidates.append(&mut waiting);
        }
        candidates.sort_unstable();
        candidates.dedup();
        // Largest debts first (in base units), then sized one after another against the pools
        // as our own earlier sales leave them, within our inventory.
        let debt_value = |b: &Borrower| lending::account_data(&reserves, &b.collateral, &b.debt).total_debt_base;
        candidates.sort_by_key(|&i| std::cmp::Reverse(debt_value(&watch.borrowers[i])));
        let chain = r.chain();
        // Pool reserves are read only when there is someone to size against them.
        let mut pairs = if candidates.is_empty() { PairBook::default() } else { PairBook::read(&w, chain) };
        let mut inventory: Vec<U256> = booked[..n].iter().map(|&v| U256::from(v)).collect();
        let eth_price = reserves[0].price.saturating_to::<u128>();
        let gas_base = gas_used.map(|g| gas_in_base(u128::from(g) * gas_price, &reserves));
        // A borrower may take several liquidations in one bundle (one debt asset each, or a
        // close factor that leaves it below 1): each planned on the position the last leaves.
        let mut chosen: Vec<(usize, Choice)> = Vec::new();
        let mut health: Vec<(U256, U256)> = Vec::new();
        for i in candidates {
            let mut b = watch.borrowers[i].clone();
            for round in 0..MAX_LIQUIDATIONS_PER_BORROWER {
                let c = match choose(&w, &pairs, l.flash_swaps, &reserves, &inventory, (gas_base, min_profit_base), &b)
                {
                    Ok(c) => c,
                    Err(s) => {
                        if round == 0 {
                            *skips.entry(s.name()).or_default() += 1;
                            if s != crate::strategies::liquidation::Skip::HealthFactorAbove1 {
                                waiting.push(i);
                            }
                        }
                        break;
                    }
                };
                let p = &c.plan;
                match c.funding {
                    Funding::Inventory => {
                        inventory[p.debt] -= p.repaid;
                        let path = w.path(p.collateral, p.debt).unwrap_or_default();
                        let mut amount = p.seized;
                        for hop in path.windows(2) {
                            let out = pairs
                                .get(hop[0], hop[1])
                                .and_then(|(a, b)| crate::market::amm::get_amount_out(amount, a, b, w.fee_bps).ok())
                                .unwrap_or_default();
                            pairs.trade(hop[0], hop[1], amount, out);
                            amount = out;
                        }
                    }
                    Funding::FlashSwap if c.flash_hub.is_zero() => {
                        pairs.trade(p.collateral, p.debt, c.flash_repay, p.repaid)
                    }
                    Funding::FlashSwap => {
                        pairs.trade(QUOTE, p.debt, c.flash_hub, p.repaid);
                        pairs.trade(p.collateral, QUOTE, c.flash_repay, c.flash_hub);
                    }
                }
                let before = lending::account_data(&reserves, &b.collateral, &b.debt).health_factor;
                b.collateral[p.collateral] -= p.seized;
                b.debt[p.debt] -= p.repaid;
                health.push((before, lending::account_data(&reserves, &b.collateral, &b.debt).health_factor));
                chosen.push((i, c));
            }
        }
        // 3. The bundle: the updates first, then each liquidation, then the bribe; simulated,
        //    then sent for this block.
        let mut txs = update_txs.clone();
        let mut senders = vec![operator.address(); update_txs.len()];
        manager.sync_nonce(chain);
        let first_record = records.len();
        let gross_base: i128 = chosen.iter().map(|(_, c)| c.gross_base).sum();
        let to_wei = |base: i128| {
            (U256::from(base.max(0) as u128) * U256::from(10u128.pow(18)) / U256::from(eth_price.max(1)))
                .saturating_to::<u128>()
        };
        let gas_wei_est: u128 = chosen.iter().map(|(_, c)| u128::from(gas_used[c.funding as usize]) * gas_price).sum();
        // Limits are generous (they only reserve up-front ETH): a pool with many reserves makes
        // liquidationCall's account-data loop long, and sales may take two hops.
        let (leg_gas, flash_gas) = ((l.gas_estimate * 3 / 2).max(1_000_000), (l.gas_estimate * 3).max(1_500_000));
        let max_fee = 2 * base_fee + l.priority_fee_wei;
        let upfront: u128 = chosen
            .iter()
            .map(|(_, c)| u128::from(if c.funding == Funding::FlashSwap { flash_gas } else { 2 * leg_gas }))
            .sum::<u128>()
            .saturating_add(u128::from(leg_gas))
            * max_fee;
        // The bribe is paid in ETH while profits arrive in tokens: it never eats into the
        // up-front gas of this bundle or into half of the starting gas money.
        let bribe = ((to_wei(gross_base).saturating_sub(gas_wei_est) as f64 * l.bribe_share) as u128)
            .min(booked[n].saturating_sub(upfront.max(initial[n] / 2)));
        let sign = |m: &mut BundleManager, to: Address, data: Vec<u8>, value: u128, gas_limit: u64| {
            let req = TxRequest {
                chain_id: spec.chain_id,
                to,
                data: data.into(),
                value: U256::from(value),
                gas_limit,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: l.priority_fee_wei,
            };
            m.sign(&req)
        };
        let mut tx_counts: Vec<usize> = Vec::with_capacity(chosen.len());
        for (i, c) in &chosen {
            let b = &watch.borrowers[*i];
            let p = &c.plan;
            let legs = liquidation_calls(&w, c, b.user, us, (leg_gas, flash_gas));
            tx_counts.push(legs.len());
            for (to, data, gas) in legs {
                if let Ok(raw) = sign(&mut manager, to, data, 0, gas) {
                    txs.push(raw);
                    senders.push(us);
                }
            }
            records.push(LiquidationRecord {
                block: head + 1,
                borrower: b.user,
                collateral: p.collateral,
                debt: p.debt,
                funding: c.funding,
                health_before: health[records.len() - first_record].0,
                health_after: None,
                debt_to_cover: p.debt_to_cover,
                predicted_repaid: p.repaid,
                predicted_seized: p.seized,
                predicted_proceeds: p.proceeds,
                profit_asset: c.profit_asset,
                realised_gross: None,
                gross_base: c.gross_base,
                bonus_base: base_value(&reserves[p.collateral], p.seized.saturating_to())
                    - base_value(&reserves[p.debt], p.repaid.saturating_to()),
                gas_wei: 0,
                bribe_wei: 0,
                eth_price,
                outcome: "pending",
                reason: String::new(),
                source_block,
            });
        }
        if !chosen.is_empty() && bribe > 0 {
            let pay = contracts::ISearcherExecutor::executeCall {
                hops: vec![],
                profitToken: w.dex.usdc,
                minProfit: U256::ZERO,
                coinbasePayment: U256::from(bribe),
            };
            if let Ok(raw) = sign(&mut manager, w.dex.executor, pay.abi_encode(), bribe, leg_gas) {
                txs.push(raw);
                senders.push(us);
            }
        }
        let mut bundle_hash: Option<B256> = None;
        let mut rival_bundles: Vec<(B256, usize)> = Vec::new();
        if !chosen.is_empty() {
            // Confirmed only when every transaction succeeds and our net token flow in the
            // simulation equals the planned profit in every asset, to the wei.
            let expected = expected_flows(&chosen, n);
            let bundle = SignedBundle { txs, senders, target_block: head + 1 };
            let check = |receipts: &[Receipt]| {
                let got = token_flows(receipts, &w, us);
                if got == expected {
                    Ok(())
                } else {
                    Err(format!("token flows {got:?} differ from the plan {expected:?}"))
                }
            };
            match manager.simulate_checked(bundle, chain, timestamp, check) {
                Ok(confirmed) => {
                    drop(r);
                    match manager.submit(&confirmed, None) {
                        Ok(h) => bundle_hash = Some(h),
                        Err(e) => records[first_record..]
                            .iter_mut()
                            .for_each(|x| (x.outcome, x.reason) = ("submit_failed", e.clone())),
                    }
                    // A rival liquidator back-running the same updates for our most valuable
                    // borrower, paying the builder a share of that liquidation's gross.
                    r = lock(&relay);
                    rival.wallet.nonce = r.chain().nonce(rival.wallet.address());
                    drop(r);
                    let target = chosen.iter().max_by_key(|(_, c)| c.gross_base);
                    if let Some((i, c)) = target
                        && let Some(h) = rival.compete(&w, c, watch.borrowers[*i].user, &update_txs, head + 1, to_wei)
                    {
                        rival_bundles.push((h, *i));
                    }
                    r = lock(&relay);
                }
                Err(why) => {
                    for x in &mut records[first_record..] {
                        (x.outcome, x.reason) = ("simulation_failed", why.clone());
                    }
                    waiting.extend(chosen.iter().map(|(i, _)| *i));
                }
            }
        }
        // 4. The block: bundles on top by payment per gas; the oracle updates publicly if no
        //    bundle carried them.
        let build = r.build_block(timestamp, base_fee.min(u128::from(u64::MAX)) as u64, builder, &[]);
        let landed_ok = |h: &B256, r: &Relay| matches!(r.outcome(h), Some(BundleOutcome::Included { .. }));
        let landed = bundle_hash.is_some_and(|h| landed_ok(&h, &r));
        let rivals_landed: Vec<usize> =
            rival_bundles.iter().filter(|(h, _)| landed_ok(h, &r)).map(|&(_, i)| i).collect();
        if let Some(outcome) = bundle_hash.and_then(|h| r.outcome(&h).cloned()) {
            manager.record(&outcome);
        }
        let chain = r.chain();
        if !landed && rivals_landed.is_empty() {
            for u in &update_txs {
                let _ = chain.apply_raw(u);
            }
        }
        let block = head + 1;
        if !update_txs.is_empty() && reserves != before {
            history.prices_changed(block, &reserves);
        }
        if landed {
            let receipts: Vec<Receipt> = build
                .included
                .iter()
                .find(|(h, _)| Some(*h) == bundle_hash)
                .map(|(_, rc)| rc.clone())
                .unwrap_or_default();
            let ours: Vec<&Receipt> = receipts.iter().filter(|x| x.from == us).collect();
            let cost = |x: &&Receipt| u128::from(x.gas_used) * x.effective_gas_price;
            let gas_total: u128 = ours.iter().map(cost).sum();
            booked[n] -= gas_total + bribe;
            let mut at = 0;
            for (k, (i, c)) in chosen.iter().enumerate() {
                let rec = &mut records[first_record + k];
                rec.gas_wei = ours.iter().skip(at).take(tx_counts[k]).map(cost).sum();
                let used: u64 = ours.iter().skip(at).take(tx_counts[k]).map(|x| x.gas_used).sum();
                let seen = &mut gas_used[c.funding as usize];
                *seen = (*seen).max(used);
                at += tx_counts[k];
                rec.bribe_wei =
                    if gross_base > 0 { bribe * c.gross_base.max(0) as u128 / gross_base as u128 } else { 0 };
                rec.realised_gross = Some(c.profit_raw);
                rec.health_after = Some(health[k].1);
                rec.outcome = "included";
                booked[c.profit_asset] = (booked[c.profit_asset] as i128 + c.profit_raw) as u128;
                liquidated_at.push((*i, block));
            }
            // What the per-liquidation split leaves (the bribe transaction's own gas, the bribe's
            // rounding) goes to the bundle's last liquidation, so the records add up to the wei.
            let (g, b) = records[first_record..].iter().fold((0, 0), |(g, b), x| (g + x.gas_wei, b + x.bribe_wei));
            if let Some(last) = records[first_record..].last_mut() {
                last.gas_wei += gas_total - g;
                last.bribe_wei += bribe - b;
            }
        } else if bundle_hash.is_some() {
            for x in &mut records[first_record..] {
                x.outcome = if rivals_landed.is_empty() { "not_included" } else { "outbid" };
            }
        }
        rival_wins += rivals_landed.len() as u64;
        market_moved = landed || !rivals_landed.is_empty();
        // Everyone whose position the block may have changed: re-read from the pool.
        let mut touched: Vec<(usize, &'static str)> = chosen.iter().map(|(i, _)| (*i, "liquidated")).collect();
        touched.extend(rivals_landed.iter().map(|&i| (i, "rival")));
        for (k, &(i, event)) in touched.iter().enumerate() {
            if touched[..k].iter().any(|&(j, _)| j == i) {
                continue;
            }
            let (c, d) = w.position(chain, watch.borrowers[i].user);
            if c != watch.borrowers[i].collateral || d != watch.borrowers[i].debt {
                watch.update(&reserves, i, c, d);
                let event = if event == "liquidated" && !landed { "rival" } else { event };
                history.position(i, block, &watch.borrowers[i], event);
                if event == "rival" {
                    liquidated_at.push((i, block));
                }
            }
            if watch.liquidatable(&reserves, i) && !waiting.contains(&i) {
                waiting.push(i);
            }
        }
        // 5. The arbitrageur brings every pool back to the market price.
        w.arbitrage(chain, arb, &market);
        chain.end_block();
    }
    let mut r = lock(&relay);
    let chain = r.chain();
    let mut on_chain = Vec::with_capacity(n + 1);
    for i in 0..n {
        on_chain.push(w.balance_of(chain, us, i)?.saturating_to::<u128>());
    }
    on_chain.push(chain.balance(us).saturating_to());
    let (mut unhealthy, mut unprofitable, mut bad_debt) = (0, 0, 0u128);
    let pairs = PairBook::read(&w, chain);
    let inventory: Vec<U256> = booked[..n].iter().map(|&v| U256::from(v)).collect();
    let costs = (gas_used.map(|g| gas_in_base(u128::from(g) * gas_price, &reserves)), min_profit_base);
    for b in &watch.borrowers {
        let d = lending::account_data(&reserves, &b.collateral, &b.debt);
        if d.health_factor < U256::from(lending::WAD) {
            unhealthy += 1;
            if choose(&w, &pairs, l.flash_swaps, &reserves, &inventory, costs, b).is_err() {
                unprofitable += 1;
            }
        }
        if d.total_debt_base > d.total_collateral_base {
            bad_debt += (d.total_debt_base - d.total_collateral_base).saturating_to::<u128>();
        }
    }
    drop(r);
    server.stop();
    let timeline = history.timelines(&reserves, &watch.borrowers, replay_borrower, liquidated_at, blocks + 1);
    Ok(LiquidationResult {
        records,
        symbols: w.tokens.iter().map(|t| t.symbol.clone()).collect(),
        blocks,
        oracle_updates: updates_posted,
        borrowers: watch.borrowers.len() as u32,
        unhealthy_at_end: unhealthy,
        unhealthy_unprofitable_at_end: unprofitable,
        bad_debt_base: bad_debt,
        initial,
        booked,
        on_chain,
        bundles_submitted: manager.stats.submitted,
        bundles_included: manager.stats.included,
        simulation_failed: manager.stats.simulation_failed,
        rival_liquidations: rival_wins,
        skips,
        timeline,
        replay_blocks,
    })
}

/// Our transactions for one chosen liquidation as (to, calldata, gas limit): `liquidationCall`
/// and the sale along the DEX path, or one flash-swap call (direct or through the quote token).
fn liquidation_calls(
    w: &LendingWorld,
    c: &Choice,
    user: Address,
    us: Address,
    (leg_gas, flash_gas): (u64, u64),
) -> Vec<(Address, Vec<u8>, u64)> {
    let p = &c.plan;
    let (ca, da) = (w.tokens[p.collateral].address, w.tokens[p.debt].address);
    match c.funding {
        Funding::Inventory => {
            let liq = ILendingPool::liquidationCallCall {
                collateralAsset: ca,
                debtAsset: da,
                user,
                debtToCover: p.debt_to_cover,
                receiveAToken: false,
            };
            let sell = IUniswapV2Router02::swapExactTokensForTokensCall {
                amountIn: p.seized,
                amountOutMin: p.proceeds,
                path: w.addresses(&w.path(p.collateral, p.debt).unwrap_or_default()),
                to: us,
                deadline: U256::MAX,
            };
            vec![(w.market.pool, liq.abi_encode(), leg_gas), (w.router, sell.abi_encode(), leg_gas)]
        }
        Funding::FlashSwap => {
            let min_profit = U256::from(c.profit_raw.max(0) as u128);
            let data = if c.flash_hub.is_zero() {
                IFlashLiquidator::liquidateCall {
                    pair: w.pair_between(p.collateral, p.debt).unwrap_or_default(),
                    collateral: ca,
                    debt: da,
                    user,
                    debtToCover: p.debt_to_cover,
                    borrow: p.repaid,
                    repayCollateral: c.flash_repay,
                    minProfit: min_profit,
                    coinbasePayment: U256::ZERO,
                }
                .abi_encode()
            } else {
                IFlashLiquidator::liquidateViaCall {
                    debtPair: w.pair_between(QUOTE, p.debt).unwrap_or_default(),
                    collateralPair: w.pair_between(p.collateral, QUOTE).unwrap_or_default(),
                    collateral: ca,
                    debt: da,
                    user,
                    debtToCover: p.debt_to_cover,
                    borrow: p.repaid,
                    repayCollateral: c.flash_repay,
                    hubOut: c.flash_hub,
                    minProfit: min_profit,
                    coinbasePayment: U256::ZERO,
                }
                .abi_encode()
            };
            vec![(w.flash, data, flash_gas)]
        }
    }
}

/// What the chosen liquidations should leave in our wallet per reserve token: the sum of their
/// planned profits in the asset each arrives in.
fn expected_flows(chosen: &[(usize, Choice)], n: usize) -> Vec<i128> {
    let mut out = vec![0i128; n];
    for (_, c) in chosen {
        out[c.profit_asset] += c.profit_raw;
    }
    out
}

/// Our net token flow per reserve token in `receipts` (transfers to `us` minus transfers from it).
fn token_flows(receipts: &[Receipt], w: &LendingWorld, us: Address) -> Vec<i128> {
    let mut out = vec![0i128; w.tokens.len()];
    for e in receipts.iter().flat_map(|r| r.events()) {
        if let crate::chain::ChainEvent::Transfer { token, from, to, value } = e
            && let Some(i) = w.tokens.iter().position(|t| t.address == token)
        {
            let v = value.saturating_to::<i128>();
            out[i] += if to == us { v } else { 0 } - if from == us { v } else { 0 };
        }
    }
    out
}

/// Liquidations of one borrower planned into one bundle at most (each needs a profitable size).
const MAX_LIQUIDATIONS_PER_BORROWER: usize = 8;

/// `b`'s best liquidation against the pools as `pairs` holds them, with flash swaps from the
/// direct pairs when `flash` is on; `costs` = (gas per liquidation by funding, minimum profit) in
/// base units.
fn choose(
    w: &LendingWorld,
    pairs: &PairBook,
    flash: bool,
    reserves: &[Reserve],
    inventory: &[U256],
    costs: ([i128; 2], i128),
    b: &Borrower,
) -> Result<Choice, crate::strategies::liquidation::Skip> {
    let route = |c: usize, d: usize| w.route(pairs, c, d);
    let flash_route = |c: usize, d: usize| flash.then(|| w.flash_route(pairs, c, d)).flatten();
    let m = Market {
        reserves,
        route: &route,
        flash: &flash_route,
        fee_bps: w.fee_bps,
        inventory,
        gas_base: &|f| costs.0[f as usize],
        min_profit_base: costs.1,
    };
    best_choice(&m, b)
}

/// `gas_wei` at ETH's oracle price, in base units.
fn gas_in_base(gas_wei: u128, reserves: &[Reserve]) -> i128 {
    (U256::from(gas_wei) * reserves[0].price / U256::from(10u128.pow(18))).saturating_to::<i128>()
}
