//! How the relay's HTTP side reaches a chain it does not own. The chain lives with its owner (a
//! backtest world on the driver's thread, the CLI relay's block loop, a test): `eth_callBundle`
//! requests travel to the owner through a channel and come back on a oneshot, and the owner
//! answers them between its own steps. Nothing about the chain is shared or locked.

use std::sync::mpsc;
use std::time::Duration;

use revm::database::DatabaseRef;
use serde_json::Value;
use tokio::sync::oneshot;

use super::builder::{CallRequest, simulate_call};
use crate::chain::SimChain;

/// How long an `eth_callBundle` waits for the chain's owner before the relay answers with an error.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub type CallResult = Result<Value, (i64, String)>;

pub struct CallJob {
    pub call: CallRequest,
    reply: oneshot::Sender<CallResult>,
}

/// The sending side, held by the relay server.
#[derive(Clone)]
pub struct ChainPort(mpsc::Sender<CallJob>);

/// The receiving side, held by the chain's owner.
pub struct ChainInbox(mpsc::Receiver<CallJob>);

pub fn chain_port() -> (ChainPort, ChainInbox) {
    let (tx, rx) = mpsc::channel();
    (ChainPort(tx), ChainInbox(rx))
}

impl ChainPort {
    /// Hands `call` to the chain's owner; the receiver yields its result. `None` when the owner is
    /// gone (its inbox dropped).
    pub fn send(&self, call: CallRequest) -> Option<oneshot::Receiver<CallResult>> {
        let (reply, answer) = oneshot::channel();
        self.0.send(CallJob { call, reply }).ok().map(|()| answer)
    }
}

impl ChainInbox {
    /// Answers every waiting simulation on `chain` without blocking; how many were answered.
    pub fn serve<X: DatabaseRef>(&self, chain: &mut SimChain<X>) -> usize {
        let mut n = 0;
        while let Ok(job) = self.0.try_recv() {
            answer(chain, job);
            n += 1;
        }
        n
    }

    /// Waits up to `wait` for a first simulation, then answers all that are waiting.
    pub fn serve_for<X: DatabaseRef>(&self, chain: &mut SimChain<X>, wait: Duration) -> usize {
        match self.0.recv_timeout(wait) {
            Ok(job) => {
                answer(chain, job);
                1 + self.serve(chain)
            }
            Err(_) => 0,
        }
    }
}

fn answer<X: DatabaseRef>(chain: &mut SimChain<X>, job: CallJob) {
    // The asker may have timed out and gone; its answer is then dropped.
    let _ = job.reply.send(simulate_call(chain, &job.call));
}
