//! Validation: from the file shapes to a `RunSpec` of exact integers and checked ranges. Each check
//! names the key; the origin (file:line) comes from the layered document.

use std::collections::BTreeMap;
use std::path::Path;

use alloy_primitives::U256;

use super::schema::{CexConfig, LatencyConfig, Settings};
use super::{ConfigError, Layered, Origin, limits};
use crate::core::{NANOS_PER_MS, NANOS_PER_SEC, SimTime, parse_amount, parse_duration};

#[derive(Debug, Clone, PartialEq)]
pub enum LatencySpec {
    Constant { nanos: u64 },
    LogNormal { median_ns: f64, sigma: f64 },
}

#[derive(Debug, Clone, PartialEq)]
pub enum PriceModelSpec {
    Gbm {
        start: f64,
        vol_annual: f64,
        drift_annual: f64,
        jump_rate_per_day: f64,
        jump_sigma: f64,
    },
    /// (time since start, price), strictly increasing times.
    Replay {
        points: Vec<(SimTime, f64)>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct CexSpecRun {
    pub name: String,
    pub taker_fee_bps: u32,
    pub maker_fee_bps: u32,
    pub tick_quote_raw: u128,
    pub lot_base_raw: u128,
    pub quote_per_tick_lot: u128,
    pub spread_bps: f64,
    pub depth_levels: usize,
    pub level_lots: u64,
    pub level_spacing_bps: f64,
    pub refresh: SimTime,
    pub noise_bps: f64,
    pub lag: SimTime,
    pub outlier_probability: f64,
    pub outlier_size_bps: f64,
    pub latency: LatencySpec,
    pub feed_latency: LatencySpec,
    pub balance_base: u128,
    pub balance_quote: u128,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DexSpecRun {
    pub name: String,
    pub reserve_base: U256,
    pub reserve_quote: U256,
    pub fee_bps: u32,
    pub swap_gas: u64,
    pub revert_gas: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MicroArbSpec {
    pub enabled: bool,
    pub min_profit_quote: u128,
    /// In millionths of a percent-of-notional: 0.05 % → 50_000 ppm·... kept as parts per 1e8.
    pub min_profit_ppm: u64,
    pub max_position_base: u128,
    pub max_concurrent_trades: usize,
    pub execution_timeout: SimTime,
    pub latency_threshold: SimTime,
    pub dex_slippage_bps: u32,
    pub priority_fee_wei: u128,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CrossDexSpec {
    pub enabled: bool,
    pub min_profit_quote: u128,
    pub max_input_quote: u128,
    pub priority_fee_wei: u128,
    pub gas_estimate: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SandwichSpec {
    pub enabled: bool,
    pub min_profit_quote: u128,
    pub bribe_share: f64,
    pub min_success_probability: f64,
    pub priority_fee_wei: u128,
    pub gas_estimate: u64,
    pub rival_probability: f64,
    pub rival_bid_median_wei: f64,
    pub rival_bid_sigma: f64,
    pub submit_latency: SimTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LiquidationSpec {
    pub enabled: bool,
    pub min_profit_quote: u128,
    pub bribe_share: f64,
    pub priority_fee_wei: u128,
    pub gas_estimate: u64,
    pub flash_swaps: bool,
    pub rival_probability: f64,
    /// A rival's builder payment as a share of the liquidation's gross: uniform in [min, max].
    pub rival_share: (f64, f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LendingSpec {
    pub borrowers: u32,
    pub collateral_median_eth: f64,
    pub collateral_sigma: f64,
    /// (reserve index, weight), weights summing to 1; WETH and the quote token by default.
    pub collateral_mix: Vec<(usize, f64)>,
    pub debt_mix: Vec<(usize, f64)>,
    pub second_collateral_probability: f64,
    pub health_min: f64,
    pub health_max: f64,
    pub oracle: crate::market::oracle::OracleRule,
    /// Every reserve in pool order: WETH, the quote token, then the declared extras.
    pub reserves: Vec<ReserveSpec>,
    pub declared: Vec<DeclaredBorrower>,
    /// Our wallet's starting raw balance per reserve beyond `[account]` (zero for WETH and quote).
    pub inventory: Vec<U256>,
    pub replay: Option<LendingReplay>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReserveSpec {
    pub symbol: String,
    pub decimals: u8,
    pub ltv: u16,
    pub liquidation_threshold: u16,
    pub liquidation_bonus: u16,
    /// USD per whole token at the start (held unless `beta_to_eth` or a replay column moves it).
    pub price_usd: f64,
    pub beta_to_eth: Option<f64>,
    /// (token raw, quote raw) seeding its pool against the quote token (WETH: `[[market.dex]]`).
    pub pool: Option<(U256, U256)>,
}

/// A borrower's raw balances per reserve index.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredBorrower {
    pub name: String,
    pub collateral: Vec<U256>,
    pub debt: Vec<U256>,
}

/// One recorded row: the time since the first row, the source block, oracle prices (8 decimals)
/// for the reserves with a price column, and the borrower's balances.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayRow {
    pub at: SimTime,
    pub block: u64,
    pub prices: Vec<(usize, u128)>,
    pub collateral: Vec<U256>,
    pub debt: Vec<U256>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LendingReplay {
    pub name: String,
    pub rows: Vec<ReplayRow>,
}

/// One exactly specified pending swap.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingSwapSpec {
    pub at: SimTime,
    pub pool: usize,
    pub method: crate::mempool::SwapMethod,
    /// The victim sells the base (WETH/ETH) rather than the quote.
    pub sells_base: bool,
    pub limit: crate::mempool::SwapLimit,
    pub sender: String,
    pub priority_fee_wei: u128,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MempoolSpec {
    pub victims_per_minute: f64,
    pub size_median_usd: f64,
    pub size_sigma: f64,
    pub buy_probability: f64,
    pub exact_out_probability: f64,
    /// (tolerance bps, weight), weights summing to 1.
    pub slippage: Vec<(u32, f64)>,
    pub priority_fee_median_gwei: f64,
    pub priority_fee_sigma: f64,
    pub propagation: SimTime,
    pub pending: Vec<PendingSwapSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SafetySpec {
    pub max_concurrent_bundles: u32,
    pub max_daily_gas_wei: u128,
    pub emergency_stop_loss_quote: u128,
    pub max_position_base: u128,
    pub enable_emergency_stop: bool,
    pub max_drawdown_quote: Option<u128>,
    pub emergency_stop_at: Option<SimTime>,
    pub breaker_failures: u32,
    pub breaker_cooldown: SimTime,
    /// Upper-case symbols; empty: any token.
    pub allowed_tokens: Vec<String>,
}

impl SafetySpec {
    /// Does the allowlist let an action move this token?
    pub fn allows(&self, symbol: &str) -> bool {
        self.allowed_tokens.is_empty() || self.allowed_tokens.iter().any(|t| t.eq_ignore_ascii_case(symbol))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSpec {
    pub rate_per_minute: f64,
    pub size_median: f64,
    pub size_sigma: f64,
    pub buy_probability: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RivalSpec {
    pub probability: f64,
    pub min_profit_quote: u128,
    pub priority_fee_median_gwei: f64,
    pub priority_fee_sigma: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DexEngine {
    Evm,
    Math,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChainSpec {
    /// How pools execute: our contracts in revm, or the exact closed-form math (same amounts).
    pub dex_engine: DexEngine,
    pub block_time: SimTime,
    pub base_fee_wei: u128,
    pub utilization_mean: f64,
    pub utilization_sigma: f64,
    /// The base fee stays at `base_fee_wei` (no EIP-1559 adjustment).
    pub fixed_base_fee: bool,
    /// `[chain.fork]`: the chain starts from this real state; `dex` are its pools.
    pub fork: Option<super::ForkSpec>,
}

/// A fully validated run: exact integers, nanosecond durations, one base asset quoted in one stablecoin.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub duration: SimTime,
    pub quote_symbol: String,
    pub quote_decimals: u32,
    pub base_symbol: String,
    pub base_decimals: u32,
    pub price_model: PriceModelSpec,
    pub tick_interval: SimTime,
    pub cex: Vec<CexSpecRun>,
    pub dex: Vec<DexSpecRun>,
    pub feed_max_age: SimTime,
    pub feed_outlier_bps: f64,
    pub noise: NoiseSpec,
    pub rivals: RivalSpec,
    pub chain: ChainSpec,
    pub wallet_base: u128,
    pub wallet_quote: u128,
    pub wallet_native: u128,
    pub micro: MicroArbSpec,
    pub cross_dex: CrossDexSpec,
    pub sandwich: SandwichSpec,
    pub mempool: MempoolSpec,
    pub liquidation: LiquidationSpec,
    pub lending: LendingSpec,
    pub safety: SafetySpec,
    pub equity_sample: SimTime,
    pub chain_id: u64,
    pub log_level: String,
    /// `[fork]`, when the file has one (fork mode).
    pub fork: Option<super::ForkSpec>,
    /// `[keys]`: real keys for fork and live mode.
    pub keys: KeysSpec,
    /// `[live]`, when the file has one (live mode).
    pub live: Option<super::live::LiveSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeysSpec {
    pub searcher: Option<crate::chain::keys::KeySource>,
    pub relay_auth: Option<crate::chain::keys::KeySource>,
}

/// One `[keys]` entry: an environment variable, or a keystore file (relative to the file naming
/// it) with its password's variable. A value that is itself a key is refused without echoing it.
fn key_source(
    v: &V<'_>,
    key: &str,
    c: Option<&super::schema::KeyConfig>,
    base_dir: &Path,
) -> Result<Option<crate::chain::keys::KeySource>, ConfigError> {
    use crate::chain::keys::{KeySource, looks_like_a_key};
    let Some(c) = c else { return Ok(None) };
    let var = |field: &str, name: &str| -> Result<String, ConfigError> {
        let k = format!("{key}.{field}");
        if looks_like_a_key(name) {
            return Err(v.err(&k, "holds what looks like a private key: name the environment variable that holds it instead (never put a key in a file)"));
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(v.err(&k, format!("`{name}` is not an environment variable name")));
        }
        Ok(name.to_string())
    };
    match (&c.env, &c.keystore, &c.password_env) {
        (Some(e), None, None) => Ok(Some(KeySource::Env(var("env", e)?))),
        (None, Some(file), Some(p)) => {
            Ok(Some(KeySource::Keystore { path: base_dir.join(file), password_env: var("password_env", p)? }))
        }
        (None, Some(_), None) => {
            Err(v.err(&format!("{key}.password_env"), "a keystore needs the environment variable holding its password"))
        }
        _ => Err(v.err(key, "give `env = \"VAR\"`, or `keystore = \"file.json\"` with `password_env = \"VAR\"`")),
    }
}

struct V<'a> {
    layered: &'a Layered,
    base_symbol: String,
    base_decimals: u32,
    quote_symbol: String,
    quote_decimals: u32,
}

impl V<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let origin = self
            .layered
            .origin_of(key)
            .cloned()
            .unwrap_or_else(|| Origin { source: "merged configuration".to_string(), line: 0 });
        let mut message = message.into();
        if origin.source == super::DEFAULT_CONFIG_NAME {
            // The user never wrote this line: say where their fix goes.
            message
                .push_str(&format!(" (this is the embedded default: set `{key}` in your scenario or --config file)"));
        }
        ConfigError::new(origin, key, message)
    }

    /// Of two keys in a cross-key check, the one the user wrote (not an embedded default), so the
    /// error points at a line they can change.
    fn user_key<'k>(&self, a: &'k str, b: &'k str) -> &'k str {
        let is_default = |k: &str| self.layered.origin_of(k).is_none_or(|o| o.source == super::DEFAULT_CONFIG_NAME);
        if is_default(a) && !is_default(b) { b } else { a }
    }

    /// A float key within the range a real market could have.
    fn within(&self, key: &str, x: f64, lo: f64, hi: f64) -> Result<f64, ConfigError> {
        if !(x.is_finite() && x >= lo && x <= hi) {
            return Err(self.err(key, format!("must be between {lo} and {hi}, got {x:?}")));
        }
        Ok(x)
    }

    /// An integer key within its documented range.
    fn int_within<T>(&self, key: &str, x: T, lo: T, hi: T) -> Result<T, ConfigError>
    where
        T: PartialOrd + Copy + std::fmt::Display,
    {
        if x < lo || x > hi {
            return Err(self.err(key, format!("must be between {lo} and {hi}, got {x}")));
        }
        Ok(x)
    }

    /// A duration within [lo, hi].
    fn duration_within(&self, key: &str, text: &str, lo: SimTime, hi: SimTime) -> Result<SimTime, ConfigError> {
        let d = self.duration(key, text)?;
        if d < lo || d > hi {
            return Err(self.err(
                key,
                format!("`{text}` must be between {} and {}", limits::show_duration(lo), limits::show_duration(hi)),
            ));
        }
        Ok(d)
    }

    /// Gwei (a float in the file) to wei, within [0, hi] gwei.
    fn gwei(&self, key: &str, x: f64, hi: f64) -> Result<u128, ConfigError> {
        Ok((self.within(key, x, 0.0, hi)? * 1e9).round() as u128)
    }

    /// Quote units (a float in the file, e.g. a minimum profit in USD) to quote raw units.
    fn quote_units(&self, key: &str, x: f64, hi: f64) -> Result<u128, ConfigError> {
        Ok((self.within(key, x, 0.0, hi)? * 10f64.powi(self.quote_decimals as i32)).round() as u128)
    }

    fn units(&self) -> impl Fn(&str) -> Option<u32> + '_ {
        move |u: &str| {
            let up = u.to_ascii_uppercase();
            if up == self.base_symbol.to_ascii_uppercase()
                || up == format!("W{}", self.base_symbol.to_ascii_uppercase())
            {
                Some(self.base_decimals)
            } else if up == self.quote_symbol.to_ascii_uppercase() || up == "QUOTE" {
                Some(self.quote_decimals)
            } else if up == "GWEI" {
                Some(9)
            } else if up == "WEI" {
                Some(0)
            } else {
                None
            }
        }
    }

    fn known_units(&self) -> String {
        format!("{}, W{}, {} (or `quote`), gwei, wei", self.base_symbol, self.base_symbol, self.quote_symbol)
    }

    /// An amount that must be written in (or default to) the given asset's units.
    fn amount(&self, key: &str, text: &str, expect_unit_of: Expect) -> Result<u128, ConfigError> {
        let units = self.units();
        let t = text.trim();
        if let Some((_, unit)) = t.split_once(char::is_whitespace) {
            let dec = units(unit.trim());
            let ok = match expect_unit_of {
                Expect::Base => {
                    dec.is_some()
                        && (unit.trim().to_ascii_uppercase().ends_with(&self.base_symbol.to_ascii_uppercase())
                            || unit.trim().eq_ignore_ascii_case("wei"))
                }
                Expect::Quote => {
                    unit.trim().eq_ignore_ascii_case(&self.quote_symbol) || unit.trim().eq_ignore_ascii_case("quote")
                }
                Expect::Native => {
                    dec.is_some()
                        && !unit.trim().eq_ignore_ascii_case(&self.quote_symbol)
                        && !unit.trim().eq_ignore_ascii_case("quote")
                }
            };
            if dec.is_some() && !ok {
                return Err(self
                    .err(key, format!("`{text}` is in the wrong unit (expected {})", expect_unit_of.describe(self))));
            }
        }
        if !t.contains(char::is_whitespace) && !t.is_empty() {
            return Err(self.err(key, self.unit_hint(t, expect_unit_of)));
        }
        let v = parse_amount(text, &units, &self.known_units()).map_err(|e| self.err(key, e.to_string()))?;
        if v > limits::MAX_AMOUNT {
            return Err(self.err(key, format!("`{text}` is more than {} raw units, the most any balance or pool here may hold (2^112 - 1, Uniswap V2's reserve limit)", limits::MAX_AMOUNT)));
        }
        Ok(v.to::<u128>())
    }

    /// The message for an amount written without a unit: what to write instead.
    fn unit_hint(&self, t: &str, expect: Expect) -> String {
        let (unit, decimals) = match expect {
            Expect::Base | Expect::Native => (self.base_symbol.clone(), self.base_decimals),
            Expect::Quote => (self.quote_symbol.clone(), self.quote_decimals),
        };
        let raw = crate::core::amount::parse_decimal(t, decimals).ok();
        let raw_hint = match (expect, raw) {
            (Expect::Base | Expect::Native, Some(r)) => format!(" or, in raw units, \"{r} wei\""),
            _ => String::new(),
        };
        format!("`{t}` has no unit; amounts are never read as raw units silently: write \"{t} {unit}\"{raw_hint}")
    }

    fn duration(&self, key: &str, text: &str) -> Result<SimTime, ConfigError> {
        parse_duration(text).map_err(|e| self.err(key, e.to_string()))
    }

    fn probability(&self, key: &str, x: f64) -> Result<f64, ConfigError> {
        if !(0.0..=1.0).contains(&x) {
            return Err(self.err(key, format!("must be a probability in [0, 1], got {x}")));
        }
        Ok(x)
    }

    /// Latency of orders or feeds: at most a minute (a venue slower than that is down, not slow).
    fn latency(&self, key: &str, l: &LatencyConfig) -> Result<LatencySpec, ConfigError> {
        let median = self.within(&format!("{key}.median_ms"), l.median_ms, 0.0, 60_000.0)?;
        match l.dist.as_str() {
            "constant" => Ok(LatencySpec::Constant { nanos: (median * NANOS_PER_MS as f64).round() as u64 }),
            "lognormal" => {
                let sigma = self.within(&format!("{key}.sigma"), l.sigma, 0.0, limits::MAX_LOG_SIGMA)?;
                if median <= 0.0 {
                    return Err(self.err(&format!("{key}.median_ms"), "a lognormal latency needs a median > 0"));
                }
                Ok(LatencySpec::LogNormal { median_ns: median * NANOS_PER_MS as f64, sigma })
            }
            other => Err(self.err(
                &format!("{key}.dist"),
                format!("unknown latency distribution `{other}` (use \"lognormal\" or \"constant\")"),
            )),
        }
    }

    /// Whether `pair` (`BASE/QUOTE`, the base possibly wrapped) is the scenario's market.
    fn is_our_pair(&self, pair: &str, wrapped_ok: bool) -> Option<bool> {
        let (b, q) = pair.split_once('/')?;
        if b.is_empty() || q.is_empty() || q.contains('/') {
            return None;
        }
        let base_ok = b.eq_ignore_ascii_case(&self.base_symbol)
            || (wrapped_ok && b.eq_ignore_ascii_case(&format!("W{}", self.base_symbol)));
        Some(base_ok && q.eq_ignore_ascii_case(&self.quote_symbol))
    }

    fn pair(&self, key: &str, pair: &str, wrapped_ok: bool) -> Result<(), ConfigError> {
        match self.is_our_pair(pair, wrapped_ok) {
            None => Err(self.err(key, format!("`{pair}` is not BASE/QUOTE"))),
            Some(false) => Err(self.err(
                key,
                format!(
                    "`{pair}` does not trade the scenario's asset {}/{} (one base asset per run)",
                    self.base_symbol, self.quote_symbol
                ),
            )),
            Some(true) => Ok(()),
        }
    }

    fn bps(&self, key: &str, x: f64, hi: f64) -> Result<f64, ConfigError> {
        self.within(key, x, 0.0, hi)
    }

    fn cex(&self, i: usize, c: &CexConfig) -> Result<CexSpecRun, ConfigError> {
        let k = |f: &str| format!("market.cex[{i}].{f}");
        self.pair(&k("pair"), &c.pair, false)?;
        check_venue_name(self, &k("name"), &c.name)?;
        let taker_fee_bps = self.int_within(&k("taker_fee_bps"), c.taker_fee_bps, 0, limits::MAX_FEE_BPS)?;
        let maker_fee_bps = self.int_within(&k("maker_fee_bps"), c.maker_fee_bps, 0, limits::MAX_FEE_BPS)?;
        let tick = self.amount(&k("tick_size"), &c.tick_size, Expect::Quote)?;
        let lot = self.amount(&k("lot_size"), &c.lot_size, Expect::Base)?;
        if tick == 0 || lot == 0 {
            return Err(self.err(&k(if tick == 0 { "tick_size" } else { "lot_size" }), "must be > 0"));
        }
        let one_base = 10u128.pow(self.base_decimals);
        // A tick of price times a lot of quantity, in quote raw units: both below 2^112, so the
        // product is exact in 256 bits and must be whole and fit 64 bits for the book's arithmetic.
        let product = U256::from(tick) * U256::from(lot);
        if product % U256::from(one_base) != U256::ZERO {
            return Err(self.err(
                &k("tick_size"),
                "tick_size × lot_size must be a whole number of quote raw units (e.g. 0.01 USDC × 0.0001 ETH)",
            ));
        }
        let quote_per_tick_lot = product / U256::from(one_base);
        if quote_per_tick_lot > U256::from(u64::MAX) {
            let (lot_key, tick_key) = (k("lot_size"), k("tick_size"));
            return Err(self.err(
                self.user_key(&lot_key, &tick_key),
                format!(
                    "one tick × one lot ({} × {}) is more than 2^64 quote raw units; use a smaller lot or tick",
                    c.tick_size, c.lot_size
                ),
            ));
        }
        let depth = c.depth_levels as usize;
        if depth == 0 || depth > crate::core::strategy::MAX_DEPTH {
            return Err(
                self.err(&k("depth_levels"), format!("must be between 1 and {}", crate::core::strategy::MAX_DEPTH))
            );
        }
        let level_size = self.amount(&k("level_size"), &c.level_size, Expect::Base)?;
        let level_lots = u64::try_from(level_size / lot).unwrap_or(u64::MAX);
        if level_lots == 0 {
            return Err(self.err(&k("level_size"), "must be at least one lot"));
        }
        if level_lots > limits::MAX_LEVEL_LOTS {
            return Err(self.err(
                &k("level_size"),
                format!("is {level_lots} lots; a level may hold at most {} lots", limits::MAX_LEVEL_LOTS),
            ));
        }
        let balance_base = self.amount(&k("balance[0]"), &c.balance[0], Expect::Base)?;
        let balance_quote = self.amount(&k("balance[1]"), &c.balance[1], Expect::Quote)?;
        Ok(CexSpecRun {
            name: c.name.clone(),
            taker_fee_bps,
            maker_fee_bps,
            tick_quote_raw: tick,
            lot_base_raw: lot,
            quote_per_tick_lot: quote_per_tick_lot.to::<u128>(),
            spread_bps: self.bps(&k("spread_bps"), c.spread_bps, 1_000.0)?,
            depth_levels: depth,
            level_lots,
            level_spacing_bps: self.bps(&k("level_spacing_bps"), c.level_spacing_bps, 1_000.0)?,
            refresh: self.duration_within(&k("refresh"), &c.refresh, limits::MS, limits::HOUR)?,
            noise_bps: self.bps(&k("noise_bps"), c.noise_bps, 1_000.0)?,
            lag: self.duration_within(&k("lag"), &c.lag, 0, limits::HOUR)?,
            outlier_probability: self.probability(&k("outlier_probability"), c.outlier_probability)?,
            outlier_size_bps: self.bps(&k("outlier_size_bps"), c.outlier_size_bps, 5_000.0)?,
            latency: self.latency(&k("latency"), &c.latency)?,
            feed_latency: self.latency(&k("feed_latency"), &c.feed_latency)?,
            balance_base,
            balance_quote,
        })
    }
}

/// A token symbol: ASCII letters and digits, 1–16 of them (it is also a unit in amounts).
fn check_symbol(v: &V<'_>, key: &str, symbol: &str) -> Result<(), ConfigError> {
    if symbol.is_empty() || symbol.len() > 16 || !symbol.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(v.err(
            key,
            format!("`{}` is not a token symbol (1 to 16 ASCII letters and digits)", symbol.escape_debug()),
        ));
    }
    if ["WEI", "GWEI", "QUOTE"].iter().any(|u| symbol.eq_ignore_ascii_case(u)) {
        return Err(v.err(key, format!("`{symbol}` is a unit name, not a token symbol")));
    }
    Ok(())
}

/// Pool reserves Uniswap V2's pair accepts at its first mint: each at most 2^112 − 1 raw units
/// (`UniswapV2: OVERFLOW` otherwise) and √(reserve0·reserve1) above the 1,000 units of minimum
/// liquidity the pair locks forever (`INSUFFICIENT_LIQUIDITY_MINTED` otherwise).
fn check_pool_reserves(v: &V<'_>, key: &str, a: U256, b: U256) -> Result<(), ConfigError> {
    let max = crate::market::amm::MAX_RESERVE;
    if a.is_zero() || b.is_zero() || a > max || b > max {
        return Err(v.err(key, "each reserve must be between 1 and 2^112 - 1 raw units (Uniswap V2's uint112)"));
    }
    // ⌊√(a·b)⌋ > m  ⟺  a·b >= (m + 1)²: no square root unless the check fails.
    let m = U256::from(crate::market::amm::MINIMUM_LIQUIDITY);
    if a * b < (m + U256::from(1u8)) * (m + U256::from(1u8)) {
        return Err(v.err(
            key,
            format!(
                "too little liquidity: √(reserve0 × reserve1) = {} raw units; Uniswap V2 locks the first {} forever (its minimum liquidity) and needs more",
                (a * b).root(2),
                crate::market::amm::MINIMUM_LIQUIDITY
            ),
        ));
    }
    Ok(())
}

/// A URL with one of `schemes` and a host (`http://` alone is not an endpoint).
fn check_url(v: &V<'_>, key: &str, text: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let shown: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
    let url = url::Url::parse(text).map_err(|e| v.err(key, format!("`{text}` is not a URL: {e}")))?;
    if !schemes.contains(&url.scheme()) {
        return Err(v.err(key, format!("`{text}` must start with {}", shown.join(" or "))));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(v.err(key, format!("`{text}` has no host")));
    }
    Ok(())
}

/// The emergency stop loss in quote raw units. Written in the quote token, or in the base asset as
/// the reference design does (`"0.1 ETH"`), then valued at the run's starting price.
fn stop_loss_quote(v: &V<'_>, key: &str, text: &str, start_price: f64) -> Result<u128, ConfigError> {
    let unit = text.trim().split_once(char::is_whitespace).map(|(_, u)| u.trim().to_ascii_uppercase());
    let base = v.base_symbol.to_ascii_uppercase();
    if unit.as_deref().is_some_and(|u| u == base || u == format!("W{base}")) {
        let raw = v.amount(key, text, Expect::Base)?;
        let quote = raw as f64 / 10f64.powi(v.base_decimals as i32) * start_price * 10f64.powi(v.quote_decimals as i32);
        return Ok(quote.round() as u128);
    }
    v.amount(key, text, Expect::Quote)
}

/// A venue, pool, borrower or sender name: printed in reports and used to derive keys, so short
/// and printable.
fn check_venue_name(v: &V<'_>, key: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > limits::MAX_NAME_LEN || name.chars().any(|c| c.is_control()) {
        return Err(v.err(key, format!("must be 1 to {} printable characters", limits::MAX_NAME_LEN)));
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Expect {
    Base,
    Quote,
    Native,
}

impl Expect {
    fn describe(self, v: &V<'_>) -> String {
        match self {
            Expect::Base => format!("{} or W{} (or wei)", v.base_symbol, v.base_symbol),
            Expect::Quote => v.quote_symbol.clone(),
            Expect::Native => format!("{}, gwei or wei", v.base_symbol),
        }
    }
}

pub fn resolve(s: &Settings, layered: &Layered, base_dir: &Path) -> Result<RunSpec, ConfigError> {
    let mut v = V {
        layered,
        base_symbol: String::new(),
        base_decimals: 18,
        quote_symbol: s.market.quote.symbol.clone(),
        quote_decimals: s.market.quote.decimals,
    };
    v.int_within("market.quote.decimals", v.quote_decimals, 0, limits::MAX_DECIMALS)?;
    limits::check_name(&s.name).map_err(|m| v.err("name", m))?;
    if s.description.chars().count() > 1_000 {
        return Err(v.err("description", "must be at most 1000 characters"));
    }
    check_symbol(&v, "market.quote.symbol", &v.quote_symbol)?;
    let mut assets = s.market.assets.iter();
    let (base_symbol, asset) = match (assets.next(), assets.next()) {
        (Some(a), None) => a,
        (None, _) => {
            return Err(v.err("market.assets", "declare exactly one base asset, e.g. [market.assets.ETH]"));
        }
        (Some(_), Some((second, _))) => {
            return Err(v.err(
                &format!("market.assets.{second}"),
                "one base asset per run is supported; split into two scenarios",
            ));
        }
    };
    v.base_symbol = base_symbol.clone();
    v.base_decimals = asset.decimals;
    v.int_within(&format!("market.assets.{base_symbol}.decimals"), asset.decimals, 0, limits::MAX_DECIMALS)?;
    check_symbol(&v, "market.assets", base_symbol)?;
    if base_symbol.eq_ignore_ascii_case(&v.quote_symbol) {
        return Err(
            v.err("market.quote.symbol", format!("the quote token cannot also be the base asset `{base_symbol}`"))
        );
    }
    let ak = |f: &str| format!("market.assets.{base_symbol}.{f}");

    let duration = v.duration_within("duration", &s.duration, limits::SECOND, limits::MAX_DURATION)?;
    let price_model = match asset.model.as_str() {
        "gbm" => {
            if !(asset.price.is_finite() && asset.price > 0.0 && asset.price <= limits::MAX_PRICE) {
                return Err(v.err(
                    &ak("price"),
                    format!("must be between 0 (exclusive) and {}, got {:?}", limits::MAX_PRICE, asset.price),
                ));
            }
            let (rate, sigma) = match &asset.jumps {
                Some(j) => (
                    v.within(&ak("jumps.rate_per_day"), j.rate_per_day, 0.0, 10_000.0)?,
                    v.within(&ak("jumps.sigma"), j.sigma, 0.0, 1.0)?,
                ),
                None => (0.0, 0.0),
            };
            PriceModelSpec::Gbm {
                start: asset.price,
                vol_annual: v.within(&ak("vol_annual"), asset.vol_annual, 0.0, 5.0)?,
                drift_annual: v.within(&ak("drift_annual"), asset.drift_annual, -5.0, 5.0)?,
                jump_rate_per_day: rate,
                jump_sigma: sigma,
            }
        }
        "replay" => {
            let file = asset.file.as_ref().ok_or_else(|| v.err(&ak("file"), "the replay model needs `file`"))?;
            PriceModelSpec::Replay { points: read_replay(&v, &ak("file"), &base_dir.join(file), file)? }
        }
        other => {
            return Err(v.err(&ak("model"), format!("unknown price model `{other}` (use \"gbm\" or \"replay\")")));
        }
    };

    let chain_fork = match &s.chain.fork {
        None => None,
        Some(f) => Some(super::fork::resolve(f, base_dir, &|key, message| v.err(&format!("chain.{key}"), message))?),
    };
    if chain_fork.is_some() && !s.market.dex.is_empty() {
        return Err(v.err(
            "market.dex",
            "a chain started from a fork trades on its own pools: declare them as [[chain.fork.pools]], not [[market.dex]]",
        ));
    }
    if s.market.cex.is_empty() && s.market.dex.is_empty() && s.fork.is_none() && chain_fork.is_none() {
        return Err(v.err("market", "declare at least one venue ([[market.cex]] or [[market.dex]])"));
    }
    let cex = s.market.cex.iter().enumerate().map(|(i, c)| v.cex(i, c)).collect::<Result<Vec<_>, _>>()?;
    let mut names = std::collections::BTreeSet::new();
    for (i, c) in s.market.cex.iter().enumerate() {
        if !names.insert(c.name.clone()) {
            return Err(v.err(&format!("market.cex[{i}].name"), format!("duplicate venue name `{}`", c.name)));
        }
    }
    let mut dex = Vec::new();
    for (i, d) in s.market.dex.iter().enumerate() {
        let k = |f: &str| format!("market.dex[{i}].{f}");
        v.pair(&k("pair"), &d.pair, true)?;
        if !names.insert(d.name.clone()) {
            return Err(v.err(&k("name"), format!("duplicate venue name `{}`", d.name)));
        }
        check_venue_name(&v, &k("name"), &d.name)?;
        v.int_within(&k("fee_bps"), d.fee_bps, 0, limits::MAX_FEE_BPS)?;
        let rb = v.amount(&k("reserves[0]"), &d.reserves[0], Expect::Base)?;
        let rq = v.amount(&k("reserves[1]"), &d.reserves[1], Expect::Quote)?;
        check_pool_reserves(&v, &k("reserves"), U256::from(rb), U256::from(rq))?;
        v.int_within(&k("swap_gas"), d.swap_gas, 21_000, limits::MAX_TX_GAS)?;
        v.int_within(&k("revert_gas"), d.revert_gas, 21_000, limits::MAX_TX_GAS)?;
        dex.push(DexSpecRun {
            name: d.name.clone(),
            reserve_base: U256::from(rb),
            reserve_quote: U256::from(rq),
            fee_bps: d.fee_bps,
            swap_gas: d.swap_gas,
            revert_gas: d.revert_gas,
        });
    }

    // A forked chain's pools: their reserves are the chain's at the fork block, read when it starts.
    for p in chain_fork.iter().flat_map(|f| &f.pools) {
        dex.push(DexSpecRun {
            name: p.name.clone(),
            reserve_base: U256::ZERO,
            reserve_quote: U256::ZERO,
            fee_bps: p.fee_bps,
            // The genuine Router02 on the chain's pairs, not our contracts' figure.
            swap_gas: p.swap_gas,
            revert_gas: super::schema::default_revert_gas(),
        });
    }
    let m = &s.strategies.micro_arbitrage;
    let mk = |f: &str| format!("strategies.micro_arbitrage.{f}");
    // A searcher's config lists every pair it trades; a scenario simulates one market. Pairs of
    // other markets are well-formed but idle here; an enabled strategy needs this market's pair.
    let mut trades_our_pair = m.trading_pairs.is_empty();
    for (i, p) in m.trading_pairs.iter().enumerate() {
        let key = format!("{}[{i}]", mk("trading_pairs"));
        match v.is_our_pair(p, true) {
            None => return Err(v.err(&key, format!("`{p}` is not BASE/QUOTE"))),
            Some(ours) => trades_our_pair |= ours,
        }
    }
    if m.enabled && !trades_our_pair {
        return Err(v.err(
            &mk("trading_pairs"),
            format!(
                "none of {:?} is the scenario's market {}/{}: add it, or leave the list empty for the scenario's pair",
                m.trading_pairs, v.base_symbol, v.quote_symbol
            ),
        ));
    }
    let min_profit_usd = v.within(&mk("min_profit_usd"), m.min_profit_usd.0, 0.0, limits::MAX_PRICE)?;
    // A fraction of the buy leg's notional, as the reference design means it: 0.001 = 0.1 %.
    let min_fraction = v.within(&mk("min_profit_percentage"), m.min_profit_percentage, 0.0, 0.5)?;
    let max_position_base = v.amount(&mk("max_position_size"), &m.max_position_size, Expect::Base)?;
    if max_position_base == 0 {
        return Err(v.err(&mk("max_position_size"), "must be > 0"));
    }
    v.int_within(&mk("max_concurrent_trades"), m.max_concurrent_trades, 1, 64)?;
    v.int_within(&mk("dex_slippage_bps"), m.dex_slippage_bps, 0, 5_000)?;
    let priority_fee_wei = v.gwei(&mk("priority_fee_gwei"), m.priority_fee_gwei, limits::MAX_GWEI)?;
    let execution_timeout =
        v.int_within(&mk("execution_timeout_ms"), m.execution_timeout_ms, 1, 60_000)? * NANOS_PER_MS;
    let latency_threshold =
        v.int_within(&mk("latency_threshold_ms"), m.latency_threshold_ms, 1, 60_000)? * NANOS_PER_MS;

    let sf = &s.safety;
    let start_price = match &price_model {
        PriceModelSpec::Gbm { start, .. } => *start,
        PriceModelSpec::Replay { points } => points[0].1,
    };
    let safety = SafetySpec {
        max_concurrent_bundles: v.int_within("safety.max_concurrent_bundles", sf.max_concurrent_bundles, 1, 100)?,
        max_daily_gas_wei: v.amount("safety.max_daily_gas_spend", &sf.max_daily_gas_spend, Expect::Native)?,
        emergency_stop_loss_quote: stop_loss_quote(
            &v,
            "safety.emergency_stop_loss",
            &sf.emergency_stop_loss,
            start_price,
        )?,
        max_position_base: v.amount("safety.max_position_size", &sf.max_position_size, Expect::Base)?,
        enable_emergency_stop: sf.enable_emergency_stop,
        max_drawdown_quote: match sf.max_drawdown.trim() {
            "off" => None,
            t => Some(stop_loss_quote(&v, "safety.max_drawdown", t, start_price)?),
        },
        emergency_stop_at: match sf.emergency_stop_at.trim() {
            "off" => None,
            t => Some(v.duration_within("safety.emergency_stop_at", t, 0, limits::MAX_DURATION)?),
        },
        breaker_failures: v.int_within("safety.breaker_failures", sf.breaker_failures, 0, 1_000)?,
        breaker_cooldown: v.duration_within("safety.breaker_cooldown", &sf.breaker_cooldown, 0, limits::DAY)?,
        allowed_tokens: {
            for (i, t) in sf.allowed_tokens.iter().enumerate() {
                if t.is_empty() || t.len() > 16 || !t.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(v.err(
                        "safety.allowed_tokens",
                        format!("entry {} ({t:?}) must be a token symbol: 1 to 16 letters or digits", i + 1),
                    ));
                }
            }
            sf.allowed_tokens.iter().map(|t| t.to_ascii_uppercase()).collect()
        },
    };
    if max_position_base > safety.max_position_base {
        return Err(v.err(
            v.user_key(&mk("max_position_size"), "safety.max_position_size"),
            format!(
                "{} is larger than safety.max_position_size ({}): min > max",
                m.max_position_size, sf.max_position_size
            ),
        ));
    }

    let c = &s.chain;
    let dex_engine = match c.dex_engine.as_str() {
        "evm" => DexEngine::Evm,
        "math" => DexEngine::Math,
        other => return Err(v.err("chain.dex_engine", format!("`{other}` is not an engine (use \"evm\" or \"math\")"))),
    };
    let chain = ChainSpec {
        dex_engine,
        block_time: v.duration_within("chain.block_time", &c.block_time, limits::SECOND, limits::DAY)?,
        base_fee_wei: v.gwei("chain.base_fee_gwei", c.base_fee_gwei, limits::MAX_GWEI)?,
        // Gas used / target of the rest of mainnet: a block holds at most twice its target.
        utilization_mean: v.within("chain.utilization_mean", c.utilization_mean, 0.0, 2.0)?,
        utilization_sigma: v.within("chain.utilization_sigma", c.utilization_sigma, 0.0, 2.0)?,
        fixed_base_fee: c.fixed_base_fee,
        fork: chain_fork,
    };
    if duration < chain.block_time {
        return Err(v.err(
            v.user_key("duration", "chain.block_time"),
            format!("the run ({}) is shorter than one block ({})", s.duration, c.block_time),
        ));
    }

    let quote_scale = 10f64.powi(v.quote_decimals as i32);
    let tick_interval = v.duration_within("market.tick_interval", &s.market.tick_interval, limits::MS, limits::HOUR)?;
    let n = &s.market.noise_traders;
    let r = &s.market.rivals;
    let feed = &s.market.feed;
    let mon = &s.monitoring;
    if !["error", "warn", "info", "debug", "trace"].contains(&mon.log_level.as_str()) {
        return Err(v.err(
            "monitoring.log_level",
            format!("`{}` is not one of error, warn, info, debug, trace", mon.log_level),
        ));
    }
    for (key, url, schemes) in [
        ("network.rpc_url", &s.network.rpc_url, &["http", "https"][..]),
        ("network.ws_url", &s.network.ws_url, &["ws", "wss"][..]),
        ("network.flashbots_relay_url", &s.network.flashbots_relay_url, &["http", "https"][..]),
    ] {
        check_url(&v, key, url, schemes)?;
    }
    // EIP-155 chain ids are positive; wallets and EIP-2294 cap them at 2^53 - 1 - 36 ... we take 2^53 - 1.
    let chain_id = v.int_within("network.chain_id", s.network.chain_id, 1, (1u64 << 53) - 1)?;
    if let Some(bt) = s.network.block_time {
        v.int_within("network.block_time", bt, 1, 600)?;
    }

    if chain.dex_engine == DexEngine::Evm && !dex.is_empty() {
        // Our pair contract is Uniswap V2's: WETH (18 decimals) against the quote token, 0.30 % fee.
        if v.base_decimals != 18 {
            return Err(v.err(
                &ak("decimals"),
                "the EVM engine trades WETH: the base asset needs 18 decimals (or use dex_engine = \"math\")",
            ));
        }
        if let Some(i) = dex.iter().position(|d| d.fee_bps != 30) {
            return Err(v.err(
                &format!("market.dex[{i}].fee_bps"),
                "the EVM pair charges 30 bps (Uniswap V2); use dex_engine = \"math\" for other fees",
            ));
        }
    }
    let sandwich = {
        let c = &s.strategies.sandwich;
        let k = |f: &str| format!("strategies.sandwich.{f}");
        v.int_within(&k("gas_estimate"), c.gas_estimate, 21_000, limits::MAX_TX_GAS)?;
        if c.enabled && dex.is_empty() && s.fork.is_none() {
            return Err(v.err(&k("enabled"), "sandwiching needs at least one [[market.dex]] pool (or [[fork.pools]])"));
        }
        if c.enabled && chain.dex_engine != DexEngine::Evm {
            return Err(
                v.err(&k("enabled"), "sandwiches are built, simulated and mined in the EVM: use dex_engine = \"evm\"")
            );
        }
        SandwichSpec {
            enabled: c.enabled,
            min_profit_quote: v.quote_units(&k("min_profit_usd"), c.min_profit_usd.0, limits::MAX_PRICE)?,
            bribe_share: v.probability(&k("bribe_share"), c.bribe_share)?,
            min_success_probability: v.probability(&k("min_success_probability"), c.min_success_probability)?,
            priority_fee_wei: v.gwei(&k("priority_fee_gwei"), c.priority_fee_gwei, limits::MAX_GWEI)?,
            gas_estimate: c.gas_estimate,
            rival_probability: v.probability(&k("rival_probability"), c.rival_probability)?,
            rival_bid_median_wei: v.within(&k("rival_bid_median_eth"), c.rival_bid_median_eth, 0.0, 1_000.0)? * 1e18,
            rival_bid_sigma: v.within(&k("rival_bid_sigma"), c.rival_bid_sigma, 0.0, limits::MAX_LOG_SIGMA)?,
            submit_latency: v.duration_within(&k("submit_latency"), &c.submit_latency, 0, limits::MINUTE)?,
        }
    };
    let mempool = mempool_spec(&v, &s.mempool, &dex, duration)?;
    let liquidation = {
        let c = &s.strategies.liquidation;
        let k = |f: &str| format!("strategies.liquidation.{f}");
        v.int_within(&k("gas_estimate"), c.gas_estimate, 21_000, limits::MAX_TX_GAS)?;
        match &s.fork {
            // Fork mode: the pool and its reserves are the chain's ([fork.lending]).
            Some(f) if c.enabled && f.lending.is_none() => {
                return Err(v.err(
                    &k("enabled"),
                    "liquidations in fork mode watch a lending pool on the chain: declare [fork.lending]",
                ));
            }
            Some(_) => {}
            None if c.enabled && (dex.is_empty() || chain.dex_engine != DexEngine::Evm) => {
                return Err(v.err(
                    &k("enabled"),
                    "liquidations sell collateral on an EVM pool: declare [[market.dex]] with dex_engine = \"evm\"",
                ));
            }
            None => {}
        }
        LiquidationSpec {
            enabled: c.enabled,
            min_profit_quote: v.quote_units(&k("min_profit_usd"), c.min_profit_usd.0, limits::MAX_PRICE)?,
            bribe_share: v.probability(&k("bribe_share"), c.bribe_share)?,
            priority_fee_wei: v.gwei(&k("priority_fee_gwei"), c.priority_fee_gwei, limits::MAX_GWEI)?,
            gas_estimate: c.gas_estimate,
            flash_swaps: c.flash_swaps,
            rival_probability: v.probability(&k("rival_probability"), c.rival_probability)?,
            rival_share: {
                let lo = v.probability(&k("rival_share_min"), c.rival_share_min)?;
                let hi = v.probability(&k("rival_share_max"), c.rival_share_max)?;
                if hi < lo {
                    let (max_key, min_key) = (k("rival_share_max"), k("rival_share_min"));
                    return Err(v.err(
                        v.user_key(&max_key, &min_key),
                        format!("need rival_share_min <= rival_share_max, got {lo} and {hi}"),
                    ));
                }
                (lo, hi)
            },
        }
    };
    let lending = {
        let l = &s.lending;
        let k = |f: &str| format!("lending.{f}");
        // Health factors a lending market has: below 0.5 the position is long gone, above 100 it
        // never comes near liquidation.
        let (lo, hi) = (
            v.within(&k("health_min"), l.health_min, 0.5, 100.0)?,
            v.within(&k("health_max"), l.health_max, 0.5, 100.0)?,
        );
        if hi < lo {
            return Err(v.err(
                v.user_key(&k("health_max"), &k("health_min")),
                format!("need health_min <= health_max, got {lo} and {hi}"),
            ));
        }
        v.int_within(&k("oracle_deviation_bps"), l.oracle_deviation_bps, 1, 2_000)?;
        v.int_within(&k("borrowers"), l.borrowers, 0, limits::MAX_BORROWERS)?;
        let reserves = reserve_specs(&v, l, &dex)?;
        let declared = l
            .borrower
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let bk = |f: &str| format!("lending.borrower[{i}].{f}");
                Ok(DeclaredBorrower {
                    name: {
                        check_venue_name(&v, &bk("name"), &b.name)?;
                        b.name.clone()
                    },
                    collateral: reserve_balances(&v, &bk("collateral"), &b.collateral.items(), &reserves)?,
                    debt: reserve_balances(&v, &bk("debt"), &b.debt.items(), &reserves)?,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let inventory: Vec<&str> = l.inventory.iter().map(String::as_str).collect();
        let inventory = reserve_balances(&v, &k("inventory"), &inventory, &reserves)?;
        if !inventory[0].is_zero() || !inventory[1].is_zero() {
            return Err(v.err(&k("inventory"), "WETH and the quote token come from [account] wallet"));
        }
        let replay = match &l.replay {
            Some(r) => Some(LendingReplay {
                name: {
                    check_venue_name(&v, "lending.replay.name", &r.name)?;
                    r.name.clone()
                },
                rows: read_lending_replay(&v, "lending.replay.file", &base_dir.join(&r.file), &r.file, &reserves)?,
            }),
            None => None,
        };
        let mix = |key: &str, m: &BTreeMap<String, f64>, default: usize| -> Result<Vec<(usize, f64)>, ConfigError> {
            if m.is_empty() {
                return Ok(vec![(default, 1.0)]);
            }
            let mut out = Vec::new();
            for (sym, &w) in m {
                let i = reserves.iter().position(|r| r.symbol.eq_ignore_ascii_case(sym)).ok_or_else(|| {
                    let known: Vec<&str> = reserves.iter().map(|r| r.symbol.as_str()).collect();
                    v.err(&format!("{key}.{sym}"), format!("no reserve `{sym}` (known: {})", known.join(", ")))
                })?;
                out.push((i, v.within(&format!("{key}.{sym}"), w, 0.0, 1e6)?));
            }
            let total: f64 = out.iter().map(|x| x.1).sum();
            if total <= 0.0 {
                return Err(v.err(key, "weights must not all be 0"));
            }
            out.iter_mut().for_each(|x| x.1 /= total);
            Ok(out)
        };
        let collateral_mix = mix(&k("collateral_mix"), &l.collateral_mix, 0)?;
        let debt_mix = mix(&k("debt_mix"), &l.debt_mix, 1)?;
        if collateral_mix.iter().any(|&(i, w)| w > 0.0 && reserves[i].liquidation_threshold == 0) {
            return Err(v.err(&k("collateral_mix"), "a reserve with liquidation threshold 0 cannot be collateral"));
        }
        LendingSpec {
            borrowers: l.borrowers,
            collateral_mix,
            debt_mix,
            second_collateral_probability: v
                .probability(&k("second_collateral_probability"), l.second_collateral_probability)?,
            collateral_median_eth: v.within(&k("collateral_median_eth"), l.collateral_median_eth, 0.0, 1e6)?,
            collateral_sigma: v.within(&k("collateral_sigma"), l.collateral_sigma, 0.0, limits::MAX_LOG_SIGMA)?,
            health_min: lo,
            health_max: hi,
            oracle: crate::market::oracle::OracleRule {
                deviation_bps: l.oracle_deviation_bps,
                heartbeat: v.duration_within(
                    &k("oracle_heartbeat"),
                    &l.oracle_heartbeat,
                    limits::SECOND,
                    7 * limits::DAY,
                )?,
            },
            reserves,
            declared,
            inventory,
            replay,
        }
    };
    // Strategies of two families (the CEX/DEX market's, sandwiching, liquidations) run together on
    // one chain and wallet (`engine::all`); the sandwich and liquidation checks above already require
    // that chain (pools in the EVM).
    let spec = RunSpec {
        name: s.name.clone(),
        description: s.description.clone(),
        seed: s.seed,
        duration,
        quote_symbol: v.quote_symbol.clone(),
        quote_decimals: v.quote_decimals,
        base_symbol: v.base_symbol.clone(),
        base_decimals: v.base_decimals,
        price_model,
        tick_interval,
        cex,
        dex,
        feed_max_age: v.duration_within("market.feed.max_age", &feed.max_age, limits::MS, limits::HOUR)?,
        feed_outlier_bps: v.within("market.feed.outlier_threshold_bps", feed.outlier_threshold_bps, 0.0, 10_000.0)?,
        noise: NoiseSpec {
            rate_per_minute: v.within(
                "market.noise_traders.rate_per_minute",
                n.rate_per_minute,
                0.0,
                limits::MAX_RATE_PER_MINUTE,
            )?,
            size_median: v.within("market.noise_traders.size_median", n.size_median, 0.0, limits::MAX_PRICE)?,
            size_sigma: v.within("market.noise_traders.size_sigma", n.size_sigma, 0.0, limits::MAX_LOG_SIGMA)?,
            buy_probability: v.probability("market.noise_traders.buy_probability", n.buy_probability)?,
        },
        rivals: RivalSpec {
            probability: v.probability("market.rivals.probability", r.probability)?,
            min_profit_quote: v.quote_units("market.rivals.min_profit", r.min_profit, limits::MAX_PRICE)?,
            priority_fee_median_gwei: v.within(
                "market.rivals.priority_fee_median_gwei",
                r.priority_fee_median_gwei,
                0.0,
                limits::MAX_GWEI,
            )?,
            priority_fee_sigma: v.within(
                "market.rivals.priority_fee_sigma",
                r.priority_fee_sigma,
                0.0,
                limits::MAX_LOG_SIGMA,
            )?,
        },
        chain,
        wallet_base: v.amount("account.wallet[0]", &s.account.wallet[0], Expect::Base)?,
        wallet_quote: v.amount("account.wallet[1]", &s.account.wallet[1], Expect::Quote)?,
        wallet_native: v.amount("account.gas", &s.account.gas, Expect::Native)?,
        micro: MicroArbSpec {
            enabled: m.enabled,
            min_profit_quote: (min_profit_usd * quote_scale).round() as u128,
            min_profit_ppm: (min_fraction * 1_000_000.0).round() as u64,
            max_position_base,
            max_concurrent_trades: m.max_concurrent_trades as usize,
            execution_timeout,
            latency_threshold,
            dex_slippage_bps: m.dex_slippage_bps,
            priority_fee_wei,
        },
        cross_dex: {
            let c = &s.strategies.cross_dex;
            let k = |f: &str| format!("strategies.cross_dex.{f}");
            v.int_within(&k("gas_estimate"), c.gas_estimate, 21_000, limits::MAX_TX_GAS)?;
            CrossDexSpec {
                enabled: c.enabled,
                min_profit_quote: v.quote_units(&k("min_profit_usd"), c.min_profit_usd.0, limits::MAX_PRICE)?,
                max_input_quote: v.amount(&k("max_input"), &c.max_input, Expect::Quote)?,
                priority_fee_wei: v.gwei(&k("priority_fee_gwei"), c.priority_fee_gwei, limits::MAX_GWEI)?,
                gas_estimate: c.gas_estimate,
            }
        },
        sandwich,
        mempool,
        liquidation,
        lending,
        safety,
        equity_sample: v.duration_within(
            "monitoring.equity_sample_interval",
            &mon.equity_sample_interval,
            limits::SECOND,
            limits::DAY,
        )?,
        chain_id,
        log_level: mon.log_level.clone(),
        keys: match &s.keys {
            None => KeysSpec::default(),
            Some(k) => KeysSpec {
                searcher: key_source(&v, "keys.searcher", k.searcher.as_ref(), base_dir)?,
                relay_auth: key_source(&v, "keys.relay_auth", k.relay_auth.as_ref(), base_dir)?,
            },
        },
        fork: match &s.fork {
            None => None,
            Some(f) => Some(super::fork::resolve(f, base_dir, &|key, message| v.err(key, message))?),
        },
        live: match &s.live {
            None => None,
            Some(l) => Some(super::live::resolve(l, base_dir, &|key, message| v.err(key, message))?),
        },
    };
    if let Some((key, message)) = super::budget::over_budget(&super::budget::estimate(&spec)) {
        return Err(v.err(&key, message));
    }
    Ok(spec)
}

fn mempool_spec(
    v: &V<'_>,
    m: &super::schema::MempoolConfig,
    dex: &[DexSpecRun],
    duration: SimTime,
) -> Result<MempoolSpec, ConfigError> {
    use crate::mempool::{SwapLimit, SwapMethod};
    let k = |f: &str| format!("mempool.{f}");
    if m.slippage_bps.is_empty() || m.slippage_bps.len() != m.slippage_weights.len() {
        return Err(v.err(&k("slippage_weights"), "needs one weight per slippage_bps entry (and at least one)"));
    }
    let total: f64 = m.slippage_weights.iter().sum();
    if total.is_nan() || total <= 0.0 || m.slippage_weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(v.err(&k("slippage_weights"), "weights must be >= 0 and not all zero"));
    }
    if m.slippage_bps.len() > 64 {
        return Err(v.err(&k("slippage_bps"), "at most 64 tolerances"));
    }
    if let Some(b) = m.slippage_bps.iter().find(|b| **b > 5_000) {
        return Err(v.err(&k("slippage_bps"), format!("{b} bps: a tolerance must be between 0 and 5000 bps")));
    }
    if m.pending.len() > limits::MAX_PENDING {
        return Err(v.err(&k("pending"), format!("at most {} listed transactions", limits::MAX_PENDING)));
    }
    let mut pending = Vec::new();
    for (i, p) in m.pending.iter().enumerate() {
        let pk = |f: &str| format!("mempool.pending[{i}].{f}");
        let pool = dex
            .iter()
            .position(|d| d.name == p.pool)
            .ok_or_else(|| v.err(&pk("pool"), format!("no [[market.dex]] pool named `{}`", p.pool)))?;
        let method = match p.method.as_str() {
            "swapExactTokensForTokens" => SwapMethod::ExactTokensForTokens,
            "swapTokensForExactTokens" => SwapMethod::TokensForExactTokens,
            "swapExactETHForTokens" => SwapMethod::ExactEthForTokens,
            "swapETHForExactTokens" => SwapMethod::EthForExactTokens,
            "swapExactTokensForETH" => SwapMethod::ExactTokensForEth,
            "swapTokensForExactETH" => SwapMethod::TokensForExactEth,
            other => {
                return Err(v.err(
                    &pk("method"),
                    format!("`{other}` is not a Router02 swap method (swapExactTokensForTokens, swapTokensForExactTokens, swapExactETHForTokens, swapETHForExactTokens, swapExactTokensForETH, swapTokensForExactETH)"),
                ));
            }
        };
        let sells_base = match method {
            SwapMethod::ExactEthForTokens | SwapMethod::EthForExactTokens => true,
            SwapMethod::ExactTokensForEth | SwapMethod::TokensForExactEth => false,
            _ => {
                let sell = p
                    .sell
                    .as_deref()
                    .ok_or_else(|| v.err(&pk("sell"), "token-for-token methods need `sell` (the token sold)"))?;
                let base = v.base_symbol.to_ascii_uppercase();
                match sell.to_ascii_uppercase() {
                    s if s == base || s == format!("W{base}") => true,
                    s if s == v.quote_symbol.to_ascii_uppercase() => false,
                    _ => return Err(v.err(&pk("sell"), format!("`{sell}` is neither W{base} nor {}", v.quote_symbol))),
                }
            }
        };
        let (in_unit, out_unit) =
            if sells_base { (Expect::Base, Expect::Quote) } else { (Expect::Quote, Expect::Base) };
        let need = |f: &str, val: &Option<String>, unit: Expect| -> Result<U256, ConfigError> {
            let t = val.as_deref().ok_or_else(|| v.err(&pk(f), format!("{} needs `{f}`", p.method)))?;
            Ok(U256::from(v.amount(&pk(f), t, unit)?))
        };
        let exact_in = matches!(
            method,
            SwapMethod::ExactTokensForTokens | SwapMethod::ExactEthForTokens | SwapMethod::ExactTokensForEth
        );
        let limit = if exact_in {
            SwapLimit::ExactIn {
                amount_in: need("amount_in", &p.amount_in, in_unit)?,
                min_out: need("amount_out_min", &p.amount_out_min, out_unit)?,
            }
        } else {
            SwapLimit::ExactOut {
                amount_out: need("amount_out", &p.amount_out, out_unit)?,
                max_in: need("amount_in_max", &p.amount_in_max, in_unit)?,
            }
        };
        pending.push(PendingSwapSpec {
            at: v.duration_within(&pk("at"), &p.at, 0, duration.saturating_sub(1))?,
            pool,
            method,
            sells_base,
            limit,
            sender: {
                check_venue_name(v, &pk("sender"), &p.sender)?;
                p.sender.clone()
            },
            priority_fee_wei: v.gwei(&pk("priority_fee_gwei"), p.priority_fee_gwei, limits::MAX_GWEI)?,
        });
    }
    Ok(MempoolSpec {
        victims_per_minute: v.within(
            &k("victims_per_minute"),
            m.victims_per_minute,
            0.0,
            limits::MAX_RATE_PER_MINUTE,
        )?,
        size_median_usd: v.within(&k("size_median_usd"), m.size_median_usd, 0.0, limits::MAX_PRICE)?,
        size_sigma: v.within(&k("size_sigma"), m.size_sigma, 0.0, limits::MAX_LOG_SIGMA)?,
        buy_probability: v.probability(&k("buy_probability"), m.buy_probability)?,
        exact_out_probability: v.probability(&k("exact_out_probability"), m.exact_out_probability)?,
        slippage: m.slippage_bps.iter().zip(&m.slippage_weights).map(|(b, w)| (*b, w / total)).collect(),
        priority_fee_median_gwei: v.within(
            &k("priority_fee_median_gwei"),
            m.priority_fee_median_gwei,
            0.0,
            limits::MAX_GWEI,
        )?,
        priority_fee_sigma: v.within(&k("priority_fee_sigma"), m.priority_fee_sigma, 0.0, limits::MAX_LOG_SIGMA)?,
        propagation: v.duration_within(&k("propagation"), &m.propagation, 0, limits::MINUTE)?,
        pending,
    })
}

/// WETH and the quote token (Aave v3 mainnet's parameters), then the declared reserves.
fn reserve_specs(
    v: &V<'_>,
    l: &super::schema::LendingConfig,
    dex: &[DexSpecRun],
) -> Result<Vec<ReserveSpec>, ConfigError> {
    use crate::market::lending::{QUOTE_PARAMS, WETH_PARAMS};
    let mut out = vec![
        ReserveSpec {
            symbol: format!("W{}", v.base_symbol),
            decimals: v.base_decimals as u8,
            ltv: WETH_PARAMS.0,
            liquidation_threshold: WETH_PARAMS.1,
            liquidation_bonus: WETH_PARAMS.2,
            price_usd: 0.0,
            beta_to_eth: None,
            pool: dex.first().map(|d| (d.reserve_base, d.reserve_quote)),
        },
        ReserveSpec {
            symbol: v.quote_symbol.clone(),
            decimals: v.quote_decimals as u8,
            ltv: QUOTE_PARAMS.0,
            liquidation_threshold: QUOTE_PARAMS.1,
            liquidation_bonus: QUOTE_PARAMS.2,
            price_usd: 1.0,
            beta_to_eth: None,
            pool: None,
        },
    ];
    for (i, r) in l.reserve.iter().enumerate() {
        let k = |f: &str| format!("lending.reserve[{i}].{f}");
        if out.iter().any(|x| x.symbol.eq_ignore_ascii_case(&r.symbol)) || r.symbol.eq_ignore_ascii_case(&v.base_symbol)
        {
            return Err(v.err(&k("symbol"), format!("reserve `{}` is declared twice", r.symbol)));
        }
        check_symbol(v, &k("symbol"), &r.symbol)?;
        v.int_within(&k("decimals"), u32::from(r.decimals), 0, limits::MAX_DECIMALS)?;
        if r.ltv_bps > r.liquidation_threshold_bps || r.liquidation_threshold_bps > 10_000 {
            return Err(v.err(&k("ltv_bps"), "need ltv_bps <= liquidation_threshold_bps <= 10000"));
        }
        // Aave caps the bonus so a liquidation never seizes more than the collateral backing the
        // debt: threshold × bonus <= 100 %, and the bonus itself at 25 %.
        v.int_within(&k("liquidation_bonus_bps"), r.liquidation_bonus_bps, 10_000, 12_500).map_err(|e| {
            ConfigError { message: format!("{} (it is 10000 + the bonus, e.g. 10500 for 5 %)", e.message), ..e }
        })?;
        if u32::from(r.liquidation_threshold_bps) * u32::from(r.liquidation_bonus_bps) > 10_000 * 10_000 {
            return Err(v.err(
                &k("liquidation_bonus_bps"),
                "liquidation_threshold_bps × liquidation_bonus_bps must be at most 100 % (Aave's rule)",
            ));
        }
        if !(r.price.is_finite() && r.price > 0.0 && r.price <= limits::MAX_PRICE) {
            return Err(v.err(&k("price"), format!("must be a USD price above 0 and at most {}", limits::MAX_PRICE)));
        }
        let pool = match &r.pool {
            None => None,
            Some(p) if p.len() == 2 => {
                let token = reserve_amount(v, &k("pool"), &p[0], &out, Some(r))?;
                let quote = v.amount(&k("pool"), &p[1], Expect::Quote)?;
                if token.0 != usize::MAX || token.1.is_zero() || quote == 0 {
                    return Err(v.err(
                        &k("pool"),
                        format!("expected [\"<amount> {}\", \"<amount> {}\"], both > 0", r.symbol, v.quote_symbol),
                    ));
                }
                check_pool_reserves(v, &k("pool"), token.1, U256::from(quote))?;
                Some((token.1, U256::from(quote)))
            }
            Some(_) => return Err(v.err(&k("pool"), "expected two amounts: [token, quote]")),
        };
        if let Some(b) = r.beta_to_eth {
            v.within(&k("beta_to_eth"), b, -5.0, 5.0)?;
        }
        out.push(ReserveSpec {
            symbol: r.symbol.clone(),
            decimals: r.decimals,
            ltv: r.ltv_bps,
            liquidation_threshold: r.liquidation_threshold_bps,
            liquidation_bonus: r.liquidation_bonus_bps,
            price_usd: r.price,
            beta_to_eth: r.beta_to_eth,
            pool,
        });
    }
    Ok(out)
}

/// "<amount> <SYMBOL>" for one of `reserves` (or for `extra`, reported as index usize::MAX):
/// the reserve's index and the raw amount.
fn reserve_amount(
    v: &V<'_>,
    key: &str,
    text: &str,
    reserves: &[ReserveSpec],
    extra: Option<&super::schema::ReserveConfig>,
) -> Result<(usize, U256), ConfigError> {
    let known: Vec<&str> = reserves.iter().map(|r| r.symbol.as_str()).chain(extra.map(|r| r.symbol.as_str())).collect();
    let Some((num, unit)) = text.trim().split_once(char::is_whitespace) else {
        return Err(v.err(key, format!("`{text}` needs a unit (one of {})", known.join(", "))));
    };
    let unit = unit.trim();
    let hit = reserves
        .iter()
        .position(|r| r.symbol.eq_ignore_ascii_case(unit) || (r.symbol.eq_ignore_ascii_case(&format!("W{unit}"))))
        .map(|i| (i, u32::from(reserves[i].decimals)))
        .or_else(|| extra.filter(|r| r.symbol.eq_ignore_ascii_case(unit)).map(|r| (usize::MAX, u32::from(r.decimals))));
    let Some((i, decimals)) = hit else {
        return Err(v.err(key, format!("unknown unit `{unit}` in `{text}` (known: {})", known.join(", "))));
    };
    let raw = crate::core::amount::parse_decimal(num, decimals).map_err(|e| v.err(key, e.to_string()))?;
    if raw > limits::MAX_AMOUNT {
        return Err(
            v.err(key, format!("`{text}` is more than 2^112 - 1 raw units, the most any balance here may hold"))
        );
    }
    Ok((i, raw))
}

/// Balances per reserve index from amounts with reserve units.
fn reserve_balances(v: &V<'_>, key: &str, items: &[&str], reserves: &[ReserveSpec]) -> Result<Vec<U256>, ConfigError> {
    let mut out = vec![U256::ZERO; reserves.len()];
    for t in items {
        let (i, raw) = reserve_amount(v, key, t, reserves, None)?;
        out[i] += raw;
        if out[i] > limits::MAX_AMOUNT {
            return Err(
                v.err(key, format!("the {} amounts add up to more than 2^112 - 1 raw units", reserves[i].symbol))
            );
        }
    }
    Ok(out)
}

/// The lending replay CSV (see `LendingReplayConfig`): lines starting with `#` are notes; every
/// column after `timestamp,block` names a reserve (`price_SYM` in USD, `collateral_SYM` and
/// `debt_SYM` raw); rows strictly increasing in time.
fn read_lending_replay(
    v: &V<'_>,
    key: &str,
    path: &Path,
    shown: &str,
    reserves: &[ReserveSpec],
) -> Result<Vec<ReplayRow>, ConfigError> {
    enum Col {
        Price(usize),
        Collateral(usize),
        Debt(usize),
    }
    let text = limits::read_input_file(path).map_err(|e| v.err(key, format!("`{shown}` {e}")))?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((hi, header)) = lines.next() else {
        return Err(v.err(key, format!("`{shown}` is empty")));
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    if names.len() < 3 || names[0] != "timestamp" || names[1] != "block" {
        return Err(v.err(key, format!("{shown}:{}: the header must start with `timestamp,block`", hi + 1)));
    }
    let mut cols = Vec::new();
    for n in &names[2..] {
        let (kind, sym) = n.split_once('_').unwrap_or((n, ""));
        let idx = reserves.iter().position(|r| r.symbol.eq_ignore_ascii_case(sym)).ok_or_else(|| {
            v.err(
                key,
                format!("{shown}:{}: column `{n}` names no reserve of the scenario (`[[lending.reserve]]`)", hi + 1),
            )
        })?;
        cols.push(match kind {
            "price" => Col::Price(idx),
            "collateral" => Col::Collateral(idx),
            "debt" => Col::Debt(idx),
            _ => {
                return Err(v.err(
                    key,
                    format!("{shown}:{}: column `{n}` is not price_, collateral_ or debt_<SYMBOL>", hi + 1),
                ));
            }
        });
    }
    let mut rows: Vec<ReplayRow> = Vec::new();
    let mut first: Option<u64> = None;
    for (i, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = |what: String| v.err(key, format!("{shown}:{}: {what}", i + 1));
        if f.len() != names.len() {
            return Err(bad(format!("{} fields, the header has {}", f.len(), names.len())));
        }
        let ts: u64 = f[0].parse().map_err(|_| bad(format!("timestamp `{}` is not whole seconds", f[0])))?;
        let block: u64 = f[1].parse().map_err(|_| bad(format!("block `{}` is not a number", f[1])))?;
        let t0 = *first.get_or_insert(ts);
        let at = ts
            .checked_sub(t0)
            .ok_or_else(|| bad("timestamps must increase".into()))?
            .checked_mul(NANOS_PER_SEC)
            .filter(|t| *t <= limits::MAX_DURATION)
            .ok_or_else(|| bad("the rows span more than the longest run (400 days)".into()))?;
        if rows.last().is_some_and(|r| r.at >= at) {
            return Err(bad("timestamps must strictly increase".into()));
        }
        let mut row = ReplayRow {
            at,
            block,
            prices: Vec::new(),
            collateral: vec![U256::ZERO; reserves.len()],
            debt: vec![U256::ZERO; reserves.len()],
        };
        for (c, (col, field)) in cols.iter().zip(&f[2..]).enumerate() {
            let name = names[c + 2];
            match col {
                Col::Price(r) => {
                    let p = crate::core::amount::parse_decimal(field, 8)
                        .map_err(|e| bad(format!("`{name}`: {e}")))?
                        .saturating_to::<u128>();
                    // 8-decimal USD, as Chainlink posts: above 0 and at most MAX_PRICE.
                    if p == 0 || p > (limits::MAX_PRICE as u128) * 100_000_000 {
                        return Err(bad(format!("`{name}` must be above 0 and at most {} USD", limits::MAX_PRICE)));
                    }
                    row.prices.push((*r, p));
                }
                Col::Collateral(r) | Col::Debt(r) => {
                    let raw =
                        crate::core::amount::parse_decimal(field, 0).map_err(|e| bad(format!("`{name}`: {e}")))?;
                    if raw > limits::MAX_AMOUNT {
                        return Err(bad(format!("`{name}` is more than 2^112 - 1 raw units")));
                    }
                    if matches!(col, Col::Collateral(_)) { row.collateral[*r] = raw } else { row.debt[*r] = raw }
                }
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(v.err(key, format!("`{shown}` has no rows")));
    }
    Ok(rows)
}

fn read_replay(v: &V<'_>, key: &str, path: &Path, shown: &str) -> Result<Vec<(SimTime, f64)>, ConfigError> {
    let text = limits::read_input_file(path).map_err(|e| v.err(key, format!("`{shown}` {e}")))?;
    let mut points = Vec::new();
    let mut first_ts: Option<u64> = None;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if i == 0 && line.trim() == "timestamp_ms,price" {
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| v.err(key, format!("{shown}:{line_no}: {what} (expected `timestamp_ms,price`)"));
        let (ts, px) = line.split_once(',').ok_or_else(|| bad("not two columns"))?;
        let ts: u64 = ts.trim().parse().map_err(|_| bad("bad timestamp"))?;
        let px: f64 = px.trim().parse().map_err(|_| bad("bad price"))?;
        if !(px.is_finite() && px > 0.0 && px <= limits::MAX_PRICE) {
            return Err(bad("price must be above 0 and at most 1e9"));
        }
        let t0 = *first_ts.get_or_insert(ts);
        let t = ts
            .checked_sub(t0)
            .ok_or_else(|| bad("timestamps must increase"))?
            .checked_mul(NANOS_PER_MS)
            .filter(|t| *t <= limits::MAX_DURATION)
            .ok_or_else(|| bad("the prices span more than the longest run (400 days)"))?;
        if points.last().is_some_and(|(last, _)| *last >= t) {
            return Err(bad("timestamps must strictly increase"));
        }
        points.push((t, px));
    }
    if points.len() < 2 {
        return Err(v.err(key, format!("`{shown}` needs at least two price points")));
    }
    Ok(points)
}
