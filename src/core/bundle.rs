//! Bundles as strategies ask for them and as the world reports their fate. A strategy builds its
//! own transactions' calldata and names the pending transactions it wraps; the bundle executor
//! signs, simulates, checks our token flows to the wei and sends through a sink.

use alloy_primitives::{Address, B256, Bytes, U256};

use super::SimTime;

/// A pending transaction as the world numbered it; its raw bytes are read through `ChainView`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxId(pub u32);

/// One transaction of a bundle: ours (signed by the executor with our next nonce) or someone
/// else's pending transaction carried as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleTx {
    Ours {
        to: Address,
        data: Bytes,
        value: U256,
        gas_limit: u64,
        max_fee_per_gas: u128,
        max_priority_fee_per_gas: u128,
    },
    Wrapped(TxId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleRequest {
    /// The strategy's own number for it; results come back under it.
    pub tag: u64,
    pub target_block: u64,
    /// The target block's timestamp (seconds), for the simulation.
    pub timestamp: u64,
    pub txs: Vec<BundleTx>,
    /// Our net flow per token the simulation must show, to the wei (tokens not named must not move).
    pub expected_flows: Vec<(Address, i128)>,
    /// A newer bundle under the same id replaces the older one at the relay.
    pub replacement_id: Option<String>,
    /// Pools it trades on (the builder's and the rivals' view of what it competes for).
    pub pools: Vec<u16>,
    /// Expected gas (wei) of our transactions and the bribe: what the risk gate budgets.
    pub gas_wei: u128,
    pub bribe_wei: u128,
    /// The strategy's expected net, wei of ETH value (the rule for two strategies wanting one pool).
    pub expected_net_wei: i128,
    pub decided_at: SimTime,
    /// The transaction a competitor would send for the bundle's most valuable part and what that
    /// part is worth (wei): simulated worlds let their rivals contest it; a live sink ignores it.
    pub contest: Option<Contest>,
    /// Accounts other than ours whose state the bundle changes (the borrowers it liquidates):
    /// what the world re-reads once a block is built.
    pub accounts: Vec<Address>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contest {
    pub to: Address,
    pub data: Bytes,
    pub value_wei: u128,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BundleStatus {
    /// Simulated, checked and accepted by the sink.
    Submitted,
    SimulationFailed,
    SubmitFailed,
    /// The risk gate refused it: never signed.
    Refused,
    /// A newer bundle took its replacement id.
    Replaced,
    Cancelled,
    Included,
    Outbid,
    Failed,
    Expired,
    /// A dry run's bundle at its block: confirmed by simulation, recorded, never sent.
    NotSent,
}

impl BundleStatus {
    pub const ALL: [BundleStatus; 11] = [
        BundleStatus::Submitted,
        BundleStatus::SimulationFailed,
        BundleStatus::SubmitFailed,
        BundleStatus::Refused,
        BundleStatus::Replaced,
        BundleStatus::Cancelled,
        BundleStatus::Included,
        BundleStatus::Outbid,
        BundleStatus::Failed,
        BundleStatus::Expired,
        BundleStatus::NotSent,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            BundleStatus::Submitted => "submitted",
            BundleStatus::SimulationFailed => "simulation_failed",
            BundleStatus::SubmitFailed => "submit_failed",
            BundleStatus::Refused => "refused",
            BundleStatus::Replaced => "replaced",
            BundleStatus::Cancelled => "cancelled",
            BundleStatus::Included => "included",
            BundleStatus::Outbid => "outbid",
            BundleStatus::Failed => "failed",
            BundleStatus::Expired => "expired",
            BundleStatus::NotSent => "not_sent",
        }
    }
}

/// What one of our transactions did in an included bundle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OurTxEffect {
    pub gas_used: u64,
    pub effective_gas_price: u128,
    /// Our net flow per token in this transaction (transfers to us minus from us).
    pub flows: Vec<(Address, i128)>,
}

impl OurTxEffect {
    pub fn gas_wei(&self) -> u128 {
        u128::from(self.gas_used) * self.effective_gas_price
    }
    pub fn flow(&self, token: Address) -> i128 {
        self.flows.iter().filter(|(t, _)| *t == token).map(|(_, v)| v).sum()
    }
}

/// A bundle's fate as the strategy that asked for it hears it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleReport {
    pub tag: u64,
    pub status: BundleStatus,
    pub hash: Option<B256>,
    pub reason: String,
    /// Included: each of our transactions in bundle order.
    pub ours: Vec<OurTxEffect>,
}

/// What a strategy may read of the chain and the mempool: the same trait over the simulated chain
/// now, forked state and the live node later.
pub trait ChainView {
    fn chain_id(&self) -> u64;
    /// The raw signed bytes of a pending transaction the world announced.
    fn pending_raw(&self, id: TxId) -> Option<&Bytes>;
    /// Is this transaction still waiting in the public mempool?
    fn in_mempool(&self, hash: &B256) -> bool;
    /// When the next block is built.
    fn next_block_at(&self) -> SimTime;
    /// The base fee of the chain's latest block (what a transaction signed now is priced on).
    fn head_base_fee(&self) -> u128;
    /// A contract's storage slot as of the latest block (reserves, positions, balances).
    fn storage(&self, contract: Address, slot: U256) -> U256;
    /// An account's next nonce as of the latest block.
    fn nonce(&self, who: Address) -> u64;
    /// The DEX contracts of this chain, when it has ours.
    fn dex(&self) -> Option<&DexBook>;
    /// The latest report on a bundle of `strategy`'s.
    fn bundle_report(&self, strategy: u16, tag: u64) -> Option<&BundleReport>;
}

/// Addresses of a chain's Uniswap-V2-compatible market and our executor contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DexBook {
    pub weth: Address,
    pub quote: Address,
    pub executor: Address,
    /// Our address: the executor's owner, where its proceeds go.
    pub searcher: Address,
    /// Per pool, in the scenario's order: (router, pair).
    pub pools: Vec<(Address, Address)>,
}

impl DexBook {
    pub fn weth_is_token0(&self) -> bool {
        self.weth < self.quote
    }
    pub fn pool_of_router(&self, router: Address) -> Option<usize> {
        self.pools.iter().position(|(r, _)| *r == router)
    }
}

/// A world without a chain of ours (the math engine): nothing pending, no bundles.
pub struct NoChain;

impl ChainView for NoChain {
    fn chain_id(&self) -> u64 {
        0
    }
    fn pending_raw(&self, _: TxId) -> Option<&Bytes> {
        None
    }
    fn in_mempool(&self, _: &B256) -> bool {
        false
    }
    fn next_block_at(&self) -> SimTime {
        SimTime::MAX
    }
    fn head_base_fee(&self) -> u128 {
        0
    }
    fn storage(&self, _: Address, _: U256) -> U256 {
        U256::ZERO
    }
    fn nonce(&self, _: Address) -> u64 {
        0
    }
    fn dex(&self) -> Option<&DexBook> {
        None
    }
    fn bundle_report(&self, _: u16, _: u64) -> Option<&BundleReport> {
        None
    }
}
