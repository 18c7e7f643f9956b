//! The liquidation cascade through the CLI: ETH falls 25 % across 300 leveraged borrowers. Every
//! liquidation happens below HF 1 and leaves the borrower above it (no position is liquidated twice
//! in one episode), every borrower left below HF 1 has no liquidation worth its gas, and the
//! report's P&L equals our on-chain balance change to the wei; two runs are byte-identical.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn run(out: &Path) -> (Value, String, Vec<u8>) {
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/liquidation_cascade.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_xcrack"))
        .args(["backtest", scenario.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = out.join("liquidation-cascade-5");
    let bytes = std::fs::read(dir.join("summary.json")).unwrap();
    (serde_json::from_slice(&bytes).unwrap(), std::fs::read_to_string(dir.join("liquidations.csv")).unwrap(), bytes)
}

#[test]
fn cascade_liquidates_every_profitable_position_and_reconciles_to_the_wei() {
    let d = tempfile::tempdir().unwrap();
    let (s, csv, bytes) = run(&d.path().join("a"));
    let wad: u128 = 1_000_000_000_000_000_000;
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (before, after, outcome) = (col("health_before"), col("health_after"), col("outcome"));
    let mut included = 0;
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert!(f[before].parse::<u128>().unwrap() < wad, "a healthy borrower was liquidated: {l}");
        if f[outcome] == "included" {
            included += 1;
            assert!(f[after].parse::<u128>().unwrap() >= wad, "left liquidatable after its liquidation: {l}");
        }
    }
    assert!(included > 100, "{included}");
    // The declared whale (2,000 WETH against 4 M USDC, HF 0.93 at the bottom) is among them.
    let whale = xcrack::chain::simchain::actor("lending/declared/whale").to_string();
    assert!(csv.contains(&whale), "the declared borrower was liquidated");
    assert_eq!(s["liquidations_by_outcome"]["included"], included);
    assert_eq!(s["unhealthy_at_end"], s["unhealthy_unprofitable_at_end"], "a profitable position was left");
    assert_eq!(s["bad_debt_raw"], "0");
    // P&L = on-chain change: quote gained is the gross exactly; ETH spent is gas plus bribes.
    assert_eq!(s["wallet_matches"], true);
    let n = |v: &Value| v.as_str().unwrap().parse::<u128>().unwrap();
    let (init, chain) = (&s["initial"], &s["on_chain"]);
    assert_eq!((n(&chain[1]) - n(&init[1])).to_string(), s["pnl"]["gross_raw"].as_str().unwrap());
    assert_eq!(n(&init[2]) - n(&chain[2]), n(&s["pnl"]["gas_wei"]) + n(&s["pnl"]["bribe_wei"]));
    let (_, _, again) = run(&d.path().join("b"));
    assert_eq!(bytes, again, "same seed, same report");
}
