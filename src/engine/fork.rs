//! A fork dry run: the sandwich strategy, unchanged, over real chain state through the one driver.
//! The world (`sim::fork::ForkWorld`) pins each block through the node (or a recording), offers
//! the next block's transactions as pending, confirms our bundles by simulation on that state and
//! records them; nothing is sent.

use std::collections::BTreeMap;

use super::driver;
use super::journal::Journal;
use super::manager::StrategyManager;
use super::queue::EventQueue;
use crate::chain::rpc::{BlockHead, RpcSource};
use crate::config::RunSpec;
use crate::core::SimTime;
use crate::execution::bundle_manager::BundleStats;
use crate::risk::RiskGate;
use crate::sim::fork::ForkWorld;
pub use crate::sim::fork::{ForkCounts, ForkRunError, RivalSandwich, WouldSend};
use crate::strategies::sandwich_strategy::{SandwichRecord, SandwichStrategy};

pub struct ForkResult {
    pub first: BlockHead,
    pub blocks: u64,
    pub records: Vec<SandwichRecord>,
    pub skips: BTreeMap<String, u64>,
    pub would_send: Vec<WouldSend>,
    pub rivals: Vec<RivalSandwich>,
    pub bundles: BundleStats,
    pub counts: ForkCounts,
    /// Requests that reached the transport (a batch is one; replayed ones included).
    pub rpc_requests: u64,
    pub risk_rejects: [u64; crate::risk::RiskReject::ALL.len()],
    pub journal: Journal,
}

/// Strategies fork mode runs today, checked against what the config enables.
fn check_strategies(spec: &RunSpec) -> Result<(), ForkRunError> {
    let others = [
        ("strategies.micro_arbitrage.enabled", spec.micro.enabled),
        ("strategies.cross_dex.enabled", spec.cross_dex.enabled),
        ("strategies.liquidation.enabled", spec.liquidation.enabled),
    ];
    if let Some((key, _)) = others.iter().find(|(_, on)| *on) {
        return Err(ForkRunError::Config {
            key: key.to_string(),
            message: "fork mode runs the sandwich strategy over real pools; set this to false (the others \
                      need CEX venues or a lending pool, which fork mode does not read yet)"
                .into(),
        });
    }
    if !spec.sandwich.enabled {
        return Err(ForkRunError::Config {
            key: "strategies.sandwich.enabled".into(),
            message: "fork mode has nothing to run: enable the sandwich strategy".into(),
        });
    }
    Ok(())
}

pub fn run(spec: &RunSpec, rpc: RpcSource) -> Result<ForkResult, ForkRunError> {
    check_strategies(spec)?;
    let counter = rpc.clone();
    let mut world = ForkWorld::new(spec, rpc)?;
    let first = *world.first_block();
    let blocks = world.blocks();
    let fork = spec.fork.as_ref().ok_or(ForkRunError::Internal("fork mode without [fork]"))?;
    let fees = fork.pools.iter().map(|p| p.fee_bps).collect();
    let strategy =
        SandwichStrategy::new(spec.sandwich.clone(), 0, fees, spec.chain.block_time, first.timestamp, world.initial);
    let mut strategies = StrategyManager::default();
    strategies.register(Box::new(strategy), true);
    let mut risk = RiskGate::new(spec.safety.clone());
    let mut journal = Journal::default();
    let mut queue = EventQueue::new();
    driver::drive(&mut world, &mut queue, &mut strategies, &mut risk, &mut journal, SimTime::MAX, &mut |_| {});
    if let Some(e) = world.failure() {
        return Err(ForkRunError::Fork(crate::chain::fork::ForkError::Source {
            method: "fork run",
            message: e.into(),
        }));
    }
    let s = strategies.strategies[0]
        .strategy
        .as_any()
        .downcast_ref::<SandwichStrategy>()
        .ok_or(ForkRunError::Internal("the sandwich strategy is not the first registered"))?;
    let bundles = world.desk.manager.stats.clone();
    let would_send = std::mem::take(&mut world.would_send);
    let rivals = std::mem::take(&mut world.rivals);
    let counts = world.finish();
    Ok(ForkResult {
        first,
        blocks,
        records: s.records.clone(),
        skips: s.skips.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        would_send,
        rivals,
        bundles,
        counts,
        rpc_requests: counter.requests(),
        risk_rejects: risk.rejects,
        journal,
    })
}
