//! What strategies see (`Event`) and what they answer (`Action`).

use super::{BaseRaw, PoolId, QuoteRaw, SimTime, VenueId, Wei};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    pub number: u64,
    pub timestamp: SimTime,
    pub base_fee_wei: Wei,
}

/// A market event as a strategy sees it. Payloads stay in the `MarketView` so events are small and cheap
/// to queue; the event says what changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The price feed accepted a new order-book snapshot from this venue.
    Quote { venue: VenueId },
    /// A block was mined: pool reserves and the base fee changed.
    Block(BlockInfo),
    /// A signed transaction reached the mempool we watch, at `seen_at` (raw bytes through
    /// `ChainView::pending_raw`: strategies decode them as live mode does).
    PendingTx { id: super::TxId, seen_at: SimTime },
    /// News of one of `strategy`'s bundles (the report through `ChainView::bundle_report`).
    BundleResult { strategy: u16, tag: u64 },
    /// An account the world tracks changed outside any bundle of ours (a recorded borrower's own
    /// borrow or repay): its index in the world's account list.
    Position { account: u32 },
    /// A deadline the world announces: `BUILD_DEADLINE` = the next block is about to be built
    /// (a strategy that batches a block's news decides now).
    Timer { id: u32 },
}

/// `Event::Timer` id: the builder is about to build the next block.
pub const BUILD_DEADLINE: u32 = 0;

/// One leg of a trade. Base amounts are exact raw units; the limits protect against the world moving
/// between decision and execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegOrder {
    /// Immediate-or-cancel order that walks the book no further than `limit_ticks`.
    Cex { venue: VenueId, side: Side, lots: u64, limit_ticks: u64 },
    /// Router swap settled at the next block. Selling base: exact base in, at least `quote_limit` out.
    /// Buying base: exact base out, at most `quote_limit` in.
    Dex { pool: PoolId, side: Side, base_raw: BaseRaw, quote_limit: u128, priority_fee_wei: Wei, gas_limit: u64 },
}

impl LegOrder {
    pub fn venue(&self) -> LegVenue {
        match *self {
            LegOrder::Cex { venue, .. } => LegVenue::Cex(venue),
            LegOrder::Dex { pool, .. } => LegVenue::Dex(pool),
        }
    }
    pub fn side(&self) -> Side {
        match *self {
            LegOrder::Cex { side, .. } | LegOrder::Dex { side, .. } => side,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LegVenue {
    Cex(VenueId),
    Dex(PoolId),
}

/// A two-legged arbitrage: buy base where it is cheap, sell it where it is dear, in parallel.
/// `predicted_*` are the strategy's numbers at decision time, in quote raw units, so the report can
/// compare them with what was realised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArbPlan {
    pub buy: LegOrder,
    pub sell: LegOrder,
    pub base_raw: BaseRaw,
    /// Proceeds minus cost, before fees and gas.
    pub predicted_gross: QuoteRaw,
    /// Both venues' fees.
    pub predicted_fees: QuoteRaw,
    /// Gas of the DEX leg, converted to quote at the decision-time mark price.
    pub predicted_gas: QuoteRaw,
    /// Gross − fees − gas.
    pub predicted_net: QuoteRaw,
    pub decided_at: SimTime,
    /// How old the freshest quote used was when the decision was made (feed latency included).
    pub quote_age: SimTime,
}

/// Buy base on one pool and sell it on another in a single executor transaction: both hops or
/// neither. Amounts are fixed in the calldata: if the pools moved against us the pair's K check
/// reverts the whole transaction; if they moved for us the surplus stays in the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtomicPlan {
    pub buy_pool: PoolId,
    pub sell_pool: PoolId,
    /// Quote paid into the buy pool.
    pub quote_in: u128,
    /// Base taken out of the buy pool and paid into the sell pool.
    pub base_mid: u128,
    /// Quote taken out of the sell pool.
    pub quote_out: u128,
    /// The executor reverts unless its quote balance grew by at least this.
    pub min_profit: u128,
    pub priority_fee_wei: Wei,
    pub gas_limit: u64,
    /// quote_out − quote_in.
    pub predicted_gross: QuoteRaw,
    pub predicted_gas: QuoteRaw,
    pub predicted_net: QuoteRaw,
    pub decided_at: SimTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Arbitrage(ArbPlan),
    AtomicArb(AtomicPlan),
    /// A bundle for a target block (boxed: actions stay small on the quote path).
    Bundle(Box<super::BundleRequest>),
    /// Withdraw the bundle sent under this replacement id.
    Cancel {
        replacement_id: String,
    },
}

impl Action {
    /// What the strategy expects the action to make, net of fees, gas and bribes: quote raw units
    /// for orders, wei for bundles; 0 for a cancel.
    pub fn expected_net(&self) -> i128 {
        match self {
            Action::Arbitrage(p) => p.predicted_net,
            Action::AtomicArb(p) => p.predicted_net,
            Action::Bundle(b) => b.expected_net_wei,
            Action::Cancel { .. } => 0,
        }
    }

    /// Every `kind()`, for readers of a journal.
    pub const KINDS: [&'static str; 4] = ["arbitrage", "atomic_arbitrage", "bundle", "cancel"];

    pub fn kind(&self) -> &'static str {
        match self {
            Action::Arbitrage(_) => "arbitrage",
            Action::AtomicArb(_) => "atomic_arbitrage",
            Action::Bundle(_) => "bundle",
            Action::Cancel { .. } => "cancel",
        }
    }
}
