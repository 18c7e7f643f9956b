//! Record and replay: every answer a run used, addressed by its request (method and canonical
//! parameters) with the chain id and pinned block hash; a replay answers offline and refuses any
//! other question.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use alloy_primitives::B256;
use serde_json::Value;

use super::{Call, Transport};
use crate::chain::fork::{ForkError, Pin};

/// One recorded answer.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecordedCall {
    pub method: String,
    pub params: Value,
    pub result: Value,
}

/// Every answer a run used, addressed by its request, with the chain and block it was read at:
/// what `--record` writes and `--replay` answers from.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recording {
    pub format: u32,
    pub chain_id: u64,
    pub block: u64,
    pub block_hash: B256,
    pub calls: Vec<RecordedCall>,
}

pub const RECORDING_FORMAT: u32 = 1;

impl Recording {
    pub fn load(path: &Path) -> Result<Self, ForkError> {
        let bad = |message: String| ForkError::Cache { path: path.to_path_buf(), message };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let r: Recording = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a recording: {e}")))?;
        if r.format != RECORDING_FORMAT {
            return Err(bad(format!("recording format {} (this xcrack reads {RECORDING_FORMAT})", r.format)));
        }
        Ok(r)
    }

    /// Writes the recording whole or not at all.
    pub fn save(&self, path: &Path) -> Result<(), ForkError> {
        let bad = |message: String| ForkError::Cache { path: path.to_path_buf(), message };
        let json = serde_json::to_vec_pretty(self).map_err(|e| bad(e.to_string()))?;
        let tmp = PathBuf::from(format!("{}.tmp{}", path.display(), std::process::id()));
        std::fs::write(&tmp, json).map_err(|e| bad(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            bad(e.to_string())
        })
    }
}

/// A transport that keeps every answer its inner transport gave. Clones share one log.
pub struct Recorder<T> {
    inner: Rc<T>,
    log: Rc<RefCell<BTreeMap<String, RecordedCall>>>,
}

impl<T> Clone for Recorder<T> {
    fn clone(&self) -> Self {
        Recorder { inner: self.inner.clone(), log: self.log.clone() }
    }
}

impl<T: Transport> Recorder<T> {
    pub fn new(inner: T) -> Self {
        Recorder { inner: Rc::new(inner), log: Rc::default() }
    }

    /// What was recorded, in request order (deterministic: sorted by method and parameters).
    pub fn recording(&self, pin: &Pin) -> Recording {
        Recording {
            format: RECORDING_FORMAT,
            chain_id: pin.chain_id,
            block: pin.number,
            block_hash: pin.hash,
            calls: self.log.borrow().values().cloned().collect(),
        }
    }

    /// The methods that reached the node (a dry run must show only reads).
    pub fn methods(&self) -> Vec<String> {
        let mut m: Vec<String> = self.log.borrow().values().map(|c| c.method.clone()).collect();
        m.dedup();
        m
    }
}

impl<T: Transport> Transport for Recorder<T> {
    fn send(&self, calls: &[Call]) -> Result<Vec<Value>, ForkError> {
        let out = self.inner.send(calls)?;
        let mut log = self.log.borrow_mut();
        for (c, r) in calls.iter().zip(&out) {
            log.insert(
                c.key(),
                RecordedCall { method: c.method.to_string(), params: c.params.clone(), result: r.clone() },
            );
        }
        Ok(out)
    }
    fn requests(&self) -> u64 {
        self.inner.requests()
    }
}

/// Answers from a recording, offline; a question the recorded run never asked is an error.
pub struct Replay {
    answers: BTreeMap<String, Value>,
    requests: Cell<u64>,
}

impl Replay {
    pub fn new(r: &Recording) -> Self {
        let answers = r.calls.iter().map(|c| (format!("{}{}", c.method, c.params), c.result.clone())).collect();
        Replay { answers, requests: Cell::new(0) }
    }
}

impl Transport for Replay {
    fn send(&self, calls: &[Call]) -> Result<Vec<Value>, ForkError> {
        self.requests.set(self.requests.get() + 1);
        calls
            .iter()
            .map(|c| self.answers.get(&c.key()).cloned().ok_or_else(|| ForkError::NotRecorded(c.key())))
            .collect()
    }
    fn requests(&self) -> u64 {
        self.requests.get()
    }
}
