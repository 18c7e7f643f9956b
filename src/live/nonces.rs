//! Our nonces in live mode. Bundles go to the top of their block, so the nonce they can use is the
//! account's count of mined transactions — unless a public transaction of ours (an operator's
//! approval, a withdrawal) is waiting in the node's pool: a bundle using its nonce would silently
//! replace it, so while it is young the ledger hands out the nonce after it (seeded from the node's
//! `pending` count) and the bundles wait for it to be mined. A public transaction pending for
//! `stuck_after` heads is stuck (underpriced, dropped by peers): the ledger then takes its nonce
//! back, and the next bundle that lands replaces it. So the ledger never waits on a nonce forever.
//!
//! Every nonce we sign is recorded with its bundle's target block. At each head the ledger hears
//! the chain's counts and how many of our bundle transactions the block held, and knows why the
//! count moved: our bundles, our public transactions, or a transaction of our key it never saw
//! (another process signing with the same key: "taken"). A bundle not included frees its nonces:
//! the chain's count, read again at every head, is the truth, never an expectation of ours.

use std::collections::BTreeMap;

use alloy_primitives::B256;

/// What the chain says about our account at a head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountCounts {
    /// Transactions of ours mined up to the head (`eth_getTransactionCount(me, head)`).
    pub mined: u64,
    /// Mined plus ours in the node's pool (`eth_getTransactionCount(me, "pending")`).
    pub pending: u64,
}

/// What happened to our nonces at one head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NonceNews {
    /// Nonces our included bundles used.
    pub by_bundles: u64,
    /// Nonces our own public transactions used.
    pub by_public: u64,
    /// Nonces a transaction of our key used that neither we signed nor saw pending.
    pub taken: u64,
    /// The public transaction at the mined count has waited `stuck_after` heads: bundles take its nonce.
    pub replacing_stuck: bool,
}

#[derive(Clone, Debug)]
pub struct NonceLedger {
    counts: AccountCounts,
    /// Heads seen while a public transaction of ours waited at the current mined count.
    waited: u64,
    stuck_after: u64,
    /// Nonces we signed, by nonce: (target block, transaction hash); alternatives for one block
    /// share nonces.
    signed: BTreeMap<u64, Vec<(u64, B256)>>,
    pub totals: NonceNews,
}

impl NonceLedger {
    /// Seeded from the node's counts at the head we start from.
    pub fn seed(counts: AccountCounts, stuck_after: u64) -> Self {
        NonceLedger {
            counts: AccountCounts { mined: counts.mined, pending: counts.pending.max(counts.mined) },
            waited: 0,
            stuck_after: stuck_after.max(1),
            signed: BTreeMap::new(),
            totals: NonceNews::default(),
        }
    }

    /// The nonce our next bundle's first transaction takes.
    pub fn next(&self) -> u64 {
        if self.waited >= self.stuck_after { self.counts.mined } else { self.counts.pending }
    }

    /// Our public transactions in the node's pool.
    pub fn public_pending(&self) -> u64 {
        self.counts.pending - self.counts.mined
    }

    /// `nonce` was signed into a bundle for `target`.
    pub fn signed(&mut self, nonce: u64, target: u64, hash: B256) {
        let at = self.signed.entry(nonce).or_default();
        if !at.contains(&(target, hash)) {
            at.push((target, hash));
        }
    }

    /// Nonces signed for blocks after `head` (bundles still out).
    pub fn outstanding(&self, head: u64) -> Vec<u64> {
        self.signed.iter().filter(|(_, v)| v.iter().any(|(t, _)| *t > head)).map(|(n, _)| *n).collect()
    }

    /// The chain at a new head: `now` are the node's counts there, `bundle_txs` how many of our
    /// bundles' transactions the heads since the last one held. Signed nonces for blocks up to
    /// `head` are settled (used or freed); the counts are taken as they are, whatever we expected.
    pub fn on_head(&mut self, head: u64, now: AccountCounts, bundle_txs: u64) -> NonceNews {
        let now = AccountCounts { mined: now.mined, pending: now.pending.max(now.mined) };
        let moved = now.mined.saturating_sub(self.counts.mined);
        let by_bundles = bundle_txs.min(moved);
        let public_before = self.public_pending();
        let by_public = (moved - by_bundles).min(public_before);
        let taken = moved - by_bundles - by_public;
        if moved == 0 && now.pending > now.mined {
            self.waited += 1;
        } else {
            self.waited = 0;
        }
        self.counts = now;
        self.signed.retain(|nonce, v| {
            v.retain(|(target, _)| *target > head);
            !v.is_empty() && *nonce >= now.mined
        });
        let news = NonceNews { by_bundles, by_public, taken, replacing_stuck: self.waited >= self.stuck_after };
        if taken > 0 {
            tracing::warn!(target: "xcrack::live", taken, mined = now.mined, "a transaction of our key we did not sign took nonces: is another process using it?");
        }
        if news.replacing_stuck && self.waited == self.stuck_after {
            tracing::warn!(target: "xcrack::live", nonce = now.mined, heads = self.waited, "our public transaction is stuck: bundles take its nonce and replace it");
        }
        self.totals.by_bundles += by_bundles;
        self.totals.by_public += by_public;
        self.totals.taken += taken;
        self.totals.replacing_stuck |= news.replacing_stuck;
        news
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(mined: u64, pending: u64) -> AccountCounts {
        AccountCounts { mined, pending }
    }

    #[test]
    fn seeded_from_the_pending_count() {
        assert_eq!(NonceLedger::seed(counts(7, 7), 3).next(), 7);
        // A public transaction of ours waits at 7: bundles use 8 and do not replace it.
        let l = NonceLedger::seed(counts(7, 8), 3);
        assert_eq!((l.next(), l.public_pending()), (8, 1));
    }

    #[test]
    fn an_included_bundle_moves_the_count_on() {
        let mut l = NonceLedger::seed(counts(7, 7), 3);
        l.signed(7, 101, B256::repeat_byte(1));
        l.signed(8, 101, B256::repeat_byte(2));
        assert_eq!(l.outstanding(100), vec![7, 8]);
        let news = l.on_head(101, counts(9, 9), 2);
        assert_eq!(news, NonceNews { by_bundles: 2, ..NonceNews::default() });
        assert_eq!(l.next(), 9);
        assert!(l.outstanding(101).is_empty());
    }

    #[test]
    fn a_bundle_not_included_frees_its_nonces() {
        let mut l = NonceLedger::seed(counts(7, 7), 3);
        l.signed(7, 101, B256::repeat_byte(1));
        l.signed(8, 101, B256::repeat_byte(2));
        let news = l.on_head(101, counts(7, 7), 0);
        assert_eq!(news, NonceNews::default());
        assert_eq!(l.next(), 7, "the same nonces again for the next block");
        assert!(l.outstanding(101).is_empty());
    }

    #[test]
    fn a_nonce_taken_by_another_transaction_is_seen_and_skipped() {
        let mut l = NonceLedger::seed(counts(7, 7), 3);
        l.signed(7, 101, B256::repeat_byte(1));
        // Another process with our key got nonce 7 mined at 101; our bundle could not land.
        let news = l.on_head(101, counts(8, 8), 0);
        assert_eq!(news.taken, 1);
        assert_eq!(l.next(), 8);
        assert_eq!(l.totals.taken, 1);
    }

    #[test]
    fn our_public_transaction_mined_is_not_taken() {
        let mut l = NonceLedger::seed(counts(7, 8), 3);
        let news = l.on_head(101, counts(8, 8), 0);
        assert_eq!(news, NonceNews { by_public: 1, ..NonceNews::default() });
        assert_eq!(l.next(), 8);
        // And with a bundle of ours landing after it in the same block.
        let mut l = NonceLedger::seed(counts(7, 8), 3);
        l.signed(8, 101, B256::repeat_byte(3));
        let news = l.on_head(101, counts(9, 9), 1);
        assert_eq!((news.by_bundles, news.by_public, news.taken), (1, 1, 0));
    }

    #[test]
    fn a_stuck_public_transaction_is_replaced_never_waited_on_forever() {
        let mut l = NonceLedger::seed(counts(7, 8), 3);
        for head in 101..103 {
            assert!(!l.on_head(head, counts(7, 8), 0).replacing_stuck);
            assert_eq!(l.next(), 8);
        }
        assert!(l.on_head(103, counts(7, 8), 0).replacing_stuck);
        assert_eq!(l.next(), 7, "the bundle takes the stuck nonce");
        // Our bundle lands at 7 (replacing it): the count moves on and the pool is empty again.
        l.signed(7, 104, B256::repeat_byte(4));
        let news = l.on_head(104, counts(8, 8), 1);
        assert_eq!((news.by_bundles, news.replacing_stuck), (1, false));
        assert_eq!(l.next(), 8);
    }

    #[test]
    fn counts_that_go_back_are_believed() {
        // A reorg can un-mine our transaction: the chain is the truth.
        let mut l = NonceLedger::seed(counts(9, 9), 3);
        let news = l.on_head(101, counts(8, 9), 0);
        assert_eq!(news, NonceNews::default());
        assert_eq!(l.next(), 9);
        assert_eq!(l.public_pending(), 1);
    }
}
