//! `xcrack signoff`: the config's backtests and fork dry run (offline, from the shipped recording)
//! with their criteria, the record, and the gate live mode will use (`--verify`): a passing record
//! of exactly these config bytes by this build, or one clear refusal.

mod common;

use std::path::Path;

fn config(dir: &Path, signoff: &str) -> std::path::PathBuf {
    let repo = common::repo();
    let text = format!(
        "[signoff]\nscenarios = [\"{}\"]\nfork = \"{}\"\n{signoff}\n",
        repo.join("scenarios/sandwich_fixture.toml").display(),
        repo.join("scenarios/fork/anvil_uniswap_v2.toml").display()
    );
    let file = dir.join("live.toml");
    std::fs::write(&file, text).unwrap();
    file
}

fn signoff(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let o = common::xcrack(&[&["signoff"], args].concat(), dir);
    (o.status.code(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn a_config_is_signed_off_by_its_runs_and_the_record_gates_exactly_its_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let file = config(tmp.path(), "min_net = 0.0");
    let f = file.to_str().unwrap();
    let (code, out) = signoff(tmp.path(), &["--config", f]);
    assert_eq!(code, Some(0), "{out}");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("live.signoff.json")).unwrap()).unwrap();
    assert_eq!(record["passed"], true, "{record}");
    assert_eq!(record["runs"].as_array().unwrap().len(), 2, "the backtest and the fork dry run");
    let criteria: Vec<&str> =
        record["checks"].as_array().unwrap().iter().map(|c| c["criterion"].as_str().unwrap()).collect();
    for want in [
        "net >= 0",
        "realised = simulated prediction",
        "wallet on the chain = books",
        "ran over the chain's state",
        "risk refusals <= 0",
    ] {
        assert!(criteria.iter().any(|c| c.starts_with(want)), "{want}: {criteria:?}");
    }
    let (code, out) = signoff(tmp.path(), &["--config", f, "--verify"]);
    assert_eq!(code, Some(0), "{out}");

    // One byte more in the config: its sign-off no longer holds.
    std::fs::write(&file, std::fs::read_to_string(&file).unwrap() + "# edited\n").unwrap();
    let (code, out) = signoff(tmp.path(), &["--config", f, "--verify"]);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("changed since its sign-off"), "{out}");

    // A criterion no run meets: the record says which, and it gates nothing.
    let file = config(tmp.path(), "min_net = 1000000000.0");
    let (code, out) = signoff(tmp.path(), &["--config", file.to_str().unwrap()]);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("FAIL") && out.contains("net >= 1000000000"), "{out}");
    let (code, out) = signoff(tmp.path(), &["--config", file.to_str().unwrap(), "--verify"]);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("the sign-off failed"), "{out}");

    // Never signed off, or no [signoff], or a key it does not know: one clear error.
    let other = tmp.path().join("other.toml");
    std::fs::write(&other, "[network]\nchain_id = 1\n").unwrap();
    let (code, out) = signoff(tmp.path(), &["--config", other.to_str().unwrap(), "--verify"]);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("no sign-off"), "{out}");
    let (code, out) = signoff(tmp.path(), &["--config", other.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("no [signoff] section"), "{out}");
    let typo = config(tmp.path(), "min_nett = 1.0");
    let (code, out) = signoff(tmp.path(), &["--config", typo.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("min_nett"), "{out}");
}

/// The shipped mainnet example is a valid config file, layers onto the mainnet fork scenario, holds
/// no key, and signs off offline as shipped.
#[test]
fn the_mainnet_example_config_is_valid_and_signs_off() {
    let file = common::repo().join("config/mainnet.example.toml");
    let scenario = common::repo().join("scenarios/fork/uniswap_v2_mainnet.toml");
    let sources = xcrack::config::Sources {
        config_file: Some(file.display().to_string()),
        scenario: Some((scenario.display().to_string(), std::fs::read_to_string(&scenario).unwrap())),
        env: Vec::new(),
        cli: Vec::new(),
    };
    let spec = xcrack::config::load(&sources, &common::repo().join("scenarios/fork")).unwrap();
    assert_eq!((spec.chain_id, spec.fork.map(|f| f.pools.len())), (1, Some(1)));
    assert_eq!(spec.cross_dex.gas_estimate, 160_000);
    let tmp = tempfile::tempdir().unwrap();
    let record = tmp.path().join("example.signoff.json");
    let (code, out) = signoff(tmp.path(), &["--config", file.to_str().unwrap(), "--record", record.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let text = std::fs::read_to_string(&file).unwrap();
    let quoted = text.lines().filter_map(|l| l.split('"').nth(1));
    assert!(!quoted.into_iter().any(xcrack::chain::keys::looks_like_a_key), "no key in it");
}

/// One config file serves fork mode and backtests: a `[fork]` only it sets is fork mode's and a
/// backtest leaves it out; a scenario's own `[fork]` is still refused by name.
#[test]
fn a_config_files_fork_section_is_left_out_of_backtests() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("with-fork.toml");
    std::fs::write(
        &cfg,
        "[fork]\nrpc_url = \"http://127.0.0.1:1\"\nweth = \"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\"\n\
         quote = \"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48\"\n\n[[fork.pools]]\nname = \"p\"\n\
         router = \"0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D\"\npair = \"0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc\"\n",
    )
    .unwrap();
    let fixture = common::scenario("sandwich_fixture.toml");
    let out = tmp.path().join("out");
    let o = common::xcrack(
        &["backtest", &fixture, "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let forked = common::scenario("fork/anvil_uniswap_v2.toml");
    let o = common::xcrack(&["backtest", &forked, "--out", out.to_str().unwrap(), "--quiet"], tmp.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("has a [fork] section"));
}
