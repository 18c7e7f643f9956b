//! `[fork]`: where fork mode reads real chain state (node, block, how many blocks) and which of the
//! chain's contracts the strategies trade on (Uniswap-V2-compatible pairs by address).

use alloy_primitives::{Address, B256};
use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkConfig {
    /// A node's HTTP JSON-RPC endpoint (`--rpc` overrides it).
    #[serde(default)]
    pub rpc_url: Option<String>,
    /// A recording of an earlier run (`--record`), answered offline instead of a node: relative to
    /// the file that names it. `--rpc` or `--replay` on the command line take precedence.
    #[serde(default)]
    pub replay: Option<String>,
    /// A directory of state caches, one file per pinned block named by chain id, block number and
    /// block hash (`--cache`): a second run over the same blocks reads no state from the node.
    #[serde(default)]
    pub cache_dir: Option<String>,
    /// The pinned block (`--block`); absent: the node's latest block but `blocks`.
    #[serde(default)]
    pub block: Option<u64>,
    /// The pinned block's hash, when known: a node that has another block there is refused.
    #[serde(default)]
    pub block_hash: Option<String>,
    /// One request's deadline (connect, send, answer), and how often a request that timed out, was
    /// refused or rate-limited (HTTP 429, 502-504) is sent in all, with doubling backoff from 200 ms.
    #[serde(default = "ten_seconds")]
    pub timeout: String,
    #[serde(default = "four")]
    pub attempts: u32,
    /// Blocks to run after the pin (`--blocks`).
    #[serde(default = "one")]
    pub blocks: u64,
    /// Where pending transactions come from: "next_block" (block N+k+1's transactions offered as
    /// pending at N+k, in their order), "txpool" (the node's pending pool now, `txpool_content`,
    /// over its latest block: one block, nothing to compare with yet) or "subscribe" (what the
    /// node announces over `eth_subscribe("newPendingTransactions")` during `listen`, over its
    /// latest block then: a ws:// or wss:// node).
    #[serde(default = "next_block")]
    pub pending: String,
    /// How long the "subscribe" flow listens.
    #[serde(default = "twelve_seconds")]
    pub listen: String,
    /// The wrapped native token and the quote token the pools pair it with.
    pub weth: String,
    pub quote: String,
    /// The quote token's `balanceOf` mapping slot, for funding our dry-run wallet; absent: found by
    /// probing slots 0..=100 for the one `balanceOf` reads.
    #[serde(default)]
    pub quote_balance_slot: Option<u64>,
    pub pools: Vec<ForkPoolConfig>,
    /// The lending market the liquidation strategy watches on the fork.
    #[serde(default)]
    pub lending: Option<ForkLendingConfig>,
    /// Builders whose own request for each would-be bundle goes into bundles.jsonl (exactly what
    /// would have been sent: "flashbots", "titan", "bloxroute"), signed by `[keys] relay_auth`.
    #[serde(default)]
    pub builders: Vec<String>,
    /// The CEX venues' books (`[market.cex.*]` names them and sets their fees, tick, lot, latencies
    /// and balances), recorded: a CSV of `unix_ms,venue,side,price,size` rows, one per level, best
    /// first; the rows of one `unix_ms` and venue are that venue's book from then on (relative
    /// to the file that names it). The micro-arbitrage strategy trades the pools against them.
    #[serde(default)]
    pub cex_quotes: Option<String>,
}

/// `[fork.lending]`: a pool with Aave v3's liquidation ABI (`liquidationCall`, `LiquidationCall`,
/// `Supply`/`Borrow` events) and xcrack's `LendingPool` storage layout (`reservesList`, `reserves`,
/// `collateralOf`/`debtOf` mappings; checked against its getters at the pin), its oracle found
/// through `oracle()`. Borrowers: listed, or every `onBehalfOf` of its Supply and Borrow events
/// from `borrowers_from_block` to the pin, or both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkLendingConfig {
    pub pool: String,
    #[serde(default)]
    pub borrowers: Vec<String>,
    #[serde(default)]
    pub borrowers_from_block: Option<u64>,
    #[serde(default = "thousand")]
    pub max_borrowers: usize,
}

fn thousand() -> usize {
    1000
}

fn one() -> u64 {
    1
}

fn twelve_seconds() -> String {
    "12s".into()
}

fn ten_seconds() -> String {
    "10s".into()
}

fn four() -> u32 {
    4
}

fn next_block() -> String {
    "next_block".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkPoolConfig {
    pub name: String,
    /// The Router02 victims call (their calldata is decoded against it).
    pub router: String,
    /// The pair: reserves are read from it (`getReserves`) and our bundles swap on it directly.
    #[serde(default)]
    pub pair: Option<String>,
    /// Or the factory whose `getPair(weth, quote)` at the pinned block is the pair.
    #[serde(default)]
    pub factory: Option<String>,
    #[serde(default = "thirty")]
    pub fee_bps: u32,
    /// Gas a router swap of ours on this pool uses, as the micro-arbitrage strategy prices it (the
    /// simulation then says what it really used).
    #[serde(default = "router_swap_gas")]
    pub swap_gas: u64,
}

/// Genuine Router02 `swapExactTokensForTokens` / `swapTokensForExactTokens` on a WETH/USDC pair,
/// touched cold: 131,951 measured on anvil for an exact-out buy (tests/fork_cex_dex.rs).
fn router_swap_gas() -> u64 {
    ROUTER_SWAP_GAS
}

pub const ROUTER_SWAP_GAS: u64 = 135_000;

fn thirty() -> u32 {
    30
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingFlow {
    /// Block N+k+1's transactions offered as pending at N+k, in their order.
    NextBlock,
    /// The node's pending pool over its latest block, in builder order (tip, then each sender's
    /// nonces).
    Txpool,
    /// The transactions the node announces over a subscription for this long, in arrival order,
    /// over its latest block when the window closes.
    Subscribe(std::time::Duration),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkPool {
    pub name: String,
    pub router: Address,
    /// The pair, or the factory that knows it.
    pub pair: PairOf,
    pub fee_bps: u32,
    pub swap_gas: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairOf {
    Pair(Address),
    Factory(Address),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkSpec {
    pub rpc_url: Option<String>,
    pub replay: Option<std::path::PathBuf>,
    pub cache_dir: Option<std::path::PathBuf>,
    pub timeout: std::time::Duration,
    pub attempts: u32,
    pub block: Option<u64>,
    pub block_hash: Option<B256>,
    pub blocks: u64,
    pub pending: PendingFlow,
    pub weth: Address,
    pub quote: Address,
    pub quote_balance_slot: Option<u64>,
    pub pools: Vec<ForkPool>,
    pub lending: Option<ForkLending>,
    pub builders: Vec<crate::relay::builders::Builder>,
    pub cex_quotes: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkLending {
    pub pool: Address,
    pub borrowers: Vec<Address>,
    /// Scan the pool's Supply and Borrow events from this block to the pin.
    pub events_from: Option<u64>,
    pub max_borrowers: usize,
}

/// Most borrowers one run watches (each is two storage reads per reserve per pin).
pub const MAX_FORK_BORROWERS: usize = 100_000;

/// Most blocks one fork run walks (each is a pin, a batch of reads and its transactions).
pub const MAX_FORK_BLOCKS: u64 = 10_000;
pub const MAX_FORK_POOLS: usize = 64;

/// Validates `[fork]`; `err(key, message)` names the key's file and line.
pub fn resolve(
    f: &ForkConfig,
    base_dir: &std::path::Path,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<ForkSpec, ConfigError> {
    let address = |key: &str, text: &str| -> Result<Address, ConfigError> {
        text.trim().parse::<Address>().map_err(|_| err(key, format!("`{text}` is not a 0x-prefixed 20-byte address")))
    };
    if f.blocks == 0 || f.blocks > MAX_FORK_BLOCKS {
        return Err(err("fork.blocks", format!("must be between 1 and {MAX_FORK_BLOCKS}, got {}", f.blocks)));
    }
    let pending = match f.pending.as_str() {
        "next_block" => PendingFlow::NextBlock,
        "txpool" => PendingFlow::Txpool,
        "subscribe" => {
            let listen = crate::core::parse_duration(&f.listen)
                .ok()
                .filter(|t| (crate::core::NANOS_PER_MS * 100..=600 * crate::core::NANOS_PER_SEC).contains(t))
                .ok_or_else(|| {
                    err("fork.listen", format!("`{}` is not a duration between 100ms and 600s", f.listen))
                })?;
            PendingFlow::Subscribe(std::time::Duration::from_nanos(listen))
        }
        other => {
            return Err(err(
                "fork.pending",
                format!("unknown pending flow `{other}` (\"next_block\", \"txpool\" or \"subscribe\")"),
            ));
        }
    };
    if pending != PendingFlow::NextBlock && f.blocks != 1 {
        return Err(err("fork.blocks", format!("the {} flow looks at the next block only: 1", f.pending)));
    }
    if let (PendingFlow::Subscribe(_), Some(u)) = (pending, &f.rpc_url)
        && !(u.starts_with("ws://") || u.starts_with("wss://"))
    {
        return Err(err("fork.rpc_url", "the subscribe flow needs a ws:// or wss:// node".into()));
    }
    let block_hash = match &f.block_hash {
        None => None,
        Some(h) => {
            Some(h.trim().parse::<B256>().map_err(|_| err("fork.block_hash", format!("`{h}` is not a 32-byte hash")))?)
        }
    };
    if let Some(u) = &f.rpc_url {
        crate::chain::rpc::Endpoint::check(u).map_err(|m| err("fork.rpc_url", m))?;
    }
    let timeout = crate::core::parse_duration(&f.timeout)
        .ok()
        .filter(|t| (crate::core::NANOS_PER_MS..=600 * crate::core::NANOS_PER_SEC).contains(t))
        .ok_or_else(|| err("fork.timeout", format!("`{}` is not a duration between 1ms and 600s", f.timeout)))?;
    if !(1..=10).contains(&f.attempts) {
        return Err(err("fork.attempts", format!("must be between 1 and 10, got {}", f.attempts)));
    }
    let weth = address("fork.weth", &f.weth)?;
    let quote = address("fork.quote", &f.quote)?;
    if weth == quote {
        return Err(err("fork.quote", "the quote token cannot be the wrapped native token".into()));
    }
    if f.pools.is_empty() || f.pools.len() > MAX_FORK_POOLS {
        return Err(err("fork.pools", format!("declare 1 to {MAX_FORK_POOLS} pools ([[fork.pools]])")));
    }
    let mut pools = Vec::with_capacity(f.pools.len());
    for (i, p) in f.pools.iter().enumerate() {
        let k = |field: &str| format!("fork.pools[{i}].{field}");
        if p.fee_bps >= 10_000 {
            return Err(err(&k("fee_bps"), format!("must be below 10000, got {}", p.fee_bps)));
        }
        let pair = match (&p.pair, &p.factory) {
            (Some(pair), None) => PairOf::Pair(address(&k("pair"), pair)?),
            (None, Some(f)) => PairOf::Factory(address(&k("factory"), f)?),
            _ => {
                return Err(err(
                    &k("pair"),
                    "give the pair's address or its factory's (`factory`), one of them".into(),
                ));
            }
        };
        if !(21_000..=10_000_000).contains(&p.swap_gas) {
            return Err(err(&k("swap_gas"), format!("must be between 21000 and 10000000, got {}", p.swap_gas)));
        }
        let pool = ForkPool {
            name: p.name.clone(),
            router: address(&k("router"), &p.router)?,
            pair,
            fee_bps: p.fee_bps,
            swap_gas: p.swap_gas,
        };
        if pools.iter().any(|q: &ForkPool| q.name == pool.name || q.pair == pool.pair) {
            return Err(err(&k("name"), format!("pool `{}` (or its pair) is declared twice", p.name)));
        }
        pools.push(pool);
    }
    let lending = match &f.lending {
        None => None,
        Some(l) => Some(resolve_lending(l, &address, err)?),
    };
    let mut builders = Vec::with_capacity(f.builders.len());
    for (i, name) in f.builders.iter().enumerate() {
        let b = crate::relay::builders::Builder::parse(name).ok_or_else(|| {
            let known: Vec<&str> = crate::relay::builders::Builder::ALL.iter().map(|b| b.name()).collect();
            err(&format!("fork.builders[{i}]"), format!("unknown builder `{name}` (one of {})", known.join(", ")))
        })?;
        if builders.contains(&b) {
            return Err(err(&format!("fork.builders[{i}]"), format!("`{name}` is listed twice")));
        }
        builders.push(b);
    }
    Ok(ForkSpec {
        rpc_url: f.rpc_url.clone(),
        replay: f.replay.as_ref().map(|r| base_dir.join(r)),
        cache_dir: f.cache_dir.as_ref().map(|r| base_dir.join(r)),
        timeout: std::time::Duration::from_nanos(timeout),
        attempts: f.attempts,
        block: f.block,
        block_hash,
        blocks: f.blocks,
        pending,
        weth,
        quote,
        quote_balance_slot: f.quote_balance_slot,
        pools,
        lending,
        builders,
        cex_quotes: f.cex_quotes.as_ref().map(|r| base_dir.join(r)),
    })
}

fn resolve_lending(
    l: &ForkLendingConfig,
    address: &dyn Fn(&str, &str) -> Result<Address, ConfigError>,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<ForkLending, ConfigError> {
    if !(1..=MAX_FORK_BORROWERS).contains(&l.max_borrowers) {
        return Err(err(
            "fork.lending.max_borrowers",
            format!("must be between 1 and {MAX_FORK_BORROWERS}, got {}", l.max_borrowers),
        ));
    }
    if l.borrowers.is_empty() && l.borrowers_from_block.is_none() {
        return Err(err(
            "fork.lending.borrowers",
            "list the borrowers to watch, or give borrowers_from_block to read them from the pool's events".into(),
        ));
    }
    if l.borrowers.len() > l.max_borrowers {
        return Err(err(
            "fork.lending.borrowers",
            format!("lists {} borrowers, above max_borrowers = {}", l.borrowers.len(), l.max_borrowers),
        ));
    }
    let mut borrowers = Vec::with_capacity(l.borrowers.len());
    for (i, b) in l.borrowers.iter().enumerate() {
        let a = address(&format!("fork.lending.borrowers[{i}]"), b)?;
        if borrowers.contains(&a) {
            return Err(err(&format!("fork.lending.borrowers[{i}]"), format!("{a} is listed twice")));
        }
        borrowers.push(a);
    }
    Ok(ForkLending {
        pool: address("fork.lending.pool", &l.pool)?,
        borrowers,
        events_from: l.borrowers_from_block,
        max_borrowers: l.max_borrowers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> ForkConfig {
        let text = format!(
            "weth = \"0x{:040x}\"\nquote = \"0x{:040x}\"\n{extra}\n[[pools]]\nname = \"p\"\nrouter = \"0x{:040x}\"\npair = \"0x{:040x}\"\n",
            1, 2, 3, 4
        );
        toml::from_str(&text).unwrap()
    }

    fn resolved(f: &ForkConfig) -> Result<ForkSpec, String> {
        let err = |key: &str, message: String| {
            ConfigError::new(super::super::Origin { source: "f.toml".into(), line: 1 }, key, message)
        };
        resolve(f, std::path::Path::new("dir"), &err).map_err(|e| e.to_string())
    }

    #[test]
    fn every_bad_fork_key_is_named() {
        let ok = resolved(&config("replay = \"r.json\"")).unwrap();
        assert_eq!((ok.blocks, ok.attempts, ok.replay), (1, 4, Some(std::path::PathBuf::from("dir/r.json"))));
        for (extra, key) in [
            ("blocks = 0", "fork.blocks"),
            ("attempts = 0", "fork.attempts"),
            ("timeout = \"0s\"", "fork.timeout"),
            ("pending = \"mempool\"", "fork.pending"),
            ("pending = \"txpool\"\nblocks = 2", "fork.blocks"),
            ("block_hash = \"0x12\"", "fork.block_hash"),
            ("rpc_url = \"ftp://127.0.0.1:8546\"", "fork.rpc_url"),
            ("pending = \"subscribe\"\nrpc_url = \"http://127.0.0.1:8545\"", "fork.rpc_url"),
            ("pending = \"subscribe\"\nlisten = \"1ms\"", "fork.listen"),
            ("pending = \"subscribe\"\nblocks = 2", "fork.blocks"),
            ("builders = [\"flashbots\", \"beaver\"]", "fork.builders[1]"),
            ("builders = [\"titan\", \"titan\"]", "fork.builders[1]"),
        ] {
            let e = resolved(&config(extra)).unwrap_err();
            assert!(e.contains(key), "{extra}: {e}");
        }
        let mut both = config("");
        both.pools[0].factory = Some(format!("0x{:040x}", 5));
        assert!(resolved(&both).unwrap_err().contains("fork.pools[0].pair"));
        let mut neither = config("");
        neither.pools[0].pair = None;
        assert!(resolved(&neither).unwrap_err().contains("one of them"));
        let mut bad = config("");
        bad.pools[0].router = "0x12".into();
        assert!(resolved(&bad).unwrap_err().contains("fork.pools[0].router"));
        let mut same = config("");
        same.quote = same.weth.clone();
        assert!(resolved(&same).unwrap_err().contains("fork.quote"));
    }

    #[test]
    fn every_bad_lending_key_is_named() {
        let with = |lending: &str| {
            let mut f = config("");
            f.lending = Some(toml::from_str(lending).unwrap());
            resolved(&f)
        };
        let pool = format!("pool = \"0x{:040x}\"\n", 9);
        let ok = with(&format!("{pool}borrowers = [\"0x{:040x}\"]", 7)).unwrap();
        let l = ok.lending.unwrap();
        assert_eq!((l.borrowers.len(), l.events_from, l.max_borrowers), (1, None, 1000));
        for (lending, key) in [
            (pool.clone(), "fork.lending.borrowers"),
            ("pool = \"0x12\"\nborrowers_from_block = 0".to_string(), "fork.lending.pool"),
            (format!("{pool}borrowers_from_block = 0\nmax_borrowers = 0"), "fork.lending.max_borrowers"),
            (format!("{pool}borrowers = [\"0x1\"]"), "fork.lending.borrowers[0]"),
            (format!("{pool}borrowers = [\"0x{0:040x}\", \"0x{0:040x}\"]", 7), "fork.lending.borrowers[1]"),
            (
                format!("{pool}borrowers = [\"0x{:040x}\", \"0x{:040x}\"]\nmax_borrowers = 1", 7, 8),
                "fork.lending.borrowers",
            ),
        ] {
            let e = with(&lending).unwrap_err();
            assert!(e.contains(key), "{lending}: {e}");
        }
    }
}
