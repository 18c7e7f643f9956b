//! The documented bounds of a run: the largest amount any key may hold, the largest input file,
//! and the budget a run's estimated event count and memory must fit before it starts. The README's
//! "Limits" table lists these; a value outside them is refused with exit 2 naming the key.

use std::io::Read;
use std::path::Path;

use alloy_primitives::U256;

use crate::core::{NANOS_PER_MS, NANOS_PER_SEC, SimTime};

/// Largest raw amount of any balance, reserve, position or size: 2^112 − 1, Uniswap V2's reserve
/// limit. Products of two such amounts fit in 256 bits and sums of many fit in 128.
pub const MAX_AMOUNT: U256 = crate::market::amm::MAX_RESERVE;

/// Largest input file (price replay, lending replay): 64 MiB.
pub const MAX_INPUT_FILE_BYTES: u64 = 64 << 20;

/// Most events one run may schedule (estimated before it starts): ~15 minutes of a release build.
pub const MAX_EVENTS: u64 = 400_000_000;

/// Most memory one run may need for the state it keeps (estimated before it starts): 8 GiB.
pub const MAX_MEMORY_BYTES: u64 = 8 << 30;

/// Longest simulated run.
pub const MAX_DURATION: SimTime = 400 * 86_400 * NANOS_PER_SEC;

/// Largest number of generated borrowers.
pub const MAX_BORROWERS: u32 = 100_000;

/// Longest scenario name (it becomes a directory name with the seed appended).
pub const MAX_NAME_LEN: usize = 64;

/// Largest fee of a venue or pool, in bps (10 %).
pub const MAX_FEE_BPS: u32 = 1_000;

/// Largest log-sd of a lognormal draw (sizes, latencies, fees): e^(3·5) spans 3·10^6 either way.
pub const MAX_LOG_SIGMA: f64 = 5.0;

/// Most lots one book level may hold (the book keeps level sizes in lots as u64).
pub const MAX_LEVEL_LOTS: u64 = 1 << 48;

/// Largest gas of one transaction (a third of a mainnet block).
pub const MAX_TX_GAS: u64 = 10_000_000;

/// Largest price in quote units of any asset, and largest USD figure of any key.
pub const MAX_PRICE: f64 = 1e9;

/// Largest gas price a key may set, in gwei.
pub const MAX_GWEI: f64 = 100_000.0;

/// Most decimals of a token (real ones have 0–18; some 24).
pub const MAX_DECIMALS: u32 = 24;

/// Highest rate of generated swaps (noise traders, victims) per simulated minute: 100 a block.
pub const MAX_RATE_PER_MINUTE: f64 = 500.0;

/// Most exactly listed pending transactions in one scenario.
pub const MAX_PENDING: usize = 100_000;

pub const SECOND: SimTime = NANOS_PER_SEC;
pub const MINUTE: SimTime = 60 * NANOS_PER_SEC;
pub const HOUR: SimTime = 3600 * NANOS_PER_SEC;
pub const DAY: SimTime = 86_400 * NANOS_PER_SEC;
pub const MS: SimTime = NANOS_PER_MS;

/// A duration as a person writes it (`"250ms"`, `"12s"`, `"1h"`).
pub fn show_duration(ns: SimTime) -> String {
    for (unit, size) in [("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", SECOND), ("ms", MS), ("us", 1_000)] {
        if ns >= size && ns.is_multiple_of(size) {
            return format!("{}{unit}", ns / size);
        }
    }
    format!("{ns}ns")
}

/// Reads a regular file of at most `MAX_INPUT_FILE_BYTES` as UTF-8. Devices, pipes and directories
/// are refused before a byte is read (a `/dev/zero` price file would otherwise fill memory).
pub fn read_input_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".to_string());
    }
    if meta.len() > MAX_INPUT_FILE_BYTES {
        return Err(format!("is {} bytes; input files are limited to {MAX_INPUT_FILE_BYTES} bytes", meta.len()));
    }
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // A file that grows while read is still cut at the limit.
    f.take(MAX_INPUT_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_INPUT_FILE_BYTES {
        return Err(format!("is larger than {MAX_INPUT_FILE_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|e| format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

/// Whether `name` is a safe report-directory name: 1–64 of `[A-Za-z0-9._-]`, not starting with a
/// dot (so never `.`, `..` or hidden) — it cannot name a path outside `--out`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("must be 1 to {MAX_NAME_LEN} characters, got {}", name.len()));
    }
    if name.starts_with('.') {
        return Err(format!("`{}` must not start with a dot", name.escape_debug()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!(
            "`{}` contains {:?}; a name is a directory name: use letters, digits, `.`, `_` and `-`",
            name.escape_debug(),
            c
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_reports_root_are_refused() {
        for bad in ["", ".", "..", "../../victim", "/etc", "a/b", "a\\b", "a\0b", ".hidden", "ä", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["calm", "liquidation-cascade", "v1.2_b", &"x".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn durations_are_shown_in_their_largest_whole_unit() {
        assert_eq!(show_duration(250 * MS), "250ms");
        assert_eq!(show_duration(12 * SECOND), "12s");
        assert_eq!(show_duration(DAY), "1d");
        assert_eq!(show_duration(7), "7ns");
    }

    #[test]
    fn device_files_are_refused_before_reading() {
        assert!(read_input_file(Path::new("/dev/zero")).unwrap_err().contains("not a regular file"));
        assert!(read_input_file(Path::new("/")).is_err());
    }
}
