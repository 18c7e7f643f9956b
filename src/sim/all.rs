//! Every strategy on one chain and one wallet: the CEX/DEX market (venues, noise traders, rival
//! arbitrageurs, the EVM pools our micro-arbitrage and cross-DEX legs trade), generated victims in
//! the public mempool (sandwiches), and a lending pool with borrowers and its oracle
//! (liquidations), all on the market's SimChain, with one embedded relay and one searcher key.
//!
//! One block is built the way a real one is: the relay's builder opens it with the bundles by
//! payment per gas (ours from both bundle strategies and the rivals'), then the public
//! transactions: the victims that reached the builder, the oracle's updates no bundle carried, the
//! lending pools' arbitrageur, and last the market's own swaps by priority fee (noise, rivals and
//! our DEX legs). The market's base-fee model closes it.
//!
//! The flows are the standalone worlds' own (`SandwichFlow`, `LendingFlow`, `MarketWorld`): this
//! world only lends them the chain, the desk and the relay, and orders their steps.

use alloy_primitives::{Address, B256, Bytes, U256};

use super::desk::{BundleDesk, RelayHost};
use super::lending::{LendingFlow, LendingGenesis};
use super::market::MarketWorld;
use super::sandwich::SandwichFlow;
use crate::chain::simchain::actor;
use crate::chain::{ChainError, SimChain, Wallet};
use crate::config::RunSpec;
use crate::core::strategy::MarketView;
use crate::core::{
    Action, BlockInfo, BundleReport, ChainView, DexBook, Event, LegVenue, NANOS_PER_SEC, SimTime, SkipReason, TxId,
};
use crate::engine::driver::{Assessment, Decision, Schedule, World};
use crate::engine::queue::SimEvent;
use crate::execution::bundle_manager::BundleManager;
use crate::relay::RelayClient;
use crate::risk::RiskGate;

/// Registration order of the strategies in a combined run (the driver's strategy index).
pub const MICRO: u16 = 0;
pub const CROSS_DEX: u16 = 1;
pub const SANDWICH: u16 = 2;
pub const LIQUIDATION: u16 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AllEvent {
    /// Block k's lending news (market prices, the oracle's updates): before the block is built.
    Prepare(u64),
    /// The market's own events; its `Block` builds the block for every flow.
    Market(SimEvent),
    /// The i-th victim reaches the public mempool.
    Arrival(u32),
}

#[derive(Debug, thiserror::Error)]
pub enum AllRunError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("relay: {0}")]
    Relay(String),
    #[error("{0}")]
    Setup(String),
}

/// The market's events, scheduled into the combined queue.
struct MarketQueue<'q>(&'q mut dyn Schedule<AllEvent>);

impl Schedule<SimEvent> for MarketQueue<'_> {
    fn schedule(&mut self, at: SimTime, event: SimEvent) {
        self.0.schedule(at, AllEvent::Market(event));
    }
}

pub struct AllWorld<'a> {
    spec: &'a RunSpec,
    /// Owns the chain (inside its EVM pools) and lends it to the other flows.
    pub market: MarketWorld<'a>,
    pub sandwich: SandwichFlow<'a>,
    pub lending: LendingFlow<'a>,
    host: RelayHost,
    pub desk: BundleDesk,
    builder: Address,
    us: Address,
    /// Which bundle flow has bundles of ours for which block: one key signs for every strategy, so
    /// two flows' bundles for the same block would spend the same nonce.
    claimed: Vec<Claim>,
    /// Our wallet at genesis: per lending reserve token (WETH and the quote token first) then ETH.
    pub initial: Vec<u128>,
}

/// A bundle flow's bundles for a block, and the most one of them expects (quote raw units).
#[derive(Clone, Copy, Debug)]
struct Claim {
    block: u64,
    flow: u16,
    expected: i128,
}

/// The chain the market's EVM pools run on (the constructor refuses a math-engine market).
fn chain_of<'m>(market: &'m mut MarketWorld<'_>) -> Option<&'m mut SimChain> {
    market.sim.chain.engine.evm_mut().map(|e| &mut e.chain)
}

impl<'a> AllWorld<'a> {
    /// Genesis: the market's pools and our wallet exactly as `[account]` says; on the same chain the
    /// lending market (its reserve tokens and pools, the Aave-v3-compatible pool and oracle, the
    /// borrowers, our flash liquidator and `lending.inventory`), the victims' wallets and the relay.
    pub fn new(spec: &'a RunSpec) -> Result<Self, AllRunError> {
        if spec.chain.dex_engine != crate::config::DexEngine::Evm && spec.chain.fork.is_none() {
            return Err(AllRunError::Setup(
                "a run with sandwich or liquidation beside other strategies needs chain.dex_engine = \"evm\"".into(),
            ));
        }
        if spec.lending.reserves.len() < 2 {
            return Err(AllRunError::Setup(
                "liquidation needs [lending] reserves (WETH and the quote token first)".into(),
            ));
        }
        let mut market = MarketWorld::new(spec)?;
        let (dex, us) = match market.sim.chain.engine.evm() {
            Some(evm) => (evm.dex.clone(), evm.address()),
            None => return Err(AllRunError::Setup("the market's pools are not in the EVM".into())),
        };
        let base_fee = market.sim.chain.base_fee;
        let Some(chain) = chain_of(&mut market) else {
            return Err(AllRunError::Setup("the market's pools are not in the EVM".into()));
        };
        let mut lending = LendingFlow::new(spec, chain, us, LendingGenesis::On(dex.clone()))
            .map_err(|e| AllRunError::Setup(e.to_string()))?;
        let mut sandwich = SandwichFlow::new(spec, chain, dex, us)?;
        // Our genesis's time, or the forked block's (`[chain.fork]`).
        let genesis_ts = market.sim.chain.genesis_ts;
        sandwich.genesis_ts = genesis_ts;
        let builder = actor("xcrack/builder");
        let Some(chain) = chain_of(&mut market) else {
            return Err(AllRunError::Setup("the market's pools are not in the EVM".into()));
        };
        chain.advance_block(genesis_ts, base_fee.min(u128::from(u64::MAX)) as u64, builder);
        chain.end_block();
        sandwich.closed(chain, 0);
        lending.closed(chain, 0);
        let head = chain.block_number();
        let block_s = (spec.chain.block_time / NANOS_PER_SEC).max(1);
        let host = RelayHost::start(chain, block_s).map_err(|e| AllRunError::Relay(e.to_string()))?;
        // The market's block numbers are the chain's.
        market.sim.chain.number = head;
        let client = RelayClient::new(host.addr(), Wallet::derived(spec.seed, "xcrack/flashbots-auth"));
        // The same key as the market's swaps (`EvmPools` derives it from the seed): one wallet.
        let manager = BundleManager::new(Wallet::derived(spec.seed, "xcrack/searcher"), client, spec.chain_id);
        if manager.address() != us {
            return Err(AllRunError::Setup("the bundle key is not the market's wallet".into()));
        }
        lending.connect(host.addr());
        let initial = lending.initial.clone();
        Ok(AllWorld {
            spec,
            market,
            sandwich,
            lending,
            host,
            desk: BundleDesk::new(manager),
            builder,
            us,
            claimed: Vec::new(),
            initial,
        })
    }

    pub fn us(&self) -> Address {
        self.us
    }

    /// Our wallet on the chain per lending reserve token (WETH, quote, …) then ETH; stops the relay.
    pub fn finish(&mut self) -> Result<Vec<u128>, ChainError> {
        let on_chain = match chain_of(&mut self.market) {
            Some(chain) => self.lending.wallet_on_chain(chain)?,
            None => Vec::new(),
        };
        self.host.stop();
        Ok(on_chain)
    }

    pub fn relay_stats(&self) -> crate::relay::RelayStats {
        self.host.lock().stats.clone()
    }

    /// The block, for every flow (see the module's doc for its order).
    fn block(&mut self, now: SimTime, q: &mut dyn Schedule<AllEvent>, risk: &mut RiskGate, out: &mut Vec<Event>) {
        let timestamp = self.market.sim.chain.genesis_ts + now / NANOS_PER_SEC;
        let base_fee = self.market.sim.chain.base_fee;
        self.sandwich.base_fee = base_fee;
        self.lending.base_fee = base_fee;
        let Some(chain) = chain_of(&mut self.market) else { return };
        let pre = self.sandwich.before_build(chain, now);
        let mut r = self.host.lock();
        let build =
            r.build_block(chain, timestamp, base_fee.min(u128::from(u64::MAX)) as u64, self.builder, &pre.rivals);
        let sandwich_news = self.sandwich.settle(chain, &r, &build, &mut self.desk, pre, now, risk);
        let lending_news = self.lending.settle(chain, &r, &build, &mut self.desk, now, risk);
        // The WETH pools are the market's: its noise traders and rivals keep them near the price.
        self.lending.arbitrage(chain, crate::engine::lending_world::QUOTE + 1);
        drop(r);
        let block = self.market.block(now, &mut MarketQueue(q), risk, true);
        if let Some(chain) = chain_of(&mut self.market) {
            self.sandwich.closed(chain, now);
            self.lending.closed(chain, now);
        }
        let next_fee = self.market.sim.chain.base_fee;
        self.sandwich.base_fee = next_fee;
        self.lending.base_fee = next_fee;
        let head = self.sandwich.head;
        self.claimed.retain(|c| c.block > head);
        for (strategy, report) in sandwich_news {
            self.desk.report(strategy, report, out);
        }
        lending_news.tell(&mut self.desk, out);
        out.push(block);
    }

    /// The other flow's claim on `block`, if any.
    fn rival_claim(&self, flow: u16, block: u64) -> Option<Claim> {
        self.claimed.iter().find(|c| c.block == block && c.flow != flow).copied()
    }

    /// Which bundle flow a strategy's actions go to.
    fn flow_of(strategy: u16) -> Option<u16> {
        matches!(strategy, SANDWICH | LIQUIDATION).then_some(strategy)
    }
}

impl World for AllWorld<'_> {
    type Event = AllEvent;

    /// Each block's lending news first, then the market (its first block after them), then the
    /// victims' arrivals.
    fn start(&mut self, q: &mut dyn Schedule<AllEvent>) {
        self.lending.schedule_blocks(q, AllEvent::Prepare);
        self.market.start(&mut MarketQueue(q));
        self.sandwich.schedule_arrivals(q, AllEvent::Arrival);
    }

    fn advance(
        &mut self,
        now: SimTime,
        event: AllEvent,
        q: &mut dyn Schedule<AllEvent>,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) {
        if let Some(chain) = chain_of(&mut self.market) {
            // Outside callers' eth_callBundle run on the chain between the world's own steps.
            self.host.inbox.serve(chain);
        }
        match event {
            AllEvent::Prepare(_) => {
                let eth = self.market.sim.fundamental.price();
                if let Some(chain) = chain_of(&mut self.market) {
                    self.lending.prepare(chain, &mut self.desk, now, Some(eth), out);
                }
            }
            AllEvent::Arrival(i) => {
                if let Some(chain) = chain_of(&mut self.market) {
                    self.sandwich.on_arrival(chain, &mut self.desk, i, out);
                }
            }
            AllEvent::Market(SimEvent::Block) => self.block(now, q, risk, out),
            AllEvent::Market(e) => self.market.advance(now, e, &mut MarketQueue(q), risk, out),
        }
    }

    fn market(&self) -> &dyn MarketView {
        self.market.market()
    }

    fn chain(&self) -> &dyn ChainView {
        self
    }

    fn free_trade_slots(&self) -> usize {
        self.market.free_trade_slots()
    }

    fn is_busy(&self, venue: LegVenue) -> bool {
        self.market.is_busy(venue)
    }

    /// Orders as the market gates them; bundles on every bundle we have out (both flows count
    /// against `max_concurrent_bundles`), their gas and tokens. Our one key means one nonce
    /// sequence, so one flow's bundles per block: a bundle for a block the other flow already
    /// claimed is refused (`concurrency_limit`) unless it expects more and the claim can be
    /// withdrawn (sandwiches carry a replacement id and are cancelled at the relay; a liquidation
    /// bundle has none, so its claim stands).
    fn assess(&self, strategy: u16, action: &Action) -> Assessment {
        match (Self::flow_of(strategy), action) {
            (Some(flow), Action::Bundle(req)) => {
                let taken = self
                    .rival_claim(flow, req.target_block)
                    .is_some_and(|c| !(c.flow == SANDWICH && self.expected_net(action) > c.expected));
                let foreign = if flow == SANDWICH { self.sandwich.foreign(req) } else { self.lending.foreign(req) };
                Assessment {
                    refuse: taken.then_some(SkipReason::ConcurrencyLimit),
                    in_flight: self.sandwich.bundles_out(req) + self.lending.bundles_out(),
                    gas_wei: req.gas_wei.max(1),
                    foreign_token: foreign,
                    ..Assessment::default()
                }
            }
            (Some(_), Action::Cancel { .. }) => Assessment { reduces_risk: true, ..Assessment::default() },
            (Some(_), _) => Assessment { refuse: Some(SkipReason::VenueBusy), ..Assessment::default() },
            (None, _) => self.market.assess(strategy, action),
        }
    }

    fn execute(
        &mut self,
        strategy: u16,
        action: Action,
        now: SimTime,
        q: &mut dyn Schedule<AllEvent>,
        risk: &mut RiskGate,
        out: &mut Vec<Event>,
    ) -> Result<(), SkipReason> {
        let Some(flow) = Self::flow_of(strategy) else {
            return self.market.execute(strategy, action, now, &mut MarketQueue(q), risk, out);
        };
        let expected = self.expected_net(&action);
        let target = match &action {
            Action::Bundle(req) => Some(req.target_block),
            _ => None,
        };
        let Some(chain) = chain_of(&mut self.market) else { return Err(SkipReason::SimulationFailed) };
        // The gate let a bundle through for a block the other flow claimed: it expects more, and
        // the sandwiches that claimed it are withdrawn first.
        if let Some(block) = target
            && self.claimed.iter().any(|c| c.block == block && c.flow == SANDWICH && flow != SANDWICH)
        {
            for uuid in self.sandwich.bundles_for(block) {
                let cancel = Action::Cancel { replacement_id: uuid };
                let _ = self.sandwich.execute(chain, &mut self.desk, SANDWICH, cancel, now, risk, out);
            }
            self.claimed.retain(|c| !(c.block == block && c.flow == SANDWICH));
        }
        let r = if flow == SANDWICH {
            self.sandwich.execute(chain, &mut self.desk, strategy, action, now, risk, out)
        } else {
            self.lending.execute(chain, &mut self.desk, strategy, action, now, risk, out)
        };
        if let (Ok(()), Some(block)) = (&r, target) {
            match self.claimed.iter_mut().find(|c| c.block == block && c.flow == flow) {
                Some(c) => c.expected = c.expected.max(expected),
                None => self.claimed.push(Claim { block, flow, expected }),
            }
        }
        r
    }

    fn declined(&mut self, strategy: u16, action: &Action, decision: Decision, out: &mut Vec<Event>) {
        self.desk.declined(strategy, action, decision, out);
    }

    /// One unit for every action: quote raw units (a bundle's wei at the market's price).
    fn expected_net(&self, action: &Action) -> i128 {
        match action {
            Action::Bundle(_) => {
                let wei = action.expected_net();
                let price = self.market.sim.fundamental_raw() as i128;
                wei.saturating_mul(price) / 1_000_000_000_000_000_000
            }
            _ => action.expected_net(),
        }
    }
}

impl ChainView for AllWorld<'_> {
    fn chain_id(&self) -> u64 {
        self.spec.chain_id
    }
    fn pending_raw(&self, id: TxId) -> Option<&Bytes> {
        self.desk.pending_raw(id)
    }
    fn in_mempool(&self, hash: &B256) -> bool {
        self.sandwich.in_mempool(hash)
    }
    fn next_block_at(&self) -> SimTime {
        self.sandwich.next_block_at
    }
    fn head_base_fee(&self) -> u128 {
        self.sandwich.head_base_fee
    }
    fn storage(&self, contract: Address, slot: U256) -> U256 {
        self.market.sim.chain.engine.evm().map(|e| e.chain.storage_ref(contract, slot)).unwrap_or_default()
    }
    fn nonce(&self, who: Address) -> u64 {
        self.market.sim.chain.engine.evm().map(|e| e.chain.nonce_ref(who)).unwrap_or_default()
    }
    fn dex(&self) -> Option<&DexBook> {
        Some(self.sandwich.book())
    }
    fn bundle_report(&self, strategy: u16, tag: u64) -> Option<&BundleReport> {
        self.desk.bundle_report(strategy, tag)
    }
}

impl AllWorld<'_> {
    pub fn block_info(&self) -> BlockInfo {
        self.market.market().block()
    }
}
