//! What fork mode would have sent: our bundles signed, simulated on the pinned state, checked to
//! the wei and kept by the dry-run sink (with each configured builder's own request), replaced or
//! withdrawn as the strategies say, and cross-DEX arbitrages as one-transaction bundles.

use alloy_primitives::{Address, B256, Bytes};

use super::ForkWorld;
use crate::core::{Action, BundleStatus, Event, PoolId, SimTime, SkipReason};
use crate::execution::bundle_manager::{Simulated, token_flows_of};
use crate::risk::RiskGate;

/// A bundle of ours the dry-run sink took: what it would have sent, and what its simulation showed.
#[derive(Clone, Debug, PartialEq)]
pub struct WouldSend {
    pub strategy: u16,
    pub tag: u64,
    pub target_block: u64,
    pub bundle_hash: B256,
    pub replacement_id: Option<String>,
    pub txs: Vec<Bytes>,
    /// Gas our transactions used in the simulation and what they would have paid for it (wei).
    pub gas_used: u64,
    pub gas_wei: u128,
    pub bribe_wei: u128,
    /// Our simulated net flow per token (raw units).
    pub flows: Vec<(Address, i128)>,
    /// The pending transactions it wraps.
    pub victims: Vec<B256>,
    /// Replaced or cancelled before its block: it would not have been the one at the relay.
    pub withdrawn: bool,
    /// Each configured builder's own request for it (`fork.builders`), and its cancellation.
    pub requests: Vec<crate::relay::builders::BuilderRequest>,
}

/// An atomic two-pool arbitrage a strategy asked for (cross-DEX): the plan, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtomicRecord {
    pub strategy: u16,
    /// The block it was for (the next walked block).
    pub block: u64,
    pub buy_pool: u16,
    pub sell_pool: u16,
    pub quote_in: u128,
    pub base_mid: u128,
    pub quote_out: u128,
    /// Quote raw: out − in, and the strategy's gas estimate at the pool's price, and their difference.
    pub predicted_gross: i128,
    pub predicted_gas: i128,
    pub predicted_net: i128,
    /// The bundle the dry-run sink holds for it (`would_send`), or why there is none.
    pub would_send: Option<usize>,
    pub outcome: &'static str,
    /// Why the simulation failed, when it did.
    pub reason: String,
}

/// One of our bundles at the dry-run sink, until its block.
pub(super) struct Live {
    pub(super) strategy: u16,
    pub(super) tag: u64,
    pub(super) target: u64,
    pub(super) hash: B256,
    pub(super) sim: Simulated,
    pub(super) index: usize,
}

impl ForkWorld<'_> {
    /// Signs, simulates on the pinned state and records a bundle (the dry-run sink), or withdraws one.
    pub(super) fn carry_out(
        &mut self,
        strategy: u16,
        action: Action,
        now: SimTime,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) -> Result<(), SkipReason> {
        match action {
            Action::Bundle(req) => {
                let confirmed = self.desk.confirm(strategy, &req, &mut self.chain, now, risk, out);
                if let Some(e) = self.chain.db().db.failure() {
                    self.fail(format!("reading state for a bundle's simulation: {e}"));
                    return Err(SkipReason::SimulationFailed);
                }
                let confirmed = confirmed?;
                let txs = confirmed.bundle.txs.clone();
                let Some((hash, sim)) = self.desk.submit(strategy, &req, confirmed, now, risk, out) else {
                    return Ok(());
                };
                let ours: Vec<_> = sim.receipts.iter().filter(|r| r.from == self.me).collect();
                let flows = token_flows_of(&sim.receipts, self.me);
                let record = WouldSend {
                    strategy,
                    tag: req.tag,
                    target_block: req.target_block,
                    bundle_hash: hash,
                    replacement_id: req.replacement_id.clone(),
                    txs,
                    gas_used: ours.iter().map(|r| r.gas_used).sum(),
                    gas_wei: ours.iter().map(|r| u128::from(r.gas_used) * r.effective_gas_price).sum(),
                    bribe_wei: req.bribe_wei,
                    flows,
                    victims: sim.receipts.iter().filter(|r| r.from != self.me).map(|r| r.tx_hash).collect(),
                    withdrawn: false,
                    requests: Vec::new(),
                };
                let intent = crate::relay::builders::BundleIntent {
                    txs: record.txs.clone(),
                    block: record.target_block,
                    min_timestamp: None,
                    max_timestamp: None,
                    reverting: Vec::new(),
                    replacement_uuid: record.replacement_id.clone(),
                    refund: None,
                };
                let requests = self.builder_requests(|b| b.send(&intent, 1));
                let record = WouldSend { requests, ..record };
                self.would_send.push(record);
                let index = self.would_send.len() - 1;
                let uuid = req.replacement_id.clone().unwrap_or_else(|| format!("{hash}"));
                let live = Live { strategy, tag: req.tag, target: req.target_block, hash, sim, index };
                if let Some(old) = self.live.insert(uuid, live) {
                    self.desk.manager.stats.replaced += 1;
                    self.would_send[old.index].withdrawn = true;
                    self.desk.tell(old.strategy, old.tag, BundleStatus::Replaced, Some(old.hash), out);
                }
                Ok(())
            }
            Action::Cancel { replacement_id } => {
                if let Some(l) = self.live.remove(&replacement_id)
                    && self.desk.manager.cancel(&replacement_id).is_ok()
                {
                    let cancels = self.builder_requests(|b| b.cancel(&replacement_id, 1));
                    self.would_send[l.index].requests.extend(cancels);
                    self.would_send[l.index].withdrawn = true;
                    self.desk.tell(l.strategy, l.tag, BundleStatus::Cancelled, Some(l.hash), out);
                }
                Ok(())
            }
            Action::AtomicArb(plan) => self.atomic_arb(strategy, plan, now, risk, out),
            Action::Arbitrage(_) => Err(SkipReason::VenueBusy),
        }
    }

    /// Each configured builder's request (`body` of it), signed by the relay-auth key; a failed
    /// signature leaves that builder out and says so.
    fn builder_requests(
        &self,
        body: impl Fn(crate::relay::builders::Builder) -> serde_json::Value,
    ) -> Vec<crate::relay::builders::BuilderRequest> {
        self.fork
            .builders
            .iter()
            .filter_map(|b| {
                b.request(body(*b), &self.relay_auth)
                    .inspect_err(|e| tracing::warn!(target: "xcrack::fork", builder = b.name(), error = %e, "request not signed"))
                    .ok()
            })
            .collect()
    }

    /// A cross-DEX arbitrage as one executor transaction for the next walked block: a one-
    /// transaction bundle (a public swap pair would be sandwiched), simulated on the pinned state
    /// with our quote flow checked against the plan's gross to the wei, and recorded.
    fn atomic_arb(
        &mut self,
        strategy: u16,
        plan: crate::core::AtomicPlan,
        now: SimTime,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) -> Result<(), SkipReason> {
        let next = self.heads.get(self.k + 1).copied().ok_or(SkipReason::StaleQuote)?;
        let pair = |p: PoolId| self.venues.get(p.0 as usize).map(|v| v.pair).ok_or(SkipReason::SimulationFailed);
        let (buy, sell) = (pair(plan.buy_pool)?, pair(plan.sell_pool)?);
        let route = crate::sim::desk::AtomicRoute {
            weth: self.fork.weth,
            quote: self.fork.quote,
            buy_pair: buy,
            sell_pair: sell,
            executor: self.book.executor,
            me: self.me,
        };
        let req = crate::sim::desk::atomic_bundle_request(
            &plan,
            &route,
            (next.number, next.timestamp),
            self.next_base_fee(),
            self.atomic.len() as u64,
            now,
        );
        let sent_before = self.would_send.len();
        let r = self.carry_out(strategy, Action::Bundle(Box::new(req)), now, risk, out);
        let would_send = (self.would_send.len() > sent_before).then_some(sent_before);
        let tag = self.atomic.len() as u64;
        let reason = match &r {
            Err(_) => self.desk.bundle_report(strategy, tag).map(|x| x.reason.clone()).unwrap_or_default(),
            Ok(()) => String::new(),
        };
        self.atomic.push(AtomicRecord {
            strategy,
            block: next.number,
            buy_pool: plan.buy_pool.0,
            sell_pool: plan.sell_pool.0,
            quote_in: plan.quote_in,
            base_mid: plan.base_mid,
            quote_out: plan.quote_out,
            predicted_gross: plan.predicted_gross,
            predicted_gas: plan.predicted_gas,
            predicted_net: plan.predicted_net,
            would_send,
            outcome: match (&r, would_send) {
                (Ok(()), Some(_)) => "not_sent",
                (Ok(()), None) => "submit_failed",
                (Err(_), _) => "simulation_failed",
            },
            reason,
        });
        r
    }
}
