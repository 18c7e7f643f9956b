//! What the CLI tests share: the binary under test, run with a clean environment.
// Each test crate includes this module and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_xcrack");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `xcrack args…` in `cwd` without RUST_LOG or XCRACK_* from the test's environment.
pub fn xcrack(args: &[&str], cwd: &Path) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(cwd).env_remove("RUST_LOG");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("XCRACK_")) {
        cmd.env_remove(k);
    }
    cmd.output().expect("run xcrack")
}

pub fn scenario(name: &str) -> String {
    repo().join("scenarios").join(name).display().to_string()
}

/// A shipped scenario resolved with `sets` (`key`, `value`) as `--set` overrides.
pub fn spec(name: &str, sets: &[(&str, &str)]) -> xcrack::config::RunSpec {
    let file = format!("scenarios/{name}");
    let text = std::fs::read_to_string(repo().join(&file)).unwrap();
    let cli = sets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let sources = xcrack::config::Sources { config_file: None, scenario: Some((file, text)), env: Vec::new(), cli };
    xcrack::config::load(&sources, Path::new("scenarios")).unwrap()
}
pub mod anvil;
pub mod uniswap;

/// A report directory's files: (name, bytes), by name.
pub type Files = Vec<(String, Vec<u8>)>;

pub fn files(dir: &Path) -> Files {
    let mut out: Files = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    out.sort();
    out
}

/// `xcrack fork SCENARIO --out <cwd>/out --quiet` (extra arguments after): it must succeed; the
/// one report directory it wrote.
pub fn fork_report(scenario: &str, cwd: &Path, out: &str, extra: &[&str]) -> PathBuf {
    let out = cwd.join(out);
    let mut args = vec!["fork", scenario, "--out", out.to_str().unwrap(), "--quiet"];
    args.extend_from_slice(extra);
    let o = xcrack(&args, cwd);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path()
}

/// The run spec of scenario text `text` (named `name`, relative paths from `dir`); it must load.
pub fn spec_of(name: &str, text: &str, dir: &Path) -> xcrack::config::RunSpec {
    let sources = xcrack::config::Sources {
        config_file: None,
        scenario: Some((name.to_string(), text.to_string())),
        env: Vec::new(),
        cli: Vec::new(),
    };
    xcrack::config::load(&sources, dir).unwrap()
}

/// `xcrack fork FILE --rpc URL --record REC` into a throwaway report directory: it must succeed
/// (how the shipped fork scenarios' recordings are written).
pub fn record_fork(file: &Path, url: &str, rec: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "fork",
        file.to_str().unwrap(),
        "--rpc",
        url,
        "--record",
        rec.to_str().unwrap(),
        "--out",
        tmp.path().to_str().unwrap(),
    ];
    let o = xcrack(&args, tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `GET path` on `addr` over loopback HTTP/1.1 (hyper): the status and the body as text.
#[allow(dead_code)]
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use http_body_util::BodyExt;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header("host", addr.to_string())
            .body(http_body_util::Full::new(hyper::body::Bytes::new()))
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}
