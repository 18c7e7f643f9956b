//! What every world with bundles shares: the pending transactions it announced (by `TxId`), the
//! bundle manager that signs, simulates, checks flows and sends, and the reports strategies read
//! back through `ChainView::bundle_report`.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes};

use crate::core::{Action, BundleReport, BundleRequest, BundleStatus, Event, SimTime, SkipReason, TxId};
use crate::engine::driver::Decision;
use crate::execution::bundle_manager::{BundleChain, BundleManager, Confirmed, Simulated};
use crate::risk::RiskGate;

pub struct BundleDesk {
    pub manager: BundleManager,
    announced: Vec<(Bytes, Address)>,
    reports: BTreeMap<(u16, u64), BundleReport>,
}

impl BundleDesk {
    pub fn new(manager: BundleManager) -> Self {
        BundleDesk { manager, announced: Vec::new(), reports: BTreeMap::new() }
    }

    /// Numbers a pending transaction for the strategies (raw bytes and its sender).
    pub fn announce(&mut self, raw: Bytes, from: Address) -> TxId {
        self.announced.push((raw, from));
        TxId(self.announced.len() as u32 - 1)
    }

    pub fn pending_raw(&self, id: TxId) -> Option<&Bytes> {
        self.announced.get(id.0 as usize).map(|(raw, _)| raw)
    }

    pub fn bundle_report(&self, strategy: u16, tag: u64) -> Option<&BundleReport> {
        self.reports.get(&(strategy, tag))
    }

    /// Files `r` and tells `strategy` there is news of its bundle.
    pub fn report(&mut self, strategy: u16, r: BundleReport, out: &mut Vec<Event>) {
        let tag = r.tag;
        self.reports.insert((strategy, tag), r);
        out.push(Event::BundleResult { strategy, tag });
    }

    pub fn tell(&mut self, strategy: u16, tag: u64, status: BundleStatus, hash: Option<B256>, out: &mut Vec<Event>) {
        self.report(strategy, BundleReport { tag, status, hash, reason: String::new(), ours: Vec::new() }, out);
    }

    /// Signs `req` and simulates it on `chain`: confirmed when our flows are as requested;
    /// otherwise the strategy hears why, the gate counts a failure and nothing is sent. (The
    /// caller lets go of the chain before `submit`: the embedded relay needs it to answer.)
    pub fn confirm(
        &mut self,
        strategy: u16,
        req: &BundleRequest,
        chain: &mut dyn BundleChain,
        now: SimTime,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) -> Result<Confirmed, SkipReason> {
        let announced = &self.announced;
        let wrapped = |id: TxId| announced.get(id.0 as usize).cloned();
        let confirmed = self
            .manager
            .sign_request(req, chain, &wrapped)
            .and_then(|b| self.manager.simulate_flows(b, chain, req.timestamp, &req.expected_flows));
        confirmed.map_err(|reason| {
            let r =
                BundleReport { tag: req.tag, status: BundleStatus::SimulationFailed, hash: None, reason, ours: vec![] };
            self.report(strategy, r, out);
            risk.record_outcome(now, false);
            SkipReason::SimulationFailed
        })
    }

    /// Sends a confirmed bundle through the sink, telling the strategy and the gate how it went:
    /// its hash and simulation when the sink took it.
    pub fn submit(
        &mut self,
        strategy: u16,
        req: &BundleRequest,
        c: Confirmed,
        now: SimTime,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) -> Option<(B256, Simulated)> {
        let failed = |status, reason| BundleReport { tag: req.tag, status, hash: None, reason, ours: Vec::new() };
        match self.manager.submit(&c, req.replacement_id.clone()) {
            Ok(h) => {
                self.tell(strategy, req.tag, BundleStatus::Submitted, Some(h), out);
                risk.record_outcome(now, true);
                Some((h, c.sim))
            }
            Err(e) => {
                self.report(strategy, failed(BundleStatus::SubmitFailed, e), out);
                risk.record_outcome(now, false);
                None
            }
        }
    }

    /// The gate or the world turned a bundle down: its strategy hears why.
    pub fn declined(&mut self, strategy: u16, action: &Action, decision: Decision, out: &mut Vec<Event>) {
        if let Action::Bundle(req) = action {
            let reason = match decision {
                Decision::Refused(r) => r.as_str().to_string(),
                Decision::Skipped(s) => s.as_str().to_string(),
                Decision::Executed => return,
            };
            let r = BundleReport { tag: req.tag, status: BundleStatus::Refused, hash: None, reason, ours: Vec::new() };
            self.report(strategy, r, out);
        }
    }
}

/// Bundles out at once if `req` is sent: those in `live` (by replacement id), less the one it
/// replaces.
pub fn bundles_out<V>(live: &BTreeMap<String, V>, req: &BundleRequest) -> u32 {
    let replaces = req.replacement_id.as_ref().is_some_and(|u| live.contains_key(u));
    (live.len() - usize::from(replaces)) as u32
}

/// Does `req` move a token `safety.allowed_tokens` does not name? `weth` stands for the base asset
/// (allowed as `ETH` or `WETH`), `quote` for the quote token; any other token is foreign.
pub fn moves_foreign_token(spec: &crate::config::RunSpec, weth: Address, quote: Address, req: &BundleRequest) -> bool {
    let safety = &spec.safety;
    let base = safety.allows(&spec.base_symbol) || safety.allows(&format!("W{}", spec.base_symbol));
    req.expected_flows
        .iter()
        .any(|(t, _)| if *t == weth { !base } else { *t != quote || !safety.allows(&spec.quote_symbol) })
}

/// The relay our bundles go to: its book, its HTTP server on loopback, and the inbox through which
/// the server's `eth_callBundle` reach whoever owns the chain (served between the world's steps).
pub struct RelayHost {
    pub relay: crate::relay::SharedRelay,
    pub inbox: crate::relay::ChainInbox,
    server: crate::relay::RelayServer,
}

impl RelayHost {
    /// A relay whose head is `chain`'s, listening on a free loopback port.
    pub fn start<X: revm::database::DatabaseRef>(
        chain: &crate::chain::SimChain<X>,
        block_s: u64,
    ) -> std::io::Result<Self> {
        let relay = std::sync::Arc::new(std::sync::Mutex::new(crate::relay::Relay::new(chain, block_s)));
        let (port, inbox) = crate::relay::chain_port();
        let loopback: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        let server = crate::relay::RelayServer::start(relay.clone(), port, loopback)?;
        tracing::info!(target: "xcrack::relay", addr = %server.addr(), "embedded relay listening");
        Ok(RelayHost { relay, inbox, server })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    /// The book, even if a server thread panicked while holding it (the book stays consistent:
    /// every change to it is a single insert or remove).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, crate::relay::Relay> {
        self.relay.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stop(&mut self) {
        self.server.stop();
    }
}

/// Where an atomic two-pool arbitrage goes: the tokens, the two pairs, our executor and us.
pub struct AtomicRoute {
    pub weth: Address,
    pub quote: Address,
    pub buy_pair: Address,
    pub sell_pair: Address,
    pub executor: Address,
    pub me: Address,
}

/// A cross-DEX plan as a one-transaction bundle for block `target` at `timestamp`: our executor's
/// two-hop call, its fees on `base_fee`, the plan's gross as the flow the simulation must show.
pub fn atomic_bundle_request(
    plan: &crate::core::AtomicPlan,
    route: &AtomicRoute,
    (target, timestamp): (u64, u64),
    base_fee: u128,
    tag: u64,
    now: SimTime,
) -> BundleRequest {
    let data = crate::market::pool_engine::atomic_call(
        (route.weth, route.quote),
        (route.buy_pair, route.sell_pair),
        route.me,
        plan,
    );
    let tip = plan.priority_fee_wei;
    BundleRequest {
        tag,
        target_block: target,
        timestamp,
        txs: vec![crate::core::BundleTx::Ours {
            to: route.executor,
            data: data.into(),
            value: alloy_primitives::U256::ZERO,
            gas_limit: plan.gas_limit,
            max_fee_per_gas: 2 * base_fee + tip,
            max_priority_fee_per_gas: tip,
        }],
        expected_flows: vec![(route.quote, plan.predicted_gross)],
        replacement_id: None,
        pools: vec![plan.buy_pool.0, plan.sell_pool.0],
        gas_wei: u128::from(plan.gas_limit) * (base_fee + tip),
        bribe_wei: 0,
        expected_net_wei: 0,
        decided_at: now,
        contest: None,
        accounts: Vec::new(),
    }
}

/// What the risk gate is told of an atomic arbitrage before it is carried out: its gas at
/// `base_fee`, and whether it moves a token the allowlist does not name.
pub fn assess_atomic(
    spec: &crate::config::RunSpec,
    plan: &crate::core::AtomicPlan,
    base_fee: u128,
) -> crate::engine::driver::Assessment {
    crate::engine::driver::Assessment {
        gas_wei: u128::from(plan.gas_limit) * (base_fee + plan.priority_fee_wei),
        foreign_token: !(spec.safety.allows(&spec.quote_symbol)
            && (spec.safety.allows(&spec.base_symbol) || spec.safety.allows(&format!("W{}", spec.base_symbol)))),
        ..crate::engine::driver::Assessment::default()
    }
}
