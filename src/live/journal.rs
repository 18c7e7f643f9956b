//! Live mode's write-ahead journal (SQLite, WAL, `synchronous = FULL`): every bundle is written
//! — its raw transactions, their senders and nonces, its target block — and committed **before**
//! it is sent; what the relay answered after; what became of it at its block last. After a crash
//! (even `kill -9` between the send and the write after it) the journal knows every bundle that
//! may have reached a relay, so a restart never sends one twice: a bundle the journal holds is
//! refused by hash and target block, and the ones left `signed` (sent or not, no one knows) are
//! settled from the chain, never resent.
//!
//! `JournaledSink` puts the journal in front of any `BundleSink` (the relays over HTTPS). If the
//! journal cannot be written — disk full, file gone — the sink stops: every later bundle is
//! refused with the reason, so nothing is ever signed out without its record.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, Bytes};
use rusqlite::{Connection, OptionalExtension, params};

use crate::execution::bundle_manager::BundleSink;
use crate::relay::rpc::SendBundleParams;

#[derive(Debug, thiserror::Error)]
#[error("live journal {path}: {message}")]
pub struct LiveJournalError {
    pub path: PathBuf,
    pub message: String,
}

/// Where a journaled bundle stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Written, then (maybe) sent: the process stopped before the relay's answer was written.
    Signed,
    /// The relay took it (its answer written).
    Submitted,
    /// The relay refused it or could not be reached: not at the relay.
    SendFailed,
    /// Withdrawn (`eth_cancelBundle`) before its block.
    Cancelled,
    /// Settled against the chain at its target block.
    Included,
    NotIncluded,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Signed => "signed",
            State::Submitted => "submitted",
            State::SendFailed => "send_failed",
            State::Cancelled => "cancelled",
            State::Included => "included",
            State::NotIncluded => "not_included",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [State::Signed, State::Submitted, State::SendFailed, State::Cancelled, State::Included, State::NotIncluded]
            .into_iter()
            .find(|x| x.as_str() == s)
    }

    /// Still waiting for its block's verdict (it may be at a relay).
    pub fn open(self) -> bool {
        matches!(self, State::Signed | State::Submitted)
    }
}

/// One journaled bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub bundle_hash: B256,
    pub target_block: u64,
    pub replacement_uuid: Option<String>,
    pub txs: Vec<Bytes>,
    pub state: State,
    pub relay_answer: Option<String>,
}

/// What `begin` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    /// Written (row `seq`): it may be sent now.
    New(i64),
    /// The journal already holds this bundle for this block: it must not be sent again.
    Known(State),
}

pub struct LiveJournal {
    conn: Connection,
    path: PathBuf,
    /// Every commit synced (`synchronous = FULL`) but those `unsynced` says need not be.
    durable: bool,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bundles(
    seq INTEGER PRIMARY KEY,
    bundle_hash TEXT NOT NULL,
    target_block INTEGER NOT NULL,
    replacement_uuid TEXT,
    txs TEXT NOT NULL,
    state TEXT NOT NULL,
    relay_answer TEXT,
    settled_block INTEGER,
    UNIQUE(bundle_hash, target_block)
);
CREATE TABLE IF NOT EXISTS txs(
    hash TEXT PRIMARY KEY,
    bundle_seq INTEGER NOT NULL REFERENCES bundles(seq),
    sender TEXT NOT NULL,
    nonce INTEGER NOT NULL
);
";

/// The format of the files this version writes.
pub const FORMAT: &str = "xcrack-live-journal/1";

impl LiveJournal {
    /// Opens (or creates) the journal at `path`: WAL, every commit synced.
    pub fn open(path: &Path) -> Result<Self, LiveJournalError> {
        let err = |e: rusqlite::Error| LiveJournalError { path: path.to_path_buf(), message: e.to_string() };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;").map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        let format: Option<String> =
            conn.query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| r.get(0)).optional().map_err(err)?;
        match format.as_deref() {
            None => {
                conn.execute("INSERT INTO meta(key, value) VALUES ('format', ?1)", [FORMAT]).map_err(err)?;
            }
            Some(FORMAT) => {}
            Some(other) => {
                return Err(LiveJournalError {
                    path: path.to_path_buf(),
                    message: format!("written as `{other}`, this version reads `{FORMAT}`"),
                });
            }
        }
        Ok(LiveJournal { conn, path: path.to_path_buf(), durable: true })
    }

    /// Commits synced only at WAL checkpoints (`synchronous = NORMAL`): still whole after a crash
    /// of the process (`kill -9`), but the last commits may be lost to a power cut or a kernel
    /// crash. Live mode uses the default, `FULL` (see README "Going live" for what each costs).
    pub fn relaxed(mut self) -> Result<Self, LiveJournalError> {
        self.conn.execute_batch("PRAGMA synchronous=NORMAL;").map_err(|e| self.err(e))?;
        self.durable = false;
        Ok(self)
    }

    /// Runs `write` committed without waiting for the disk (`synchronous = NORMAL` for it): for
    /// what follows a send (the relay's answer, the chain's verdict). Losing it to a power cut
    /// leaves the bundle `signed`, still open and never resent, for the chain to settle; after a
    /// `kill -9` it is whole; the next synced commit makes it durable too.
    fn unsynced<T>(&mut self, write: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, LiveJournalError> {
        if !self.durable {
            return write(&self.conn).map_err(|e| self.err(e));
        }
        self.conn.execute_batch("PRAGMA synchronous=NORMAL;").map_err(|e| self.err(e))?;
        let r = write(&self.conn).map_err(|e| self.err(e));
        self.conn.execute_batch("PRAGMA synchronous=FULL;").map_err(|e| self.err(e))?;
        r
    }

    fn err(&self, e: impl std::fmt::Display) -> LiveJournalError {
        LiveJournalError { path: self.path.clone(), message: e.to_string() }
    }

    /// Writes `p` (hash `hash`; its transactions' senders and nonces) and commits, before it is
    /// sent; or says the journal already holds it for that block.
    pub fn begin(
        &mut self,
        hash: B256,
        p: &SendBundleParams,
        signers: &[(B256, Address, u64)],
    ) -> Result<Begin, LiveJournalError> {
        let target = parse_block(&p.block_number).ok_or_else(|| self.err(format!("block `{}`", p.block_number)))?;
        let known: Option<String> = self
            .conn
            .query_row(
                "SELECT state FROM bundles WHERE bundle_hash = ?1 AND target_block = ?2",
                params![hash.to_string(), target as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(s) = known {
            return Ok(Begin::Known(State::parse(&s).unwrap_or(State::Signed)));
        }
        let txs = serde_json::to_string(&p.txs).map_err(|e| self.err(e))?;
        let tx = self
            .conn
            .transaction()
            .map_err(|e| LiveJournalError { path: self.path.clone(), message: e.to_string() })?;
        tx.execute(
            "INSERT INTO bundles(bundle_hash, target_block, replacement_uuid, txs, state) VALUES (?1, ?2, ?3, ?4, 'signed')",
            params![hash.to_string(), target as i64, p.replacement_uuid, txs],
        )
        .map_err(|e| LiveJournalError { path: self.path.clone(), message: e.to_string() })?;
        let seq = tx.last_insert_rowid();
        for (h, sender, nonce) in signers {
            tx.execute(
                "INSERT OR IGNORE INTO txs(hash, bundle_seq, sender, nonce) VALUES (?1, ?2, ?3, ?4)",
                params![h.to_string(), seq, sender.to_string(), *nonce as i64],
            )
            .map_err(|e| LiveJournalError { path: self.path.clone(), message: e.to_string() })?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Begin::New(seq))
    }

    /// Row `seq` moves to `state`, with the relay's answer or the block it settled at.
    pub fn mark(
        &mut self,
        seq: i64,
        state: State,
        answer: Option<&str>,
        settled_block: Option<u64>,
    ) -> Result<(), LiveJournalError> {
        self.unsynced(|c| {
            c.execute(
                "UPDATE bundles SET state = ?2, relay_answer = COALESCE(?3, relay_answer), settled_block = COALESCE(?4, settled_block) WHERE seq = ?1",
                params![seq, state.as_str(), answer, settled_block.map(|b| b as i64)],
            )
        })?;
        Ok(())
    }

    /// Bundle `hash` for block `target` moves to `state` (settled at `settled_block`).
    pub fn mark_hash(
        &mut self,
        hash: B256,
        target: u64,
        state: State,
        settled_block: Option<u64>,
    ) -> Result<(), LiveJournalError> {
        self.unsynced(|c| {
            c.execute(
                "UPDATE bundles SET state = ?3, settled_block = COALESCE(?4, settled_block) WHERE bundle_hash = ?1 AND target_block = ?2",
                params![hash.to_string(), target as i64, state.as_str(), settled_block.map(|b| b as i64)],
            )
        })?;
        Ok(())
    }

    /// The open bundle whose replacement id is `uuid` (the one a cancel withdraws).
    pub fn open_by_uuid(&self, uuid: &str) -> Result<Option<i64>, LiveJournalError> {
        self.conn
            .query_row(
                "SELECT seq FROM bundles WHERE replacement_uuid = ?1 AND state IN ('signed', 'submitted') ORDER BY seq DESC LIMIT 1",
                [uuid],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every journaled bundle, oldest first.
    pub fn entries(&self) -> Result<Vec<Entry>, LiveJournalError> {
        self.select("", i64::MAX)
    }

    /// Bundles still waiting for their verdict (signed or submitted) whose block is at most `head`.
    pub fn open_until(&self, head: u64) -> Result<Vec<Entry>, LiveJournalError> {
        self.select("WHERE state IN ('signed', 'submitted') AND target_block <= ?1", head.min(i64::MAX as u64) as i64)
    }

    fn select(&self, filter: &str, bound: i64) -> Result<Vec<Entry>, LiveJournalError> {
        let sql = format!(
            "SELECT seq, bundle_hash, target_block, replacement_uuid, txs, state, relay_answer FROM bundles {filter} ORDER BY seq"
        );
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let bind: &[&dyn rusqlite::ToSql] = if filter.contains("?1") { &[&bound] } else { &[] };
        let rows = st
            .query_map(bind, |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, hash, target, uuid, txs, state, answer) = row.map_err(|e| self.err(e))?;
            out.push(Entry {
                seq,
                bundle_hash: hash.parse().map_err(|_| self.err(format!("row {seq}: bundle hash `{hash}`")))?,
                target_block: target as u64,
                replacement_uuid: uuid,
                txs: serde_json::from_str(&txs).map_err(|e| self.err(format!("row {seq}: txs: {e}")))?,
                state: State::parse(&state).ok_or_else(|| self.err(format!("row {seq}: state `{state}`")))?,
                relay_answer: answer,
            });
        }
        Ok(out)
    }

    /// The highest nonce journaled for `sender`, if any (a restart's nonce ledger starts above it
    /// unless the chain shows those transactions were never mined and their bundles are settled).
    pub fn last_nonce(&self, sender: Address) -> Result<Option<u64>, LiveJournalError> {
        let n: Option<i64> = self
            .conn
            .query_row("SELECT MAX(nonce) FROM txs WHERE sender = ?1", [sender.to_string()], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(n.map(|n| n as u64))
    }

    /// `sender`'s journaled transactions in bundles for blocks after `head`: (nonce, target block,
    /// hash), by nonce. A restart's nonce ledger learns what is still out.
    pub fn signed_after(&self, sender: Address, head: u64) -> Result<Vec<(u64, u64, B256)>, LiveJournalError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT t.nonce, b.target_block, t.hash FROM txs t JOIN bundles b ON b.seq = t.bundle_seq \
                 WHERE t.sender = ?1 AND b.target_block > ?2 ORDER BY t.nonce, b.target_block, t.hash",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![sender.to_string(), head as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (n, t, h) = row.map_err(|e| self.err(e))?;
            let hash = h.parse().map_err(|_| self.err(format!("txs: hash `{h}`")))?;
            out.push((n as u64, t as u64, hash));
        }
        Ok(out)
    }

    /// Caps the file at its current size (a test's way to fill the disk).
    #[doc(hidden)]
    pub fn freeze_size(&self) -> Result<(), LiveJournalError> {
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0)).map_err(|e| self.err(e))?;
        self.conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(())).map_err(|e| self.err(e))?;
        Ok(())
    }
}

fn parse_block(q: &str) -> Option<u64> {
    u64::from_str_radix(q.strip_prefix("0x")?, 16).ok()
}

/// A `BundleSink` that writes every bundle to the journal before its inner sink sends it, and
/// what the sink answered after; it refuses a bundle the journal already holds for that block, and
/// stops for good the first time the journal cannot be written.
pub struct JournaledSink<S> {
    inner: S,
    journal: LiveJournal,
    halted: Option<String>,
}

impl<S: BundleSink> JournaledSink<S> {
    pub fn new(inner: S, journal: LiveJournal) -> Self {
        JournaledSink { inner, journal, halted: None }
    }

    pub fn journal(&self) -> &LiveJournal {
        &self.journal
    }

    pub fn journal_mut(&mut self) -> &mut LiveJournal {
        &mut self.journal
    }

    /// Why the sink stopped signing out, if it did.
    pub fn halted(&self) -> Option<&str> {
        self.halted.as_deref()
    }

    fn halt(&mut self, e: LiveJournalError) -> String {
        let why = format!("the journal cannot be written, so nothing more is sent: {e}");
        tracing::error!(target: "xcrack::live", error = %e, "journal write failed; sending stopped");
        self.halted = Some(why.clone());
        why
    }
}

/// Each transaction's hash, sender and nonce, the senders given (no signature recovered).
fn signers_known(txs: &[Bytes], senders: &[Address]) -> Result<Vec<(B256, Address, u64)>, String> {
    txs.iter()
        .zip(senders)
        .map(|(raw, from)| {
            let nonce = crate::mempool::decode::nonce_of(raw).ok_or("a transaction does not decode")?;
            Ok((alloy_primitives::keccak256(raw), *from, nonce))
        })
        .collect()
}

/// Each transaction's hash, sender and nonce (undecodable ones are refused: we only send our own).
fn signers(txs: &[Bytes]) -> Result<Vec<(B256, Address, u64)>, String> {
    txs.iter()
        .map(|raw| {
            let p = crate::mempool::PendingTx::from_raw(raw.clone()).map_err(|e| format!("a transaction: {e}"))?;
            Ok((p.hash, p.from, p.nonce))
        })
        .collect()
}

impl<S: BundleSink> JournaledSink<S> {
    fn send_signed(&mut self, p: &SendBundleParams, signers: &[(B256, Address, u64)]) -> Result<B256, String> {
        if let Some(why) = &self.halted {
            return Err(why.clone());
        }
        let hashes: Vec<B256> = signers.iter().map(|s| s.0).collect();
        let hash = crate::relay::rpc::bundle_hash(&hashes);
        let seq = match self.journal.begin(hash, p, signers) {
            Ok(Begin::New(seq)) => seq,
            Ok(Begin::Known(state)) => {
                return Err(format!(
                    "bundle {hash} for block {} is already journaled ({}): not sent again",
                    p.block_number,
                    state.as_str()
                ));
            }
            Err(e) => return Err(self.halt(e)),
        };
        let sent = self.inner.send(p);
        let written = match &sent {
            Ok(h) => self.journal.mark(seq, State::Submitted, Some(&h.to_string()), None),
            Err(e) => self.journal.mark(seq, State::SendFailed, Some(e), None),
        };
        if let Err(e) = written {
            let why = self.halt(e);
            // The relay has it (or refused it); the journal says `signed`: a restart settles it
            // from the chain and never resends it.
            return sent.map_err(|e| format!("{e}; {why}"));
        }
        sent
    }
}

impl<S: BundleSink> BundleSink for JournaledSink<S> {
    fn send(&mut self, p: &SendBundleParams) -> Result<B256, String> {
        if let Some(why) = &self.halted {
            return Err(why.clone());
        }
        let signers = signers(&p.txs)?;
        self.send_signed(p, &signers)
    }

    fn send_from(&mut self, p: &SendBundleParams, senders: &[Address]) -> Result<B256, String> {
        if let Some(why) = &self.halted {
            return Err(why.clone());
        }
        let signers = if senders.len() == p.txs.len() { signers_known(&p.txs, senders)? } else { signers(&p.txs)? };
        self.send_signed(p, &signers)
    }

    fn stats(&mut self, hash: B256, block: u64) -> Vec<String> {
        self.inner.stats(hash, block)
    }

    fn cancel(&mut self, replacement_uuid: &str) -> Result<(), String> {
        if let Some(why) = &self.halted {
            return Err(why.clone());
        }
        let open = match self.journal.open_by_uuid(replacement_uuid) {
            Ok(open) => open,
            Err(e) => return Err(self.halt(e)),
        };
        self.inner.cancel(replacement_uuid)?;
        if let Some(seq) = open
            && let Err(e) = self.journal.mark(seq, State::Cancelled, None, None)
        {
            return Err(self.halt(e));
        }
        Ok(())
    }
}
