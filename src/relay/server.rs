//! The relay over HTTP: a listener thread that serves JSON-RPC `POST`s one connection at a time
//! against the shared `Relay`. The engine (or the CLI's block timer) builds blocks on the same relay.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::builder::Relay;
use super::http::{self, HttpError};
use super::rpc::{Response, code};

/// The relay's state is touched by the HTTP thread and by whoever builds blocks; one lock, held
/// for one request or one block.
pub type SharedRelay = Arc<Mutex<Relay>>;

pub struct RelayServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RelayServer {
    /// Binds `addr` (port 0 picks a free one) and serves until `stop` or drop.
    pub fn start(relay: SharedRelay, addr: SocketAddr) -> std::io::Result<RelayServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("xcrack-relay".into()).spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                match conn {
                    Ok(mut s) => {
                        if let Err(e) = serve(&relay, &mut s) {
                            tracing::debug!(target: "xcrack::relay", error = %e, "connection dropped");
                        }
                    }
                    Err(e) => tracing::warn!(target: "xcrack::relay", error = %e, "accept failed"),
                }
            }
        })?;
        Ok(RelayServer { addr, stop, thread: Some(thread) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and joins the listener thread.
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept.
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            let _ = t.join();
        }
    }
}

impl Drop for RelayServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(relay: &SharedRelay, s: &mut TcpStream) -> Result<(), HttpError> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let req = match http::read_request(s) {
        Ok(r) => r,
        Err(HttpError::TooLarge(n)) => {
            let body = json(&Response::err(
                serde_json::Value::Null,
                code::INVALID_REQUEST,
                format!("body of {n} bytes is too large"),
            ));
            return http::write_response(s, 413, &body);
        }
        Err(e) => return Err(e),
    };
    if req.method != "POST" {
        let body = json(&Response::err(serde_json::Value::Null, code::INVALID_REQUEST, "use POST"));
        return http::write_response(s, 405, &body);
    }
    let response = {
        let mut r = relay.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        r.handle(&req.body, req.header("x-flashbots-signature"))
    };
    http::write_response(s, 200, &json(&response))
}

fn json(r: &Response) -> Vec<u8> {
    serde_json::to_vec(r).unwrap_or_else(|_| b"{}".to_vec())
}
