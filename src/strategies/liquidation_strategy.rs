//! The liquidation strategy: it reads the oracle's price updates from the mempool (raw signed
//! transactions, decoded), keeps the watch list of borrowers, and when the block is about to be
//! built picks the newly liquidatable ones (largest debts first), gives each its best liquidations
//! against the pools as our own earlier sales leave them (several per borrower when one is not
//! enough), prices the bribe, and asks for one bundle [oracle updates, liquidations…, bribe] whose
//! token flows it states to the wei. It learns each funding's gas from its own receipts.

use std::collections::BTreeMap;

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolCall;

use super::lending_book::{LendingBook, PairBook, QUOTE};
use super::liquidation::{Borrower, Choice, Funding, Market, Skip, WatchList, base_value, best_choice};
use crate::chain::contracts::{self, IFlashLiquidator, ILendingPool, IPriceOracle, IUniswapV2Router02};
use crate::config::LiquidationSpec;
use crate::core::{
    Action, BUILD_DEADLINE, BundleReport, BundleRequest, BundleStatus, BundleTx, ChainView, Contest, Ctx, Event,
    Strategy, StrategyError, StrategyId, TxId,
};
use crate::market::lending::{self, Reserve};
use crate::mempool::PendingTx;

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

impl LiquidationRecord {
    /// Every outcome a record can end with.
    pub const OUTCOMES: [&'static str; 8] = [
        "pending",
        "included",
        "simulation_failed",
        "submit_failed",
        "risk_refused",
        "outbid",
        "not_included",
        "not_sent",
    ];
}

/// Liquidations of one borrower planned into one bundle at most (each needs a profitable size).
const MAX_LIQUIDATIONS_PER_BORROWER: usize = 8;

/// The bundle out for the block being built: what settling it needs.
struct Out {
    tag: u64,
    chosen: Vec<(usize, Choice)>,
    health: Vec<(U256, U256)>,
    tx_counts: Vec<usize>,
    first_record: usize,
    bribe: u128,
    gross_base: i128,
}

pub struct LiquidationStrategy {
    spec: LiquidationSpec,
    slot: u16,
    w: LendingBook,
    /// Oracle prices as the posted updates set them.
    pub reserves: Vec<Reserve>,
    pub watch: WatchList,
    waiting: Vec<usize>,
    /// This block's news: candidates from price updates, the updates themselves, replayed moves.
    candidates: Vec<usize>,
    updates: Vec<TxId>,
    replay_moved: Vec<usize>,
    replay_any: bool,
    market_moved: bool,
    /// Gas per liquidation by funding (inventory, flash swap): the configured estimate, raised to
    /// the dearest our own receipts have shown (a pool with many reserves makes liquidationCall
    /// dearer; the cheapest would let marginal liquidations lose money after gas).
    pub gas_used: [u64; 2],
    gas_price: u128,
    base_fee: u128,
    min_profit_base: i128,
    operator: Address,
    us: Address,
    genesis_ts: u64,
    out: Option<Out>,
    /// Borrowers our last bundle planned for (re-read from the pool once the block is built).
    touched: Vec<usize>,
    pub records: Vec<LiquidationRecord>,
    pub skips: BTreeMap<&'static str, u64>,
    /// Per reserve token, then ETH (last).
    pub initial: Vec<u128>,
    pub booked: Vec<u128>,
    pub bundles: u64,
}

pub const ID: StrategyId = StrategyId("liquidation");

pub struct LiquidationSetup {
    pub spec: LiquidationSpec,
    pub slot: u16,
    pub world: LendingBook,
    pub reserves: Vec<Reserve>,
    pub borrowers: Vec<Borrower>,
    pub initial: Vec<u128>,
    pub base_fee: u128,
    pub quote_decimals: u32,
    pub operator: Address,
    pub us: Address,
    /// The chain's timestamp at SimTime 0 (unix seconds).
    pub genesis_ts: u64,
}

impl LiquidationStrategy {
    pub fn new(s: LiquidationSetup) -> Self {
        let min_profit_base = (U256::from(s.spec.min_profit_quote) * U256::from(lending::USD)
            / U256::from(10u128.pow(s.quote_decimals)))
        .saturating_to::<i128>();
        LiquidationStrategy {
            gas_used: [s.spec.gas_estimate; 2],
            gas_price: s.base_fee + s.spec.priority_fee_wei,
            base_fee: s.base_fee,
            min_profit_base,
            watch: WatchList::new(&s.reserves, s.borrowers),
            reserves: s.reserves,
            spec: s.spec,
            slot: s.slot,
            w: s.world,
            waiting: Vec::new(),
            candidates: Vec::new(),
            updates: Vec::new(),
            replay_moved: Vec::new(),
            replay_any: false,
            market_moved: false,
            operator: s.operator,
            us: s.us,
            genesis_ts: s.genesis_ts,
            out: None,
            touched: Vec::new(),
            records: Vec::new(),
            skips: BTreeMap::new(),
            booked: s.initial.clone(),
            initial: s.initial,
            bundles: 0,
        }
    }

    fn pairs(&self, chain: &dyn ChainView) -> PairBook {
        PairBook::read_with(&self.w, &mut |c, s| chain.storage(c, s))
    }

    /// `b`'s best liquidation against the pools as `pairs` holds them.
    fn choose(
        &self,
        pairs: &PairBook,
        inventory: &[U256],
        costs: ([i128; 2], i128),
        b: &Borrower,
    ) -> Result<Choice, Skip> {
        choose(&self.w, pairs, self.spec.flash_swaps, &self.reserves, inventory, costs, b)
    }

    fn gas_base(&self) -> [i128; 2] {
        self.gas_used.map(|g| gas_in_base(u128::from(g) * self.gas_price, &self.reserves))
    }

    /// An oracle update in the mempool: the price it posts, and who it makes liquidatable.
    fn on_pending(&mut self, id: TxId, raw: &Bytes) {
        let Ok(tx) = PendingTx::from_raw(raw.clone()) else { return };
        if tx.from != self.operator || tx.to != Some(self.w.market.oracle) {
            return;
        }
        let Ok(call) = IPriceOracle::setAssetPriceCall::abi_decode(&tx.input) else { return };
        let Some(i) = self.w.tokens.iter().position(|t| t.address == call.asset) else { return };
        let old = self.reserves[i].price;
        self.reserves[i].price = call.price;
        let affected = self.watch.affected(&self.reserves, i, old);
        self.candidates.extend(affected);
        self.updates.push(id);
    }

    /// The block is about to be built: choose, then ask for the bundle.
    fn decide(&mut self, ctx: &Ctx<'_>, out: &mut Vec<Action>) {
        let l = self.spec.clone();
        let n = self.reserves.len();
        let head = ctx.market.block().number;
        let mut candidates = std::mem::take(&mut self.candidates);
        for i in std::mem::take(&mut self.replay_moved) {
            if self.watch.liquidatable(&self.reserves, i) {
                candidates.push(i);
            }
        }
        let any_update = !self.updates.is_empty();
        // Borrowers already passed over are looked at again only when prices, positions or pools
        // may have moved since (an update, a replay row, a landed bundle).
        if any_update || self.replay_any || self.market_moved {
            candidates.append(&mut self.waiting);
        }
        // What a landed bundle moved counts for the block after it only.
        (self.replay_any, self.market_moved) = (false, false);
        candidates.sort_unstable();
        candidates.dedup();
        // Largest debts first (in base units), then sized one after another against the pools
        // as our own earlier sales leave them, within our inventory.
        let reserves = &self.reserves;
        let debt_value = |b: &Borrower| lending::account_data(reserves, &b.collateral, &b.debt).total_debt_base;
        candidates.sort_by_key(|&i| std::cmp::Reverse(debt_value(&self.watch.borrowers[i])));
        // Pool reserves are read only when there is someone to size against them.
        let mut pairs = if candidates.is_empty() { PairBook::default() } else { self.pairs(ctx.chain) };
        let mut inventory: Vec<U256> = self.booked[..n].iter().map(|&v| U256::from(v)).collect();
        let eth_price = self.reserves[0].price.saturating_to::<u128>();
        let gas_base = self.gas_base();
        // A borrower may take several liquidations in one bundle (one debt asset each, or a
        // close factor that leaves it below 1): each planned on the position the last leaves.
        let mut chosen: Vec<(usize, Choice)> = Vec::new();
        let mut health: Vec<(U256, U256)> = Vec::new();
        for i in candidates {
            let mut b = self.watch.borrowers[i].clone();
            for round in 0..MAX_LIQUIDATIONS_PER_BORROWER {
                let c = match self.choose(&pairs, &inventory, (gas_base, self.min_profit_base), &b) {
                    Ok(c) => c,
                    Err(s) => {
                        if round == 0 {
                            *self.skips.entry(s.name()).or_default() += 1;
                            if s != Skip::HealthFactorAbove1 {
                                self.waiting.push(i);
                            }
                        }
                        break;
                    }
                };
                let p = &c.plan;
                let w = &self.w;
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
                let before = lending::account_data(&self.reserves, &b.collateral, &b.debt).health_factor;
                b.collateral[p.collateral] -= p.seized;
                b.debt[p.debt] -= p.repaid;
                health.push((before, lending::account_data(&self.reserves, &b.collateral, &b.debt).health_factor));
                chosen.push((i, c));
            }
        }
        self.touched = chosen.iter().map(|(i, _)| *i).collect();
        let updates = std::mem::take(&mut self.updates);
        if chosen.is_empty() {
            return;
        }
        // The bundle: the updates first, then each liquidation, then the bribe.
        let base_fee = self.base_fee;
        let mut txs: Vec<BundleTx> = updates.iter().map(|id| BundleTx::Wrapped(*id)).collect();
        let first_record = self.records.len();
        let gross_base: i128 = chosen.iter().map(|(_, c)| c.gross_base).sum();
        let to_wei = |base: i128| {
            (U256::from(base.max(0) as u128) * U256::from(10u128.pow(18)) / U256::from(eth_price.max(1)))
                .saturating_to::<u128>()
        };
        let gas_wei_est: u128 =
            chosen.iter().map(|(_, c)| u128::from(self.gas_used[c.funding as usize]) * self.gas_price).sum();
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
            .min(self.booked[n].saturating_sub(upfront.max(self.initial[n] / 2)));
        let ours = |to: Address, data: Vec<u8>, value: u128, gas_limit: u64| BundleTx::Ours {
            to,
            data: data.into(),
            value: U256::from(value),
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: l.priority_fee_wei,
        };
        let mut tx_counts: Vec<usize> = Vec::with_capacity(chosen.len());
        for (k, (i, c)) in chosen.iter().enumerate() {
            let b = &self.watch.borrowers[*i];
            let p = &c.plan;
            let legs = liquidation_calls(&self.w, c, b.user, self.us, (leg_gas, flash_gas));
            tx_counts.push(legs.len());
            txs.extend(legs.into_iter().map(|(to, data, gas)| ours(to, data, 0, gas)));
            self.records.push(LiquidationRecord {
                block: head + 1,
                borrower: b.user,
                collateral: p.collateral,
                debt: p.debt,
                funding: c.funding,
                health_before: health[k].0,
                health_after: None,
                debt_to_cover: p.debt_to_cover,
                predicted_repaid: p.repaid,
                predicted_seized: p.seized,
                predicted_proceeds: p.proceeds,
                profit_asset: c.profit_asset,
                realised_gross: None,
                gross_base: c.gross_base,
                bonus_base: base_value(&self.reserves[p.collateral], p.seized.saturating_to())
                    - base_value(&self.reserves[p.debt], p.repaid.saturating_to()),
                gas_wei: 0,
                bribe_wei: 0,
                eth_price,
                outcome: "pending",
                reason: String::new(),
                source_block: None,
            });
        }
        if bribe > 0 {
            let pay = contracts::ISearcherExecutor::executeCall {
                hops: vec![],
                profitToken: self.w.dex.usdc,
                minProfit: U256::ZERO,
                coinbasePayment: U256::from(bribe),
            };
            txs.push(ours(self.w.dex.executor, pay.abi_encode(), bribe, leg_gas));
        }
        // Confirmed only when every transaction succeeds and our net token flow in the
        // simulation equals the planned profit in every asset, to the wei.
        let mut flows = vec![0i128; n];
        for (_, c) in &chosen {
            flows[c.profit_asset] += c.profit_raw;
        }
        let expected_flows = self.w.tokens.iter().zip(flows).map(|(t, f)| (t.address, f)).collect();
        // Rivals contest the liquidation of our most valuable borrower.
        let contest = chosen.iter().max_by_key(|(_, c)| c.gross_base).map(|(i, c)| Contest {
            to: self.w.market.pool,
            data: liquidation_call(&self.w, c, self.watch.borrowers[*i].user).into(),
            value_wei: to_wei(c.gross_base),
        });
        let tag = self.bundles;
        self.bundles += 1;
        let timestamp = ctx.chain.next_block_at();
        let req = BundleRequest {
            tag,
            target_block: head + 1,
            timestamp: self.genesis_ts + timestamp / crate::core::NANOS_PER_SEC,
            txs,
            expected_flows,
            replacement_id: None,
            pools: Vec::new(),
            gas_wei: gas_wei_est,
            bribe_wei: bribe,
            expected_net_wei: to_wei(gross_base) as i128 - gas_wei_est as i128 - bribe as i128,
            decided_at: ctx.now,
            contest,
            accounts: chosen.iter().map(|(i, _)| self.watch.borrowers[*i].user).collect(),
        };
        self.out = Some(Out { tag, chosen, health, tx_counts, first_record, bribe, gross_base });
        out.push(Action::Bundle(Box::new(req)));
    }

    fn settle(&mut self, r: &BundleReport) {
        let Some(o) = self.out.as_ref().filter(|o| o.tag == r.tag) else { return };
        let n = self.reserves.len();
        let recs = o.first_record..o.first_record + o.chosen.len();
        match r.status {
            BundleStatus::Submitted => {}
            BundleStatus::SimulationFailed | BundleStatus::SubmitFailed | BundleStatus::Refused => {
                let outcome = match r.status {
                    BundleStatus::SimulationFailed => "simulation_failed",
                    BundleStatus::SubmitFailed => "submit_failed",
                    _ => "risk_refused",
                };
                for x in &mut self.records[recs] {
                    (x.outcome, x.reason) = (outcome, r.reason.clone());
                }
                if r.status != BundleStatus::SubmitFailed {
                    if r.status == BundleStatus::Refused {
                        *self.skips.entry("risk_limit").or_default() += 1;
                    }
                    let again: Vec<usize> = o.chosen.iter().map(|(i, _)| *i).collect();
                    self.waiting.extend(again);
                }
            }
            BundleStatus::Included => {
                let Some(o) = self.out.take() else { return };
                let cost = |x: &crate::core::OurTxEffect| x.gas_wei();
                let gas_total: u128 = r.ours.iter().map(cost).sum();
                self.booked[n] -= gas_total + o.bribe;
                let mut at = 0;
                for (k, (_, c)) in o.chosen.iter().enumerate() {
                    let rec = &mut self.records[o.first_record + k];
                    rec.gas_wei = r.ours.iter().skip(at).take(o.tx_counts[k]).map(cost).sum();
                    let used: u64 = r.ours.iter().skip(at).take(o.tx_counts[k]).map(|x| x.gas_used).sum();
                    let seen = &mut self.gas_used[c.funding as usize];
                    *seen = (*seen).max(used);
                    at += o.tx_counts[k];
                    rec.bribe_wei =
                        if o.gross_base > 0 { o.bribe * c.gross_base.max(0) as u128 / o.gross_base as u128 } else { 0 };
                    rec.realised_gross = Some(c.profit_raw);
                    rec.health_after = Some(o.health[k].1);
                    rec.outcome = "included";
                    self.booked[c.profit_asset] = (self.booked[c.profit_asset] as i128 + c.profit_raw) as u128;
                }
                // What the per-liquidation split leaves (the bribe transaction's own gas, the bribe's
                // rounding) goes to the bundle's last liquidation, so the records add up to the wei.
                let recs = &mut self.records[o.first_record..];
                let (g, b) = recs.iter().fold((0, 0), |(g, b), x| (g + x.gas_wei, b + x.bribe_wei));
                if let Some(last) = recs.last_mut() {
                    last.gas_wei += gas_total - g;
                    last.bribe_wei += o.bribe - b;
                }
                self.market_moved = true;
            }
            BundleStatus::Outbid | BundleStatus::Failed | BundleStatus::Expired => {
                let outcome = if r.status == BundleStatus::Outbid { "outbid" } else { "not_included" };
                for x in &mut self.records[recs] {
                    x.outcome = outcome;
                }
                self.market_moved = r.status == BundleStatus::Outbid;
            }
            BundleStatus::NotSent => {
                for x in &mut self.records[recs] {
                    x.outcome = "not_sent";
                }
            }
            BundleStatus::Replaced | BundleStatus::Cancelled => {}
        }
    }

    /// The block is built: whoever our bundle planned for is re-read from the pool.
    fn after_block(&mut self, chain: &dyn ChainView) {
        self.out = None;
        let touched = std::mem::take(&mut self.touched);
        for (k, &i) in touched.iter().enumerate() {
            if touched[..k].contains(&i) {
                continue;
            }
            let user = self.watch.borrowers[i].user;
            let (c, d) = self.w.position_with(&mut |a, s| chain.storage(a, s), user);
            if c != self.watch.borrowers[i].collateral || d != self.watch.borrowers[i].debt {
                self.watch.update(&self.reserves, i, c, d);
            }
            if self.watch.liquidatable(&self.reserves, i) && !self.waiting.contains(&i) {
                self.waiting.push(i);
            }
        }
    }

    /// At the end: borrowers still below 1, of them those no liquidation pays for at the end's
    /// prices and pools, and the debt above collateral value (base units).
    pub fn end_state(&self, chain: &dyn ChainView) -> (u64, u64, u128) {
        let (mut unhealthy, mut unprofitable, mut bad_debt) = (0, 0, 0u128);
        let pairs = self.pairs(chain);
        let n = self.reserves.len();
        let inventory: Vec<U256> = self.booked[..n].iter().map(|&v| U256::from(v)).collect();
        let costs = (self.gas_base(), self.min_profit_base);
        for b in &self.watch.borrowers {
            let d = lending::account_data(&self.reserves, &b.collateral, &b.debt);
            if d.health_factor < U256::from(lending::WAD) {
                unhealthy += 1;
                if self.choose(&pairs, &inventory, costs, b).is_err() {
                    unprofitable += 1;
                }
            }
            if d.total_debt_base > d.total_collateral_base {
                bad_debt += (d.total_debt_base - d.total_collateral_base).saturating_to::<u128>();
            }
        }
        (unhealthy, unprofitable, bad_debt)
    }
}

impl Strategy for LiquidationStrategy {
    fn id(&self) -> StrategyId {
        ID
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Ctx<'_>, out: &mut Vec<Action>) -> Result<(), StrategyError> {
        match *event {
            Event::PendingTx { id, .. } => {
                if let Some(raw) = ctx.chain.pending_raw(id) {
                    let raw = raw.clone();
                    self.on_pending(id, &raw);
                }
            }
            Event::Position { account } => {
                let i = account as usize;
                if let Some(b) = self.watch.borrowers.get(i) {
                    let user = b.user;
                    let (c, d) = self.w.position_with(&mut |a, s| ctx.chain.storage(a, s), user);
                    self.watch.update(&self.reserves, i, c, d);
                    self.replay_moved.push(i);
                    self.replay_any = true;
                }
            }
            Event::Timer { id: BUILD_DEADLINE } => self.decide(ctx, out),
            Event::BundleResult { strategy, tag } if strategy == self.slot => {
                if let Some(r) = ctx.chain.bundle_report(strategy, tag) {
                    let r = r.clone();
                    self.settle(&r);
                }
            }
            Event::Block(info) => {
                // Gas is priced at the base fee of the block being built, as the world announces
                // it (a fork's changes block by block; a combined run's with utilisation).
                if info.base_fee_wei > 0 && info.base_fee_wei != self.base_fee {
                    self.base_fee = info.base_fee_wei;
                    self.gas_price = info.base_fee_wei + self.spec.priority_fee_wei;
                }
                self.after_block(ctx.chain)
            }
            Event::Quote { .. } | Event::BundleResult { .. } | Event::Timer { .. } => {}
        }
        Ok(())
    }
}

/// `liquidationCall` of `user` as `c` plans it (our inventory-funded leg, and what a rival sends).
fn liquidation_call(w: &LendingBook, c: &Choice, user: Address) -> Vec<u8> {
    ILendingPool::liquidationCallCall {
        collateralAsset: w.tokens[c.plan.collateral].address,
        debtAsset: w.tokens[c.plan.debt].address,
        user,
        debtToCover: c.plan.debt_to_cover,
        receiveAToken: false,
    }
    .abi_encode()
}

/// Our transactions for one chosen liquidation as (to, calldata, gas limit): `liquidationCall`
/// and the sale along the DEX path, or one flash-swap call (direct or through the quote token).
fn liquidation_calls(
    w: &LendingBook,
    c: &Choice,
    user: Address,
    us: Address,
    (leg_gas, flash_gas): (u64, u64),
) -> Vec<(Address, Vec<u8>, u64)> {
    let p = &c.plan;
    let (ca, da) = (w.tokens[p.collateral].address, w.tokens[p.debt].address);
    match c.funding {
        Funding::Inventory => {
            let sell = IUniswapV2Router02::swapExactTokensForTokensCall {
                amountIn: p.seized,
                amountOutMin: p.proceeds,
                path: w.addresses(&w.path(p.collateral, p.debt).unwrap_or_default()),
                to: us,
                deadline: U256::MAX,
            };
            vec![(w.market.pool, liquidation_call(w, c, user), leg_gas), (w.router, sell.abi_encode(), leg_gas)]
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

/// `b`'s best liquidation against the pools as `pairs` holds them, with flash swaps from the
/// direct pairs when `flash` is on; `costs` = (gas per liquidation by funding, minimum profit) in
/// base units.
fn choose(
    w: &LendingBook,
    pairs: &PairBook,
    flash: bool,
    reserves: &[Reserve],
    inventory: &[U256],
    costs: ([i128; 2], i128),
    b: &Borrower,
) -> Result<Choice, Skip> {
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
