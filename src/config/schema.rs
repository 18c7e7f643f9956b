//! The file shapes, exactly as users write them. Amounts and durations stay strings here and are
//! resolved exactly (with the asset decimals known) in `resolve.rs`. Every struct denies unknown keys.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A figure in USD (quote units): a number, or a string holding one as the reference design writes
/// it (`"10.0"`, optionally `"10.0 USD"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usd(pub f64);

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(x) => Ok(Usd(x)),
            Raw::Text(t) => {
                let t = t.trim();
                let num = t.strip_suffix("USD").map(str::trim_end).unwrap_or(t);
                num.parse::<f64>().map(Usd).map_err(|_| {
                    serde::de::Error::custom(format!("`{t}` is not a USD figure (write e.g. 10.0 or \"10.0 USD\")"))
                })
            }
        }
    }
}

/// The merged document: `config/default.toml` < `--config` file < scenario < env < CLI.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub name: String,
    pub seed: u64,
    /// Simulated time, e.g. "6h".
    pub duration: String,
    #[serde(default)]
    pub description: String,
    pub network: NetworkConfig,
    pub strategies: StrategiesConfig,
    pub safety: SafetyConfig,
    pub monitoring: MonitoringConfig,
    pub market: MarketConfig,
    pub chain: ChainConfig,
    pub account: AccountConfig,
    pub mempool: MempoolConfig,
    pub lending: LendingConfig,
    /// Fork mode: the node, the pinned block and the chain's pools (`xcrack fork`).
    #[serde(default)]
    pub fork: Option<super::fork::ForkConfig>,
    /// Real keys for fork and live mode (backtests sign with simulation keys and ignore them).
    #[serde(default)]
    pub keys: Option<KeysConfig>,
    /// What `xcrack signoff` runs for this config and what must hold (read by that command only).
    #[serde(default)]
    pub signoff: Option<crate::risk::signoff::SignoffConfig>,
    /// Live mode: the node, the relays, the executor, the journal (`xcrack live`).
    #[serde(default)]
    pub live: Option<super::live::LiveConfig>,
}

/// `[keys]`: where the searcher's key (and, for live mode, the relay-auth key) come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    #[serde(default)]
    pub searcher: Option<KeyConfig>,
    #[serde(default)]
    pub relay_auth: Option<KeyConfig>,
}

/// One key: `env = "VAR"` (the variable holds the hex key), or `keystore = "file.json"` with
/// `password_env = "VAR"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub keystore: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
}

/// The lending market: borrowers generated from the seed, and the oracle's posting rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LendingConfig {
    /// Generated borrowers (WETH collateral and quote debt unless the mixes say otherwise).
    pub borrowers: u32,
    /// Lognormal collateral value (in ETH at the start): median and log-sd.
    pub collateral_median_eth: f64,
    pub collateral_sigma: f64,
    /// Weights of the reserves generated borrowers hold as collateral and owe (by symbol;
    /// empty: WETH collateral, quote debt). A debt is never in an asset the borrower supplied.
    #[serde(default)]
    pub collateral_mix: BTreeMap<String, f64>,
    #[serde(default)]
    pub debt_mix: BTreeMap<String, f64>,
    /// Chance a generated borrower splits its collateral over two assets (half the value each).
    #[serde(default)]
    pub second_collateral_probability: f64,
    /// Health factors at the start, uniform in [min, max].
    pub health_min: f64,
    pub health_max: f64,
    /// The oracle posts on a move of this many bps or after the heartbeat.
    pub oracle_deviation_bps: u32,
    pub oracle_heartbeat: String,
    /// Borrowers declared exactly, in addition to the generated ones.
    #[serde(default)]
    pub borrower: Vec<DeclaredBorrowerConfig>,
    /// Reserves beyond WETH and the quote token (both always listed first).
    #[serde(default)]
    pub reserve: Vec<ReserveConfig>,
    /// Our wallet's starting balances of the further reserves (debt-asset inventory), with units.
    #[serde(default)]
    pub inventory: Vec<String>,
    /// A recorded borrower whose positions and the reserves' prices are replayed row by row.
    #[serde(default)]
    pub replay: Option<LendingReplayConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredBorrowerConfig {
    /// A name; the borrower's address is derived from it.
    pub name: String,
    /// Collateral and debt with units, e.g. "120 WETH" or ["2 WBTC", "10 WETH"], "250000 USDC".
    pub collateral: OneOrMany,
    pub debt: OneOrMany,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// A further reserve on the lending pool: an ERC-20 with Aave's risk parameters and, optionally, a
/// pool against the quote token on the first DEX (for selling seized collateral or flash swaps).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveConfig {
    pub symbol: String,
    pub decimals: u8,
    pub ltv_bps: u16,
    pub liquidation_threshold_bps: u16,
    pub liquidation_bonus_bps: u16,
    /// Market price in USD at the start: held fixed, or moving with ETH as
    /// price × (ETH / ETH at the start)^beta_to_eth, unless a replay file has a column for it.
    pub price: f64,
    #[serde(default)]
    pub beta_to_eth: Option<f64>,
    /// Pool reserves with units, e.g. ["100 WBTC", "4700000 USDC"].
    #[serde(default)]
    pub pool: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LendingReplayConfig {
    /// CSV: `timestamp,block,price_<SYM>…,collateral_<SYM>…,debt_<SYM>…` (USD prices; raw
    /// balances), relative to the scenario file.
    pub file: String,
    /// The replayed borrower's name (its address is derived from it).
    pub name: String,
}

/// Pending victim swaps: generated from calibrated distributions, and/or listed exactly.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    /// Router swaps from other users per minute (0: none generated).
    pub victims_per_minute: f64,
    /// Lognormal size in quote units (USD): median and log-sd.
    pub size_median_usd: f64,
    pub size_sigma: f64,
    /// Share of victims buying the base (paying quote) rather than selling it.
    pub buy_probability: f64,
    /// Share using an exact-output method (swapETHForExactTokens / swapTokensForExactETH).
    pub exact_out_probability: f64,
    /// Slippage tolerances (bps) users set, with their weights.
    pub slippage_bps: Vec<u32>,
    pub slippage_weights: Vec<f64>,
    /// Lognormal priority fee of victims (gwei).
    pub priority_fee_median_gwei: f64,
    pub priority_fee_sigma: f64,
    /// How long a public transaction takes to reach the block builder: swaps arriving later than
    /// this before a block wait for the next one (our bundles carry them directly).
    pub propagation: String,
    /// Exact pending transactions, replayed in order at their arrival times.
    #[serde(default)]
    pub pending: Vec<PendingTxConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingTxConfig {
    /// Arrival time, e.g. "3s".
    pub at: String,
    /// Name of a `[[market.dex]]` pool.
    pub pool: String,
    /// A Router02 swap method, e.g. "swapExactETHForTokens".
    pub method: String,
    /// For swapExactTokensForTokens / swapTokensForExactTokens: the token sold ("WETH" or the quote).
    #[serde(default)]
    pub sell: Option<String>,
    #[serde(default)]
    pub amount_in: Option<String>,
    #[serde(default)]
    pub amount_out_min: Option<String>,
    #[serde(default)]
    pub amount_out: Option<String>,
    #[serde(default)]
    pub amount_in_max: Option<String>,
    /// A name; the sender's key is derived from the seed and this name.
    pub sender: String,
    pub priority_fee_gwei: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// The network's name ("mainnet"), for the reader.
    #[serde(default)]
    pub name: Option<String>,
    /// The network's block time in seconds (the simulated chain's is `chain.block_time`).
    #[serde(default)]
    pub block_time: Option<u64>,
    pub chain_id: u64,
    pub rpc_url: String,
    pub ws_url: String,
    pub flashbots_relay_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategiesConfig {
    pub micro_arbitrage: MicroArbitrageConfig,
    pub cross_dex: CrossDexConfig,
    pub sandwich: SandwichConfig,
    pub liquidation: LiquidationConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiquidationConfig {
    pub enabled: bool,
    /// Net profit after gas and bribe, in quote units.
    pub min_profit_usd: Usd,
    /// Share of the profit after gas paid to the builder.
    pub bribe_share: f64,
    pub priority_fee_gwei: f64,
    /// Gas of one liquidation: `liquidationCall` plus the sale of the seized collateral.
    pub gas_estimate: u64,
    /// Funding without inventory: flash-borrow the debt from the collateral's pair when it pays more.
    pub flash_swaps: bool,
    /// Competition: chance, per bundle we send, that a rival liquidator goes for the most valuable
    /// borrower in it (back-running the same oracle updates), paying the builder a uniform share
    /// of that liquidation's gross.
    pub rival_probability: f64,
    pub rival_share_min: f64,
    pub rival_share_max: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandwichConfig {
    pub enabled: bool,
    /// Net profit after gas and bribe, in quote units.
    pub min_profit_usd: Usd,
    /// Least share of the profit after gas paid to the builder as a bribe.
    pub bribe_share: f64,
    /// Skip a sandwich whose estimated chance of winning the block is below this.
    pub min_success_probability: f64,
    pub priority_fee_gwei: f64,
    /// Gas each executor transaction (front-run, back-run) is expected to use.
    pub gas_estimate: u64,
    /// Competition: chance that a rival searcher bids for the same victims, and its total payment
    /// to the builder (lognormal, ETH).
    pub rival_probability: f64,
    pub rival_bid_median_eth: f64,
    pub rival_bid_sigma: f64,
    /// From deciding to the relay holding the bundle (signing, simulation, HTTP): a bundle that
    /// cannot arrive before the block is built targets the next one.
    pub submit_latency: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossDexConfig {
    pub enabled: bool,
    /// Net profit in quote units after gas.
    pub min_profit_usd: Usd,
    /// Largest quote input of one arbitrage, with a unit: "100000 USDC".
    pub max_input: String,
    pub priority_fee_gwei: f64,
    /// Gas the executor transaction is expected to use (the limit is 1.5× this).
    pub gas_estimate: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MicroArbitrageConfig {
    pub enabled: bool,
    /// "ETH/USDC": base/quote; DEX pools trade the wrapped base (WETH) and are matched to it.
    pub trading_pairs: Vec<String>,
    /// Net profit as a percentage of the buy leg's notional, e.g. 0.05 = 0.05 %.
    pub min_profit_percentage: f64,
    /// Net profit in quote units (USD for a USD stablecoin), after fees and gas.
    pub min_profit_usd: Usd,
    /// Largest size of one trade, with a unit: "5 ETH".
    pub max_position_size: String,
    pub max_concurrent_trades: u32,
    /// A CEX order the venue cannot accept within this window is rejected (Binance's recvWindow).
    pub execution_timeout_ms: u64,
    /// Quotes older than this at decision time are not traded on.
    pub latency_threshold_ms: u64,
    /// Slippage tolerance written into the DEX leg's amountOutMin / amountInMax.
    pub dex_slippage_bps: u32,
    /// Priority fee offered by the DEX leg.
    pub priority_fee_gwei: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyConfig {
    pub max_concurrent_bundles: u32,
    /// Gas budget per simulated day, with a unit: "1 ETH".
    pub max_daily_gas_spend: String,
    /// Stop trading when the run's mark-to-market P&L falls below minus this: "2000 USDC".
    pub emergency_stop_loss: String,
    /// Largest open base exposure (trade size and unhedged residual), with a unit: "10 ETH".
    pub max_position_size: String,
    pub enable_emergency_stop: bool,
    /// Stop trading when equity falls this far below its running peak ("500 USDC"), or "off".
    pub max_drawdown: String,
    /// The operator's kill switch at a simulated time ("30m"), or "off".
    pub emergency_stop_at: String,
    /// Consecutive failed simulations or submissions that open the circuit breaker (0: never).
    pub breaker_failures: u32,
    /// How long the open breaker refuses before it lets one attempt through ("1m").
    pub breaker_cooldown: String,
    /// Token symbols actions may move (e.g. ["WETH", "USDC"]); empty: any.
    pub allowed_tokens: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    pub log_level: String,
    pub metrics_port: u16,
    /// Equity-curve sampling interval, e.g. "12s".
    pub equity_sample_interval: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketConfig {
    pub quote: QuoteAssetConfig,
    /// Step of the fundamental price processes, e.g. "100ms".
    pub tick_interval: String,
    pub assets: BTreeMap<String, AssetConfig>,
    #[serde(default)]
    pub cex: Vec<CexConfig>,
    #[serde(default)]
    pub dex: Vec<DexConfig>,
    pub feed: FeedConfig,
    pub noise_traders: NoiseTraderConfig,
    pub rivals: RivalConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteAssetConfig {
    pub symbol: String,
    pub decimals: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    #[serde(default = "default_decimals")]
    pub decimals: u32,
    /// Starting price in quote units (ignored by "replay", which starts at the file's first price).
    #[serde(default)]
    pub price: f64,
    /// "gbm" (geometric Brownian motion with Poisson jumps) or "replay" (a CSV price series).
    pub model: String,
    #[serde(default)]
    pub vol_annual: f64,
    #[serde(default)]
    pub drift_annual: f64,
    #[serde(default)]
    pub jumps: Option<JumpConfig>,
    /// For "replay": CSV with header `timestamp_ms,price` (relative to the file, then to the scenario).
    #[serde(default)]
    pub file: Option<String>,
}

fn default_decimals() -> u32 {
    18
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JumpConfig {
    pub rate_per_day: f64,
    /// Standard deviation of the log jump size.
    pub sigma: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    /// "lognormal" or "constant".
    pub dist: String,
    pub median_ms: f64,
    #[serde(default)]
    pub sigma: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CexConfig {
    pub name: String,
    pub pair: String,
    pub taker_fee_bps: u32,
    #[serde(default)]
    pub maker_fee_bps: u32,
    /// Price increment with a unit: "0.01 USDC".
    pub tick_size: String,
    /// Quantity increment with a unit: "0.0001 ETH".
    pub lot_size: String,
    /// Quoted spread around the venue's mid.
    pub spread_bps: f64,
    pub depth_levels: u32,
    /// Mean size of one level, with a unit: "2 ETH".
    pub level_size: String,
    /// Price distance between consecutive levels.
    pub level_spacing_bps: f64,
    /// How often the venue republishes its book: "100ms".
    pub refresh: String,
    /// Per-refresh idiosyncratic noise of the venue's mid (std dev).
    pub noise_bps: f64,
    /// A lagging venue quotes the fundamental as it was this long ago: "0ms" for none.
    #[serde(default = "zero_duration")]
    pub lag: String,
    /// Probability that a published book is a bad print (mid off by `outlier_size_bps`).
    #[serde(default)]
    pub outlier_probability: f64,
    #[serde(default = "default_outlier_size")]
    pub outlier_size_bps: f64,
    /// One-way latency of our orders to the venue.
    pub latency: LatencyConfig,
    /// Latency of the venue's market-data feed to us.
    pub feed_latency: LatencyConfig,
    /// Our starting balances on the venue: ["20 ETH", "60000 USDC"].
    pub balance: [String; 2],
}

fn zero_duration() -> String {
    "0ms".to_string()
}
fn default_outlier_size() -> f64 {
    300.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DexConfig {
    pub name: String,
    /// "WETH/USDC": the wrapped base and the quote.
    pub pair: String,
    /// [base reserve, quote reserve] in raw units or with units: ["2000e18", "6000000e6"].
    pub reserves: [String; 2],
    pub fee_bps: u32,
    /// Gas a successful router swap uses.
    #[serde(default = "default_swap_gas")]
    pub swap_gas: u64,
    /// Gas a reverted router swap burns before reverting.
    #[serde(default = "default_revert_gas")]
    pub revert_gas: u64,
}

pub(crate) fn default_swap_gas() -> u64 {
    120_000
}
pub(crate) fn default_revert_gas() -> u64 {
    45_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Quotes older than this on arrival are rejected as stale.
    pub max_age: String,
    /// Quotes whose mid is further than this from the other venues' median are rejected as outliers.
    pub outlier_threshold_bps: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseTraderConfig {
    pub rate_per_minute: f64,
    /// Median swap size in quote units.
    pub size_median: f64,
    pub size_sigma: f64,
    /// Share of noise swaps that buy base.
    #[serde(default = "half")]
    pub buy_probability: f64,
}

fn half() -> f64 {
    0.5
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RivalConfig {
    /// Chance per block and pool that a rival arbitrageur competes for the pool.
    pub probability: f64,
    /// Rival's minimum profit in quote units before it bothers.
    pub min_profit: f64,
    /// Rival's priority fee: lognormal with this median (gwei) and sigma.
    pub priority_fee_median_gwei: f64,
    pub priority_fee_sigma: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    pub block_time: String,
    pub base_fee_gwei: f64,
    /// Mean gas used / gas target of other people's transactions in a block (1.0 = at target).
    pub utilization_mean: f64,
    pub utilization_sigma: f64,
    /// "evm" (our contracts in revm) or "math" (the same amounts in closed form).
    pub dex_engine: String,
    /// Keep the base fee at `base_fee_gwei` instead of following EIP-1559 (controlled experiments).
    #[serde(default)]
    pub fixed_base_fee: bool,
    /// Start the chain from real state (a node's block, or a recording of one) instead of our
    /// genesis: the pools are the chain's own (`[[chain.fork.pools]]`); the same keys as `[fork]`.
    #[serde(default)]
    pub fork: Option<super::fork::ForkConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// On-chain wallet: [wrapped base, quote], e.g. ["20 ETH", "60000 USDC"].
    pub wallet: [String; 2],
    /// Native coin for gas: "2 ETH".
    pub gas: String,
}
