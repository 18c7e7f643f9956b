//! Fork mode's benches: the same decision on a chain over fork state as on the in-memory chain
//! (the state copied below a `ForkDb` read from an in-memory source, so what is measured is our
//! fork layer, not a network), and a whole dry run over the shipped recording.

use std::path::Path;
use std::rc::Rc;

use crate::chain::SimChain;
use crate::chain::fork::{ForkDb, ForkError, Pin, RemoteAccount, StateSource};
use crate::chain::rpc::{Recording, Replay, RpcSource};

/// A node's view of a copied state: what was never written reads as empty, as on a real chain.
pub struct Snapshot {
    accounts: std::collections::BTreeMap<alloy_primitives::Address, RemoteAccount>,
    slots: std::collections::BTreeMap<(alloy_primitives::Address, alloy_primitives::U256), alloy_primitives::U256>,
}

impl StateSource for Snapshot {
    fn account(&self, _pin: &Pin, who: alloy_primitives::Address) -> Result<RemoteAccount, ForkError> {
        Ok(self.accounts.get(&who).cloned().unwrap_or_default())
    }
    fn storage(
        &self,
        _pin: &Pin,
        slots: &[(alloy_primitives::Address, alloy_primitives::U256)],
    ) -> Result<Vec<alloy_primitives::U256>, ForkError> {
        Ok(slots.iter().map(|k| self.slots.get(k).copied().unwrap_or_default()).collect())
    }
    fn block_hash(&self, _pin: &Pin, number: u64) -> Result<alloy_primitives::B256, ForkError> {
        Ok(alloy_primitives::keccak256(number.to_be_bytes()))
    }
}

/// A chain over a fork of `chain`'s committed state, pinned at its current block, with the same
/// block environment: every read goes through `ForkDb` (fetched once from the copy, then cached).
pub fn fork_of(chain: &mut SimChain) -> SimChain<ForkDb<Snapshot>> {
    let (number, timestamp, base_fee, coinbase) =
        (chain.block_number(), chain.timestamp(), chain.base_fee(), chain.coinbase());
    let db = chain.db();
    let mut snap = Snapshot { accounts: Default::default(), slots: Default::default() };
    for (who, a) in &db.cache.accounts {
        let code = a.info.code.clone().or_else(|| db.cache.contracts.get(&a.info.code_hash).cloned());
        let code = code.map(|c| c.original_bytes()).unwrap_or_default();
        snap.accounts.insert(*who, RemoteAccount { balance: a.info.balance, nonce: a.info.nonce, code });
        snap.slots.extend(a.storage.iter().map(|(s, v)| ((*who, *s), *v)));
    }
    let pin = Pin { chain_id: chain.chain_id(), number: number.saturating_sub(1), hash: alloy_primitives::B256::ZERO };
    let mut fork = SimChain::over(ForkDb::new(snap, pin), chain.chain_id());
    fork.start_block(number, timestamp, base_fee, coinbase);
    fork
}

/// The shipped offline fork scenario and its recording, loaded once.
pub struct ReplayRun {
    spec: crate::config::RunSpec,
    recording: Recording,
}

impl ReplayRun {
    pub fn load() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let file = "scenarios/fork/anvil_uniswap_v2.toml";
        let text = match std::fs::read_to_string(root.join(file)) {
            Ok(t) => t,
            Err(e) => panic!("{file}: {e}"),
        };
        let sources = crate::config::Sources {
            config_file: None,
            scenario: Some((file.into(), text)),
            env: Vec::new(),
            cli: Vec::new(),
        };
        let spec = match crate::config::load(&sources, &root.join("scenarios/fork")) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let path = spec.fork.as_ref().and_then(|f| f.replay.clone()).unwrap_or_default();
        let recording = match Recording::load(&path) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        ReplayRun { spec, recording }
    }

    /// One whole dry run (two blocks) answered from the recording: the decisions it made (bundles
    /// planned and pools passed over).
    pub fn run(&self) -> usize {
        let rpc = RpcSource::new(Rc::new(Replay::new(&self.recording)));
        match crate::engine::fork::run(&self.spec, rpc) {
            Ok(r) => r.records.len() + r.skips.values().sum::<u64>() as usize,
            Err(e) => panic!("fork run: {e}"),
        }
    }
}
