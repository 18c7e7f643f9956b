//! The state of one pinned block, read from outside (a node's JSON-RPC, a recorded file), as the
//! revm `DatabaseRef` a `SimChain` runs over (`SimChain::over(ForkDb, chain_id)`): fork mode's
//! state layer.
//!
//! Every account is fetched once, with its balance, nonce and code together; storage on demand
//! and never twice; known hot slots (pair reserves, balances, positions) can be prefetched in one
//! batch before the EVM runs; nothing above the pinned block can be read (no lookahead). What was
//! read is kept as a `ForkState`, which is both the on-disk cache (a file named by chain id, block
//! number and block hash — never by endpoint) and the recording a run replays offline
//! (`Recorded`), answering only what was recorded.
//!
//! The boundary: the EVM is synchronous and a node is reached asynchronously. A `StateSource` is
//! called from the EVM's thread and blocks it until the answer comes; an RPC source does that by
//! handing the request to its own runtime on another thread (never a runtime inside a runtime,
//! never `block_in_place`), and prefetching keeps such calls off the decision path once warm.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, Bytes, U256};
use revm::bytecode::Bytecode;
use revm::database::DatabaseRef;
use revm::database_interface::DBErrorMarker;
use revm::state::AccountInfo;

/// The block every read is pinned to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pin {
    pub chain_id: u64,
    pub number: u64,
    pub hash: B256,
}

/// An account as a node reports it at the pinned block.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemoteAccount {
    pub balance: U256,
    pub nonce: u64,
    pub code: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    #[error("block {asked} is above the pinned block {pinned}: a fork never reads ahead")]
    Lookahead { asked: u64, pinned: u64 },
    #[error("{method}: {message}")]
    Source { method: &'static str, message: String },
    #[error(
        "the recording has no {0}: replay answers only what the recorded run read (same seed, blocks, pools and wallet; record again against a node for another run)"
    )]
    NotRecorded(String),
    #[error("fork cache {path}: {message}")]
    Cache { path: PathBuf, message: String },
}

impl DBErrorMarker for ForkError {}

/// What a node (or a recording) serves of the pinned block's state. Called from the EVM's thread;
/// an implementation may block it, never panic.
pub trait StateSource {
    fn account(&self, pin: &Pin, who: Address) -> Result<RemoteAccount, ForkError>;
    /// Several accounts (one batch where the source can), in order.
    fn accounts(&self, pin: &Pin, who: &[Address]) -> Result<Vec<RemoteAccount>, ForkError> {
        who.iter().map(|a| self.account(pin, *a)).collect()
    }
    /// Several slots in one request (one batch of `eth_getStorageAt`), in order.
    fn storage(&self, pin: &Pin, slots: &[(Address, U256)]) -> Result<Vec<U256>, ForkError>;
    /// The hash of an earlier block (`BLOCKHASH`).
    fn block_hash(&self, pin: &Pin, number: u64) -> Result<B256, ForkError>;
}

/// Everything a run read, in deterministic order: the cache and the recording.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ForkState {
    pub pin: Option<Pin>,
    pub accounts: BTreeMap<Address, RemoteAccount>,
    /// (contract, slot, value).
    pub storage: Vec<(Address, U256, U256)>,
    pub block_hashes: BTreeMap<u64, B256>,
}

/// How often the source was asked, and how often the cache answered instead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FetchStats {
    pub account_requests: u64,
    /// Requests for storage (a prefetch batch is one), and the slots they asked for.
    pub storage_requests: u64,
    pub storage_slots: u64,
    pub block_hash_requests: u64,
    pub cache_hits: u64,
}

#[derive(Clone)]
pub struct ForkDb<S> {
    source: S,
    pin: Pin,
    accounts: RefCell<BTreeMap<Address, RemoteAccount>>,
    codes: RefCell<BTreeMap<B256, Bytecode>>,
    storage: RefCell<BTreeMap<(Address, U256), U256>>,
    hashes: RefCell<BTreeMap<u64, B256>>,
    stats: Cell<FetchStats>,
    /// The first error the source gave: the EVM sees it as a failed read, the run as its failure.
    failure: RefCell<Option<String>>,
}

impl<S: StateSource> ForkDb<S> {
    pub fn new(source: S, pin: Pin) -> Self {
        ForkDb {
            source,
            pin,
            accounts: RefCell::default(),
            codes: RefCell::default(),
            storage: RefCell::default(),
            hashes: RefCell::default(),
            stats: Cell::default(),
            failure: RefCell::default(),
        }
    }

    /// Starts from what an earlier run read of the same block (`state`, e.g. `load`ed): its pin must
    /// be this one.
    pub fn with_state(source: S, pin: Pin, state: &ForkState) -> Result<Self, ForkError> {
        if state.pin.is_some_and(|p| p != pin) {
            return Err(ForkError::Cache {
                path: PathBuf::new(),
                message: format!("written for {:?}, not {pin:?}", state.pin),
            });
        }
        let db = ForkDb::new(source, pin);
        for (who, a) in &state.accounts {
            db.remember(*who, a.clone());
        }
        db.storage.borrow_mut().extend(state.storage.iter().map(|&(a, s, v)| ((a, s), v)));
        db.hashes.borrow_mut().extend(state.block_hashes.iter().map(|(k, v)| (*k, *v)));
        Ok(db)
    }

    pub fn pin(&self) -> Pin {
        self.pin
    }

    pub fn stats(&self) -> FetchStats {
        self.stats.get()
    }

    /// The first error the source gave, if any: a run that met one must not report as if it read
    /// the chain (revm only sees that a read failed).
    pub fn failure(&self) -> Option<String> {
        self.failure.borrow().clone()
    }

    fn failed<T>(&self, r: Result<T, ForkError>) -> Result<T, ForkError> {
        if let Err(e) = &r {
            self.failure.borrow_mut().get_or_insert_with(|| e.to_string());
        }
        r
    }

    fn count(&self, f: impl FnOnce(&mut FetchStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    fn remember(&self, who: Address, a: RemoteAccount) {
        if !a.code.is_empty() {
            let code = Bytecode::new_raw(a.code.clone());
            self.codes.borrow_mut().insert(code.hash_slow(), code);
        }
        self.accounts.borrow_mut().insert(who, a);
    }

    /// Fetches, in one request, every slot of `slots` not read yet (the hot slots a strategy is
    /// known to read: pair reserves, token balances, lending positions).
    pub fn prefetch(&self, slots: &[(Address, U256)]) -> Result<(), ForkError> {
        let missing = not_in(&self.storage.borrow(), slots);
        if missing.is_empty() {
            return Ok(());
        }
        let values = self.failed(self.source.storage(&self.pin, &missing))?;
        one_answer_each("eth_getStorageAt", values.len(), missing.len())?;
        self.count(|s| {
            s.storage_requests += 1;
            s.storage_slots += missing.len() as u64;
        });
        self.storage.borrow_mut().extend(missing.into_iter().zip(values));
        Ok(())
    }

    /// Fetches, in one request, every account of `who` not read yet (the contracts a strategy is
    /// known to touch: pairs, tokens, the lending pool).
    pub fn prefetch_accounts(&self, who: &[Address]) -> Result<(), ForkError> {
        let missing = not_in(&self.accounts.borrow(), who);
        if missing.is_empty() {
            return Ok(());
        }
        let got = self.failed(self.source.accounts(&self.pin, &missing))?;
        one_answer_each("eth_getBalance", got.len(), missing.len())?;
        self.count(|s| s.account_requests += 1);
        for (a, r) in missing.into_iter().zip(got) {
            self.remember(a, r);
        }
        Ok(())
    }

    /// What this run has read: the cache to save, the recording to replay.
    pub fn state(&self) -> ForkState {
        ForkState {
            pin: Some(self.pin),
            accounts: self.accounts.borrow().clone(),
            storage: self.storage.borrow().iter().map(|(&(a, s), &v)| (a, s, v)).collect(),
            block_hashes: self.hashes.borrow().clone(),
        }
    }
}

/// The keys of `want` that `have` lacks, sorted, each once: what one batch must still fetch.
fn not_in<K: Ord + Copy, V>(have: &BTreeMap<K, V>, want: &[K]) -> Vec<K> {
    let mut m: Vec<K> = want.iter().copied().filter(|k| !have.contains_key(k)).collect();
    m.sort();
    m.dedup();
    m
}

/// A batch must answer every question it asked.
pub(crate) fn one_answer_each(method: &'static str, answers: usize, asked: usize) -> Result<(), ForkError> {
    if answers == asked {
        Ok(())
    } else {
        Err(ForkError::Source { method, message: format!("{answers} answers to {asked} requests") })
    }
}

impl<S: StateSource> DatabaseRef for ForkDb<S> {
    type Error = ForkError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, ForkError> {
        let cached = self.accounts.borrow().get(&address).cloned();
        let a = match cached {
            Some(a) => {
                self.count(|s| s.cache_hits += 1);
                a
            }
            None => {
                let a = self.failed(self.source.account(&self.pin, address))?;
                self.count(|s| s.account_requests += 1);
                self.remember(address, a.clone());
                a
            }
        };
        let mut info = AccountInfo { balance: a.balance, nonce: a.nonce, ..AccountInfo::default() };
        if !a.code.is_empty() {
            info = info.with_code(Bytecode::new_raw(a.code));
        }
        Ok(Some(info))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, ForkError> {
        // Code arrives with its account, which revm always loads first.
        self.codes.borrow().get(&code_hash).cloned().ok_or_else(|| ForkError::NotRecorded(format!("code {code_hash}")))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, ForkError> {
        if let Some(v) = self.storage.borrow().get(&(address, index)) {
            self.count(|s| s.cache_hits += 1);
            return Ok(*v);
        }
        let v = self.failed(self.source.storage(&self.pin, &[(address, index)]))?;
        let v = v
            .first()
            .copied()
            .ok_or_else(|| ForkError::Source { method: "eth_getStorageAt", message: "no answer".into() })?;
        self.count(|s| {
            s.storage_requests += 1;
            s.storage_slots += 1;
        });
        self.storage.borrow_mut().insert((address, index), v);
        Ok(v)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, ForkError> {
        if number > self.pin.number {
            return Err(ForkError::Lookahead { asked: number, pinned: self.pin.number });
        }
        if number == self.pin.number {
            return Ok(self.pin.hash);
        }
        if let Some(h) = self.hashes.borrow().get(&number) {
            self.count(|s| s.cache_hits += 1);
            return Ok(*h);
        }
        let h = self.failed(self.source.block_hash(&self.pin, number))?;
        self.count(|s| s.block_hash_requests += 1);
        self.hashes.borrow_mut().insert(number, h);
        Ok(h)
    }
}

/// A chain's state below our own writes, asked after a run whether any read failed (a fork's node
/// may fail mid-run; the in-memory genesis never does).
pub trait ReadFailure {
    fn read_failure(&self) -> Option<String>;
}

impl ReadFailure for revm::database::EmptyDB {
    fn read_failure(&self) -> Option<String> {
        None
    }
}

impl<S: StateSource> ReadFailure for ForkDb<S> {
    fn read_failure(&self) -> Option<String> {
        self.failure()
    }
}

/// What lies below a chain's own writes: nothing (our genesis writes everything it holds) or a
/// node's state at a pinned block (`[chain.fork]`). One type, so that the worlds built on our
/// genesis run unchanged over a fork.
#[derive(Clone)]
pub enum Below {
    Genesis(revm::database::EmptyDB),
    Fork(Box<ForkDb<crate::chain::rpc::RpcSource>>),
}

impl Default for Below {
    fn default() -> Self {
        Below::Genesis(revm::database::EmptyDB::default())
    }
}

impl Below {
    /// The fork's reads, when there is one.
    pub fn fork(&self) -> Option<&ForkDb<crate::chain::rpc::RpcSource>> {
        match self {
            Below::Fork(db) => Some(db),
            Below::Genesis(_) => None,
        }
    }
}

impl DatabaseRef for Below {
    type Error = ForkError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, ForkError> {
        match self {
            Below::Genesis(db) => Ok(db.basic_ref(address).unwrap_or_default()),
            Below::Fork(db) => db.basic_ref(address),
        }
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, ForkError> {
        match self {
            Below::Genesis(db) => Ok(db.code_by_hash_ref(code_hash).unwrap_or_default()),
            Below::Fork(db) => db.code_by_hash_ref(code_hash),
        }
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, ForkError> {
        match self {
            Below::Genesis(db) => Ok(db.storage_ref(address, index).unwrap_or_default()),
            Below::Fork(db) => db.storage_ref(address, index),
        }
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, ForkError> {
        match self {
            Below::Genesis(db) => Ok(db.block_hash_ref(number).unwrap_or_default()),
            Below::Fork(db) => db.block_hash_ref(number),
        }
    }
}

impl ReadFailure for Below {
    fn read_failure(&self) -> Option<String> {
        self.fork().and_then(|db| db.failure())
    }
}

/// A recorded run's state, answered offline: what was not recorded is an error, never a guess.
pub struct Recorded {
    state: ForkState,
    slots: BTreeMap<(Address, U256), U256>,
}

impl Recorded {
    pub fn new(state: ForkState) -> Self {
        let slots = state.storage.iter().map(|&(a, s, v)| ((a, s), v)).collect();
        Recorded { state, slots }
    }
}

impl StateSource for Recorded {
    fn account(&self, _pin: &Pin, who: Address) -> Result<RemoteAccount, ForkError> {
        self.state.accounts.get(&who).cloned().ok_or_else(|| ForkError::NotRecorded(format!("account {who}")))
    }
    fn storage(&self, _pin: &Pin, slots: &[(Address, U256)]) -> Result<Vec<U256>, ForkError> {
        slots
            .iter()
            .map(|k| {
                self.slots.get(k).copied().ok_or_else(|| ForkError::NotRecorded(format!("slot {} of {}", k.1, k.0)))
            })
            .collect()
    }
    fn block_hash(&self, _pin: &Pin, number: u64) -> Result<B256, ForkError> {
        self.state
            .block_hashes
            .get(&number)
            .copied()
            .ok_or_else(|| ForkError::NotRecorded(format!("block hash {number}")))
    }
}

/// The cache file of `pin` in `dir`: keyed by chain id, block number and block hash.
pub fn cache_path(dir: &Path, pin: &Pin) -> PathBuf {
    dir.join(format!("chain-{}-block-{}-{}.json", pin.chain_id, pin.number, pin.hash))
}

/// Writes `state` as `pin`'s cache file in `dir` (whole or not at all).
pub fn save(dir: &Path, state: &ForkState) -> Result<PathBuf, ForkError> {
    let pin = state.pin.ok_or_else(|| ForkError::Cache { path: dir.into(), message: "no pinned block".into() })?;
    let path = cache_path(dir, &pin);
    let bad = |message: String| ForkError::Cache { path: path.clone(), message };
    let json = serde_json::to_string(state).map_err(|e| bad(e.to_string()))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(|e| bad(e.to_string()))?;
    std::fs::rename(&tmp, &path).map_err(|e| bad(e.to_string()))?;
    Ok(path)
}

/// `pin`'s cache in `dir`, if an earlier run left one.
pub fn load(dir: &Path, pin: &Pin) -> Result<Option<ForkState>, ForkError> {
    let path = cache_path(dir, pin);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ForkError::Cache { path, message: e.to_string() }),
    };
    let state: ForkState =
        serde_json::from_slice(&bytes).map_err(|e| ForkError::Cache { path: path.clone(), message: e.to_string() })?;
    if state.pin != Some(*pin) {
        return Err(ForkError::Cache { path, message: format!("written for {:?}", state.pin) });
    }
    Ok(Some(state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::contracts::IUniswapV2Router02;
    use crate::chain::simchain::actor;
    use crate::chain::world::{DexDeployment, deploy_dex_for};
    use crate::chain::{CallOutcome, SimChain};
    use alloy_sol_types::SolCall;
    use revm::database::CacheDB;

    const E18: u128 = 1_000_000_000_000_000_000;

    /// A node standing for a chain's state at its head, counting what it was asked.
    struct Node {
        db: CacheDB<super::Below>,
        calls: Cell<u64>,
    }

    impl StateSource for Node {
        fn account(&self, _pin: &Pin, who: Address) -> Result<RemoteAccount, ForkError> {
            self.calls.set(self.calls.get() + 1);
            Ok(match self.db.cache.accounts.get(&who) {
                Some(a) => {
                    let code = a.info.code.clone().or_else(|| self.db.cache.contracts.get(&a.info.code_hash).cloned());
                    RemoteAccount {
                        balance: a.info.balance,
                        nonce: a.info.nonce,
                        code: code.map(|c| c.original_bytes()).unwrap_or_default(),
                    }
                }
                None => RemoteAccount::default(),
            })
        }
        fn storage(&self, _pin: &Pin, slots: &[(Address, U256)]) -> Result<Vec<U256>, ForkError> {
            self.calls.set(self.calls.get() + 1);
            Ok(slots
                .iter()
                .map(|(a, s)| self.db.cache.accounts.get(a).and_then(|x| x.storage.get(s).copied()).unwrap_or_default())
                .collect())
        }
        fn block_hash(&self, _pin: &Pin, number: u64) -> Result<B256, ForkError> {
            self.calls.set(self.calls.get() + 1);
            Ok(alloy_primitives::keccak256(number.to_be_bytes()))
        }
    }

    fn market() -> (SimChain, DexDeployment, Address) {
        let mut base = SimChain::new(1);
        let dex =
            deploy_dex_for(&mut base, 6, &[(U256::from(1000 * E18), U256::from(3_000_000_000_000u128))], actor("us"))
                .unwrap();
        let trader = actor("trader");
        dex.fund_deep(&mut base, trader).unwrap();
        base.advance_block(1_700_000_012, 1_000_000_000, actor("builder"));
        base.end_block();
        (base, dex, trader)
    }

    fn swap<X: DatabaseRef>(chain: &mut SimChain<X>, dex: &DexDeployment, trader: Address) -> CallOutcome {
        let call = IUniswapV2Router02::swapExactTokensForTokensCall {
            amountIn: U256::from(5 * E18),
            amountOutMin: U256::ZERO,
            path: vec![dex.weth, dex.usdc],
            to: trader,
            deadline: U256::MAX,
        };
        chain.call(trader, dex.venues[0].router, call.abi_encode().into(), U256::ZERO).unwrap()
    }

    fn pin() -> Pin {
        Pin { chain_id: 1, number: 1, hash: B256::repeat_byte(7) }
    }

    #[test]
    fn a_fork_swaps_as_the_chain_it_reads_and_never_asks_twice() {
        let (mut base, dex, trader) = market();
        let node = Node { db: base.db().clone(), calls: Cell::new(0) };
        let mut fork = SimChain::over(ForkDb::new(node, pin()), 1);
        let mut after = Vec::new();
        for chain_block in [1_700_000_024u64, 1_700_000_036] {
            base.advance_block(chain_block, 1_000_000_000, actor("builder"));
            fork.advance_block(chain_block, 1_000_000_000, actor("builder"));
            let (a, b) = (swap(&mut base, &dex, trader), swap(&mut fork, &dex, trader));
            assert!(a.success && b.success);
            assert_eq!((a.gas_used, &a.logs, &a.output), (b.gas_used, &b.logs, &b.output), "same receipt to the wei");
            base.end_block();
            fork.end_block();
            after.push(fork.db().db.stats());
        }
        let first = after[0];
        assert!(first.account_requests > 0 && first.storage_slots > 0);
        assert_eq!(first.account_requests, fork.db().db.state().accounts.len() as u64, "one request per account");
        // The second swap reads what the first did: the node is not asked again.
        assert_eq!((after[1].account_requests, after[1].storage_slots), (first.account_requests, first.storage_slots));
    }

    #[test]
    fn hot_slots_come_in_one_batch_and_nothing_above_the_pin_is_read() {
        let (mut base, dex, _) = market();
        let node = Node { db: base.db().clone(), calls: Cell::new(0) };
        let db = ForkDb::new(node, pin());
        let slot = U256::from(crate::chain::contracts::slots::PAIR_RESERVES);
        let hot: Vec<_> = dex.venues.iter().map(|v| (v.pair, slot)).chain([(dex.venues[0].pair, slot)]).collect();
        db.prefetch(&hot).unwrap();
        assert_eq!((db.stats().storage_requests, db.stats().storage_slots), (1, 1));
        assert_ne!(db.storage_ref(dex.venues[0].pair, slot).unwrap(), U256::ZERO);
        assert_eq!(db.stats().storage_requests, 1, "a prefetched slot is a cache hit");
        assert!(matches!(db.block_hash_ref(2), Err(ForkError::Lookahead { asked: 2, pinned: 1 })));
        assert_eq!(db.block_hash_ref(1).unwrap(), pin().hash);
        let _ = db.block_hash_ref(0).unwrap();
        let _ = db.block_hash_ref(0).unwrap();
        assert_eq!(db.stats().block_hash_requests, 1);
    }

    #[test]
    fn a_saved_run_replays_offline_and_refuses_what_it_never_read() {
        let (mut base, dex, trader) = market();
        let node = Node { db: base.db().clone(), calls: Cell::new(0) };
        let mut fork = SimChain::over(ForkDb::new(node, pin()), 1);
        fork.advance_block(1_700_000_024, 1_000_000_000, actor("builder"));
        let live = swap(&mut fork, &dex, trader);
        let dir = tempfile::tempdir().unwrap();
        let path = save(dir.path(), &fork.db().db.state()).unwrap();
        assert!(path.display().to_string().contains("chain-1-block-1-0x0707"), "{}", path.display());
        let other = Pin { hash: B256::repeat_byte(8), ..pin() };
        assert_eq!(load(dir.path(), &other).unwrap(), None, "another block hash is another cache");

        let recorded = load(dir.path(), &pin()).unwrap().unwrap();
        let mut replay = SimChain::over(ForkDb::new(Recorded::new(recorded), pin()), 1);
        replay.advance_block(1_700_000_024, 1_000_000_000, actor("builder"));
        let again = swap(&mut replay, &dex, trader);
        assert_eq!((live.gas_used, &live.logs, &live.output), (again.gas_used, &again.logs, &again.output));
        // A balance the run never read: replay cannot make it up.
        let call = crate::chain::contracts::ITestERC20::balanceOfCall { owner: actor("stranger") };
        let r = replay.view(trader, dex.usdc, call.abi_encode().into());
        assert!(r.is_err(), "{r:?}");
    }
}
