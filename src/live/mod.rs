//! Live mode's parts that hold money safe across crashes: the write-ahead journal in front of the
//! relays (`journal`). The live loop itself is not built yet (see README "Not yet").

pub mod alerts;
pub mod journal;
pub mod metrics;
pub mod relays;
pub mod world;

pub use journal::{Begin, Entry, JournaledSink, LiveJournal, LiveJournalError, State};
