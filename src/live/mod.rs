//! Live mode: the world and source the one driver runs against a real node (`world`), the relays
//! behind the write-ahead journal (`relays`, `journal`), and what watches
//! the run (`metrics`, `alerts`).

pub mod alerts;
pub mod journal;
pub mod metrics;
pub mod relays;
pub mod world;

pub use journal::{Begin, Entry, JournaledSink, LiveJournal, LiveJournalError, State};
