//! SimChain: an in-memory EVM chain on revm (CacheDB). Blocks carry a number, timestamp and base fee;
//! transactions run with real nonces and gas; a revert is an outcome with its decoded reason, not an
//! error; state can be checkpointed and rolled back (bundle simulation).
//!
//! Transactions of a block stay in revm's journal and are committed to the database once, when the
//! block ends (as a node does). Reads look through the journal, so callers never see the difference;
//! it halves the cost of a swap because accounts and slots stay loaded from one transaction to the
//! next. A bundle simulation runs on top of the committed state and drops its journal: no copy.

use alloy_primitives::{Address, B256, Bytes, Log, TxKind, U256, keccak256};
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::ContextTr;
use revm::context_interface::result::{ExecutionResult, Output};
use revm::database::{CacheDB, DatabaseRef};
use revm::handler::{MainnetContext, MainnetEvm};
use revm::state::AccountInfo;
use revm::{Context, Database, DatabaseCommit, ExecuteEvm, MainBuilder, MainContext};

use super::contracts::Artifact;

/// The in-memory chain's database: a cache (our genesis and every committed block) over `X`, the
/// state below it (`Below`): nothing for a simulated genesis, a node's state for a fork.
pub type Db<X = crate::chain::fork::Below> = CacheDB<X>;
type Evm<X> = MainnetEvm<MainnetContext<Db<X>>>;

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The transaction could not even start (bad nonce, insufficient balance for gas, ...).
    #[error("transaction from {from} to {to:?} is invalid: {message}")]
    Invalid { from: Address, to: Option<Address>, message: String },
    #[error("deploying {contract} failed: {reason}")]
    Deploy { contract: &'static str, reason: String },
    /// A chain started from real state (`[chain.fork]`) could not read it.
    #[error("{0}")]
    Fork(String),
}

/// What a transaction did. `success == false` carries the decoded revert reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    pub success: bool,
    pub gas_used: u64,
    pub output: Bytes,
    pub logs: Vec<Log>,
    pub revert_reason: Option<String>,
}

impl CallOutcome {
    /// The outcome if it succeeded; a revert as an error naming `what` (setup steps that must work).
    pub fn require(self, what: &'static str) -> Result<CallOutcome, ChainError> {
        if self.success {
            Ok(self)
        } else {
            Err(ChainError::Deploy { contract: what, reason: self.revert_reason.unwrap_or_default() })
        }
    }

    /// The logs decoded into our event types, in emission order.
    pub fn events(&self) -> Vec<super::ChainEvent> {
        self.logs.iter().map(super::events::decode).collect()
    }
}

/// The receipt of an applied signed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub tx_hash: B256,
    pub from: Address,
    pub to: Option<Address>,
    pub success: bool,
    pub gas_used: u64,
    /// What the sender paid per gas (base fee + effective tip).
    pub effective_gas_price: u128,
    pub logs: Vec<Log>,
    /// Return data (or revert data).
    pub output: Bytes,
    pub revert_reason: Option<String>,
    /// Wei the block's coinbase gained from this transaction: priority fees plus direct payments.
    pub coinbase_diff: U256,
}

impl Receipt {
    /// The logs decoded into our event types, in emission order.
    pub fn events(&self) -> Vec<super::ChainEvent> {
        self.logs.iter().map(super::events::decode).collect()
    }
}

/// Why a bundle was not applied (state is as before the bundle).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bundle failed at transaction {index}: {reason}")]
pub struct BundleFailure {
    pub index: usize,
    pub reason: String,
    pub receipts: Vec<Receipt>,
}

/// One transaction of a bundle.
#[derive(Debug, Clone)]
pub struct BundleTx {
    pub from: Address,
    pub to: Address,
    pub data: Bytes,
    pub value: U256,
    pub gas_limit: u64,
    pub priority_fee: u128,
}

/// A mark in the chain's history to roll back to: the journal's state as it was (only the accounts
/// the current block touched, so it is small) and which database commit it sits on.
#[must_use]
pub struct Checkpoint {
    journal: revm::state::EvmState,
    pending: bool,
    commits: u64,
    block: BlockEnv,
    block_gas_used: u64,
}

/// A rollback past a database commit (a block ended, or state was written directly, after the
/// checkpoint was taken): nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("checkpoint is stale: the chain committed since it was taken")]
pub struct StaleCheckpoint;

pub struct SimChain<X: DatabaseRef = crate::chain::fork::Below> {
    evm: Evm<X>,
    chain_id: u64,
    /// The journal holds transactions not yet committed to the database.
    pending: bool,
    /// Gas used by the transactions applied in the current block.
    block_gas_used: u64,
    /// How many times the journal was committed to the database (checkpoints sit on one commit).
    commits: u64,
}

impl SimChain<crate::chain::fork::Below> {
    /// An empty chain: everything it holds comes from genesis code.
    pub fn new(chain_id: u64) -> Self {
        Self::over(crate::chain::fork::Below::default(), chain_id)
    }
}

impl<X: DatabaseRef> SimChain<X> {
    /// A chain whose state below our own writes is `below` (e.g. forked state).
    pub fn over(below: X, chain_id: u64) -> Self {
        let mut cfg = CfgEnv::default();
        cfg.chain_id = chain_id;
        let block = BlockEnv {
            number: U256::from(1),
            timestamp: U256::from(1_700_000_000u64),
            gas_limit: crate::core::BLOCK_GAS_LIMIT,
            basefee: 0,
            ..Default::default()
        };
        let evm = Context::mainnet().with_db(Db::new(below)).with_cfg(cfg).with_block(block).build_mainnet();
        SimChain { evm, chain_id, pending: false, block_gas_used: 0, commits: 0 }
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The committed database (the current block's transactions are committed first).
    pub fn db(&mut self) -> &mut Db<X> {
        self.flush();
        self.evm.ctx.db_mut()
    }

    /// The committed database as it stands (the current block's pending transactions not in it).
    pub fn db_ref(&self) -> &Db<X> {
        self.evm.ctx.db_ref()
    }

    /// Commits the journal's pending transactions to the database.
    fn flush(&mut self) {
        if self.pending {
            let state = self.evm.finalize();
            self.evm.ctx.db_mut().commit(state);
            self.pending = false;
            self.commits += 1;
        }
    }

    /// Commits the block's transactions now rather than when the next block starts, so that
    /// checkpoints taken between blocks are free.
    pub fn end_block(&mut self) {
        self.flush();
    }

    /// The account as the journal sees it, when a pending transaction loaded it.
    fn pending_account(&self, who: Address) -> Option<&revm::state::Account> {
        if self.pending { self.evm.ctx.journaled_state.inner.state.get(&who) } else { None }
    }

    /// Gas used so far by the transactions applied in the current block.
    pub fn block_gas_used(&self) -> u64 {
        self.block_gas_used
    }

    pub fn block_number(&self) -> u64 {
        self.evm.ctx.block.number.saturating_to()
    }

    pub fn timestamp(&self) -> u64 {
        self.evm.ctx.block.timestamp.saturating_to()
    }

    pub fn base_fee(&self) -> u64 {
        self.evm.ctx.block.basefee
    }

    /// Ends the current block (its transactions are committed) and starts the next one.
    pub fn advance_block(&mut self, timestamp: u64, base_fee: u64, coinbase: Address) {
        self.flush();
        self.block_gas_used = 0;
        let b = &mut self.evm.ctx.block;
        b.number += U256::from(1);
        b.timestamp = U256::from(timestamp);
        b.basefee = base_fee;
        b.beneficiary = coinbase;
    }

    /// The hard fork whose rules the EVM runs (ours: revm's latest; a fork of a real chain: the
    /// chain's at the forked block, `mainnet_spec`).
    pub fn set_spec(&mut self, spec: revm::primitives::hardfork::SpecId) {
        self.flush();
        self.evm.ctx.cfg.spec = spec;
    }

    /// Ends the current block and makes the next one `number` (a fork starts at its pinned block's
    /// successor rather than at 1).
    pub fn start_block(&mut self, number: u64, timestamp: u64, base_fee: u64, coinbase: Address) {
        self.advance_block(timestamp, base_fee, coinbase);
        self.evm.ctx.block.number = U256::from(number);
    }

    pub fn set_balance(&mut self, who: Address, wei: U256) {
        let db = self.db();
        let mut info = db.basic(who).ok().flatten().unwrap_or_default();
        info.balance = wei;
        db.insert_account_info(who, info);
    }

    pub fn set_nonce(&mut self, who: Address, nonce: u64) {
        let db = self.db();
        let mut info = db.basic(who).ok().flatten().unwrap_or_default();
        info.nonce = nonce;
        db.insert_account_info(who, info);
    }

    pub fn balance(&mut self, who: Address) -> U256 {
        if let Some(a) = self.pending_account(who) {
            return a.info.balance;
        }
        self.evm.ctx.db_mut().basic(who).ok().flatten().map(|a| a.balance).unwrap_or_default()
    }

    pub fn nonce(&mut self, who: Address) -> u64 {
        if let Some(a) = self.pending_account(who) {
            return a.info.nonce;
        }
        self.evm.ctx.db_mut().basic(who).ok().flatten().map(|a| a.nonce).unwrap_or_default()
    }

    pub fn storage(&mut self, who: Address, slot: U256) -> U256 {
        if let Some(v) = self.pending_account(who).and_then(|a| a.storage.get(&slot)) {
            return v.present_value;
        }
        self.evm.ctx.db_mut().storage(who, slot).unwrap_or_default()
    }

    /// `storage` without loading into the cache: a read for whoever holds the chain shared (a
    /// strategy's `ChainView`). Same answer; a fork's state below is asked again each time.
    pub fn storage_ref(&self, who: Address, slot: U256) -> U256 {
        if let Some(v) = self.pending_account(who).and_then(|a| a.storage.get(&slot)) {
            return v.present_value;
        }
        self.evm.ctx.db_ref().storage_ref(who, slot).unwrap_or_default()
    }

    /// `nonce` without loading into the cache (see `storage_ref`).
    pub fn nonce_ref(&self, who: Address) -> u64 {
        if let Some(a) = self.pending_account(who) {
            return a.info.nonce;
        }
        self.evm.ctx.db_ref().basic_ref(who).ok().flatten().map(|a| a.nonce).unwrap_or_default()
    }

    pub fn set_storage(&mut self, who: Address, slot: U256, value: U256) {
        // An account must exist in the cache before its storage can be written.
        let db = self.db();
        if db.basic(who).ok().flatten().is_none() {
            db.insert_account_info(who, AccountInfo::default());
        }
        let _ = db.insert_account_storage(who, slot, value);
    }

    /// Deploys `artifact` with ABI-encoded constructor `args`; returns its address.
    pub fn deploy(&mut self, from: Address, artifact: &Artifact, args: &[u8]) -> Result<Address, ChainError> {
        let mut code = artifact.bytecode.to_vec();
        code.extend_from_slice(args);
        let tx = self.tx(from, TxKind::Create, Bytes::from(code), U256::ZERO, 15_000_000, 0)?;
        let result = self
            .transact_pending(tx)
            .map_err(|e| ChainError::Deploy { contract: artifact.name, reason: format!("{e:?}") })?;
        match &result {
            ExecutionResult::Success { output: Output::Create(_, Some(addr)), .. } => Ok(*addr),
            _ => Err(ChainError::Deploy {
                contract: artifact.name,
                reason: outcome(result).revert_reason.unwrap_or_default(),
            }),
        }
    }

    /// Executes a call and commits its state changes (a reverted call commits only its gas).
    pub fn call(&mut self, from: Address, to: Address, data: Bytes, value: U256) -> Result<CallOutcome, ChainError> {
        self.call_with(from, to, data, value, 5_000_000, 0)
    }

    pub fn call_with(
        &mut self,
        from: Address,
        to: Address,
        data: Bytes,
        value: U256,
        gas_limit: u64,
        priority_fee: u128,
    ) -> Result<CallOutcome, ChainError> {
        let tx = self.tx(from, TxKind::Call(to), data, value, gas_limit, priority_fee)?;
        let result = self.transact_pending(tx).map_err(|e| ChainError::Invalid {
            from,
            to: Some(to),
            message: format!("{e:?}"),
        })?;
        Ok(outcome(result))
    }

    /// Runs one transaction into the journal; a valid transaction (reverted or not) counts towards
    /// the block's gas, an invalid one leaves no trace.
    fn transact_pending(
        &mut self,
        tx: TxEnv,
    ) -> Result<ExecutionResult, revm::context_interface::result::EVMError<X::Error>> {
        let r = self.evm.transact_one(tx)?;
        self.pending = true;
        self.block_gas_used += r.tx_gas_used();
        Ok(r)
    }

    /// Executes a call without committing anything (eth_call).
    pub fn view(&mut self, from: Address, to: Address, data: Bytes) -> Result<CallOutcome, ChainError> {
        let cp = self.checkpoint();
        // Like eth_call: free gas, so reading never depends on the caller's balance (the rollback
        // restores the block's base fee).
        self.evm.ctx.block.basefee = 0;
        let r = self.call_with(from, to, data, U256::ZERO, 5_000_000, 0);
        self.rollback_fresh(cp);
        r
    }

    /// Runs `txs` in order on the current state as one bundle and rolls everything back: what
    /// `eth_callBundle` does. State is untouched afterwards whatever the outcomes.
    pub fn simulate_bundle(&mut self, txs: &[BundleTx]) -> Result<Vec<CallOutcome>, ChainError> {
        let cp = self.checkpoint();
        let mut out = Vec::with_capacity(txs.len());
        let mut failed = None;
        for t in txs {
            match self.call_with(t.from, t.to, t.data.clone(), t.value, t.gas_limit, t.priority_fee) {
                Ok(o) => out.push(o),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        self.rollback_fresh(cp);
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Decodes, verifies and executes one signed raw transaction (EIP-2718), committing its effects:
    /// the signer is recovered from the signature; chain id, nonce, balance and gas limit are checked
    /// by the EVM. A revert is a receipt with `success == false`; an invalid transaction is an error
    /// and changes nothing.
    pub fn apply_raw(&mut self, raw: &[u8]) -> Result<Receipt, ChainError> {
        self.apply_raw_from(raw, None)
    }

    /// As `apply_raw`; with `Some(sender)` the signature is not recovered again: for a searcher's
    /// own simulation of transactions whose signers it already knows (it signed them, or recovered
    /// them when they reached its mempool). Anything that accepts transactions from others (the
    /// relay, the block builder) passes `None`.
    pub fn apply_raw_from(&mut self, raw: &[u8], sender: Option<Address>) -> Result<Receipt, ChainError> {
        use alloy_consensus::Transaction;
        use alloy_consensus::transaction::SignerRecoverable;
        use alloy_eips::eip2718::Decodable2718;
        let bad = |message: String| ChainError::Invalid { from: Address::ZERO, to: None, message };
        let mut buf = raw;
        let env = alloy_consensus::TxEnvelope::decode_2718(&mut buf)
            .map_err(|e| bad(format!("undecodable transaction: {e}")))?;
        let from = match sender {
            Some(a) => a,
            None => env.recover_signer().map_err(|e| bad(format!("bad signature: {e}")))?,
        };
        if env.chain_id() != Some(self.chain_id) {
            return Err(ChainError::Invalid {
                from,
                to: env.to(),
                message: format!("chain id {:?} is not {}", env.chain_id(), self.chain_id),
            });
        }
        let base = u128::from(self.base_fee());
        let tip = env.effective_tip_per_gas(self.base_fee()).unwrap_or(0);
        let kind = env.kind();
        let tx = TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(env.input().clone())
            .value(env.value())
            .gas_limit(env.gas_limit())
            .gas_price(env.max_fee_per_gas())
            .gas_priority_fee(env.max_priority_fee_per_gas())
            .nonce(env.nonce())
            .chain_id(env.chain_id())
            .tx_type(Some(env.tx_type() as u8))
            .build()
            .map_err(|e| ChainError::Invalid { from, to: env.to(), message: format!("{e:?}") })?;
        let coinbase = self.evm.ctx.block.beneficiary;
        let before = self.balance(coinbase);
        let result = self.transact_pending(tx).map_err(|e| ChainError::Invalid {
            from,
            to: env.to(),
            message: format!("{e:?}"),
        })?;
        let o = outcome(result);
        let after = self.balance(coinbase);
        Ok(Receipt {
            tx_hash: *env.tx_hash(),
            from,
            to: env.to(),
            success: o.success,
            gas_used: o.gas_used,
            effective_gas_price: base + tip,
            logs: o.logs,
            output: o.output,
            revert_reason: o.revert_reason,
            coinbase_diff: after.saturating_sub(before),
        })
    }

    /// Runs signed transactions in order as block `number` at `timestamp` on the current state and
    /// rolls everything back (`eth_callBundle`). An invalid transaction stops the run: its index and
    /// error.
    pub fn simulate_signed(
        &mut self,
        raws: &[Bytes],
        number: u64,
        timestamp: u64,
    ) -> Result<Vec<Receipt>, (usize, ChainError)> {
        self.simulate_within(raws, &[], number, timestamp, crate::core::BLOCK_GAS_LIMIT)
    }

    /// As `simulate_signed`, with the senders already known (`senders[i]` for `raws[i]`; missing
    /// entries are recovered): see `apply_raw_from`.
    pub fn simulate_signed_from(
        &mut self,
        raws: &[Bytes],
        senders: &[Address],
        number: u64,
        timestamp: u64,
    ) -> Result<Vec<Receipt>, (usize, ChainError)> {
        self.simulate_within(raws, senders, number, timestamp, u64::MAX)
    }

    /// As `simulate_signed_from`, stopping with an error at the transaction that takes the
    /// bundle's gas used past `gas_budget` (a block's gas: no bundle can cost more to simulate).
    pub fn simulate_within(
        &mut self,
        raws: &[Bytes],
        senders: &[Address],
        number: u64,
        timestamp: u64,
        gas_budget: u64,
    ) -> Result<Vec<Receipt>, (usize, ChainError)> {
        let cp = self.checkpoint();
        self.evm.ctx.block.number = U256::from(number);
        self.evm.ctx.block.timestamp = U256::from(timestamp);
        let mut out = Vec::with_capacity(raws.len());
        let mut failed = None;
        let mut gas = 0u64;
        for (i, raw) in raws.iter().enumerate() {
            match self.apply_raw_from(raw, senders.get(i).copied()) {
                Ok(r) if gas.saturating_add(r.gas_used) > gas_budget => {
                    let message = format!("the bundle uses more than the block's {gas_budget} gas");
                    failed = Some((i, ChainError::Invalid { from: r.from, to: r.to, message }));
                    break;
                }
                Ok(r) => {
                    gas += r.gas_used;
                    out.push(r)
                }
                Err(e) => {
                    failed = Some((i, e));
                    break;
                }
            }
        }
        self.rollback_fresh(cp);
        match failed {
            Some(f) => Err(f),
            None => Ok(out),
        }
    }

    pub fn coinbase(&self) -> Address {
        self.evm.ctx.block.beneficiary
    }

    /// Applies a bundle of signed transactions atomically: if any transaction is invalid, or reverts
    /// without being listed in `may_revert`, the whole bundle is rolled back and the first failure is
    /// returned with the receipts so far.
    pub fn apply_bundle(&mut self, raws: &[Bytes], may_revert: &[B256]) -> Result<Vec<Receipt>, BundleFailure> {
        let cp = self.checkpoint();
        let mut receipts = Vec::with_capacity(raws.len());
        for (i, raw) in raws.iter().enumerate() {
            match self.apply_raw(raw) {
                Ok(r) if r.success || may_revert.contains(&r.tx_hash) => receipts.push(r),
                Ok(r) => {
                    let reason =
                        format!("tx {i} ({}) reverted: {}", r.tx_hash, r.revert_reason.clone().unwrap_or_default());
                    receipts.push(r);
                    self.rollback_fresh(cp);
                    return Err(BundleFailure { index: i, reason, receipts });
                }
                Err(e) => {
                    self.rollback_fresh(cp);
                    return Err(BundleFailure { index: i, reason: e.to_string(), receipts });
                }
            }
        }
        Ok(receipts)
    }

    /// Marks the current state to roll back to. Transactions after the mark only ever reach the
    /// journal, so the mark copies the journal's few accounts, never the database.
    pub fn checkpoint(&mut self) -> Checkpoint {
        Checkpoint {
            journal: if self.pending { self.evm.ctx.journaled_state.inner.state.clone() } else { Default::default() },
            pending: self.pending,
            commits: self.commits,
            block: self.evm.ctx.block.clone(),
            block_gas_used: self.block_gas_used,
        }
    }

    /// Undoes every transaction since `cp` was taken.
    pub fn rollback(&mut self, cp: Checkpoint) -> Result<(), StaleCheckpoint> {
        if cp.commits != self.commits {
            return Err(StaleCheckpoint);
        }
        // Accounts keep their transaction ids, which are all older than the journal's current one:
        // the next transaction sees every account cold, exactly as after a commit.
        self.evm.ctx.journaled_state.inner.state = cp.journal;
        self.pending = cp.pending;
        self.evm.ctx.block = cp.block;
        self.block_gas_used = cp.block_gas_used;
        Ok(())
    }

    /// Rollback of a checkpoint taken inside this call, with no commit possible in between.
    fn rollback_fresh(&mut self, cp: Checkpoint) {
        let fresh = self.rollback(cp);
        debug_assert!(fresh.is_ok());
    }

    fn tx(
        &mut self,
        from: Address,
        kind: TxKind,
        data: Bytes,
        value: U256,
        gas_limit: u64,
        priority_fee: u128,
    ) -> Result<TxEnv, ChainError> {
        let nonce = self.nonce(from);
        let base = u128::from(self.base_fee());
        TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(data)
            .value(value)
            .gas_limit(gas_limit)
            .gas_price(base + priority_fee)
            .gas_priority_fee(Some(priority_fee))
            .nonce(nonce)
            .chain_id(Some(self.chain_id))
            .build()
            .map_err(|e| ChainError::Invalid { from, to: kind.to().copied(), message: format!("{e:?}") })
    }
}

/// Turns revm's result into our outcome, decoding `Error(string)` / `Panic(uint256)` reasons.
pub fn outcome(result: ExecutionResult) -> CallOutcome {
    match result {
        ExecutionResult::Success { gas, logs, output, .. } => CallOutcome {
            success: true,
            gas_used: gas.tx_gas_used(),
            output: match output {
                Output::Call(b) => b,
                Output::Create(b, _) => b,
            },
            logs,
            revert_reason: None,
        },
        ExecutionResult::Revert { gas, output, logs } => CallOutcome {
            success: false,
            gas_used: gas.tx_gas_used(),
            revert_reason: Some(revert_reason(&output)),
            output,
            logs,
        },
        ExecutionResult::Halt { reason, gas, logs } => CallOutcome {
            success: false,
            gas_used: gas.tx_gas_used(),
            output: Bytes::new(),
            logs,
            revert_reason: Some(format!("halt: {reason:?}")),
        },
    }
}

/// Ethereum mainnet's hard fork at a block: gas costs and opcodes as they were then (a fork of an
/// older block run under today's rules would price calldata and storage differently).
pub fn mainnet_spec(number: u64, timestamp: u64) -> revm::primitives::hardfork::SpecId {
    use revm::primitives::hardfork::SpecId;
    match () {
        _ if timestamp >= 1_764_798_551 => SpecId::OSAKA,
        _ if timestamp >= 1_746_612_311 => SpecId::PRAGUE,
        _ if timestamp >= 1_710_338_135 => SpecId::CANCUN,
        _ if timestamp >= 1_681_338_455 => SpecId::SHANGHAI,
        _ if number >= 15_537_394 => SpecId::MERGE,
        _ if number >= 12_965_000 => SpecId::LONDON,
        _ if number >= 12_244_000 => SpecId::BERLIN,
        _ => SpecId::ISTANBUL,
    }
}

/// The hard fork a forked chain's block runs under: mainnet's by block and time; another chain's
/// (a local node, a testnet) revm's latest, as nodes such as anvil default to.
pub fn spec_for(chain_id: u64, number: u64, timestamp: u64) -> revm::primitives::hardfork::SpecId {
    if chain_id == 1 { mainnet_spec(number, timestamp) } else { revm::primitives::hardfork::SpecId::default() }
}

/// Storage slot of `mapping(address => ...)` at `slot` for `key` (Solidity layout).
pub fn mapping_slot(key: Address, slot: u64) -> U256 {
    let mut buf = [0u8; 64];
    buf[12..32].copy_from_slice(key.as_slice());
    buf[32..64].copy_from_slice(&U256::from(slot).to_be_bytes::<32>());
    U256::from_be_bytes(keccak256(buf).0)
}

/// Storage slot of `mapping(address => mapping(address => …))` at `slot` for `[outer][inner]`.
pub fn nested_mapping_slot(outer: Address, inner: Address, slot: u64) -> U256 {
    let mut buf = [0u8; 64];
    buf[12..32].copy_from_slice(inner.as_slice());
    buf[32..64].copy_from_slice(&mapping_slot(outer, slot).to_be_bytes::<32>());
    U256::from_be_bytes(keccak256(buf).0)
}

/// A deterministic address for a named test actor.
pub fn actor(name: &str) -> Address {
    Address::from_slice(&keccak256(name.as_bytes())[12..])
}

/// `Error(string)` as its message, `Panic(uint256)` as "panic: …", anything else as hex.
pub fn revert_reason(output: &[u8]) -> String {
    match alloy_sol_types::decode_revert_reason(output) {
        Some(r) => r.strip_prefix("revert: ").map(str::to_string).unwrap_or(r),
        None => format!("0x{}", alloy_primitives::hex::encode(output)),
    }
}
#[cfg(test)]
mod tests {
    use revm::primitives::hardfork::SpecId;

    #[test]
    fn a_fork_of_mainnet_runs_the_rules_of_its_block() {
        let cases = [
            (11_000_000, 1_601_968_149, SpecId::ISTANBUL),
            (14_000_000, 1_641_961_043, SpecId::LONDON),
            (16_000_000, 1_668_728_039, SpecId::MERGE),
            (19_000_000, 1_705_473_611, SpecId::SHANGHAI),
            (19_500_000, 1_710_900_000, SpecId::CANCUN),
            (22_500_000, 1_747_400_000, SpecId::PRAGUE),
            (24_000_000, 1_765_600_000, SpecId::OSAKA),
        ];
        for (n, ts, spec) in cases {
            assert_eq!(super::spec_for(1, n, ts), spec, "block {n}");
        }
        assert_eq!(super::spec_for(31337, 5, 1_600_000_000), SpecId::default(), "a local node: the latest rules");
    }
}
