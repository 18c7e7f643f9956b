//! Our account's nonces once transactions leave the process (live mode): the chain's count of our
//! mined transactions is the truth, and everything we signed above it is open until the chain
//! settles it. A bundle lands whole or not at all, so bundles reuse the first free nonces block
//! after block; a public transaction takes the next nonce after everything open and stays until
//! it is mined, replaced or given up. Every head reconciles the ledger with the chain, so it is
//! never stuck: a nonce another transaction of our key took, or one whose bundles all expired, is
//! released at that head.
//!
//! In simulation the bundle manager reads our nonce from the chain before every bundle, which is
//! this ledger's answer when nothing is open.

use std::collections::BTreeMap;

use alloy_primitives::B256;

/// One transaction we signed for a nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signed {
    pub hash: B256,
    /// A bundle's target block (after it, the bundle cannot land). A public transaction may land
    /// whenever until it is mined or replaced, so it never expires: `stuck` finds it instead.
    pub until_block: u64,
    /// Sent to the public mempool (it may land in any block until then), not in a bundle.
    pub public: bool,
}

/// How the chain settled a nonce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// One of our transactions for it was mined.
    Mined { nonce: u64, hash: B256 },
    /// The chain counts it, but with none of the transactions we signed for it: another transaction
    /// of our key took it (signed elsewhere, or by a previous run).
    Taken { nonce: u64, ours: Vec<B256> },
    /// Every bundle we signed for it is past its block: the nonce is free again.
    Expired { nonce: u64, hashes: Vec<B256> },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NonceLedger {
    /// Our transactions the chain has mined: the next nonce it will accept.
    mined: u64,
    /// Signed and not settled, by nonce.
    open: BTreeMap<u64, Vec<Signed>>,
}

impl NonceLedger {
    /// Seeded from the node's count of our transactions including its pending ones
    /// (`eth_getTransactionCount(us, "pending")`): a nonce the node already holds a transaction
    /// for is never signed again. After a restart, what was in flight is not ours to track: the
    /// next head's count settles it.
    pub fn seeded(pending_count: u64) -> Self {
        NonceLedger { mined: pending_count, open: BTreeMap::new() }
    }

    /// The chain's next nonce for us as of the last head.
    pub fn mined(&self) -> u64 {
        self.mined
    }

    /// The first nonce of a bundle: right after the public transactions still open (they may land
    /// first), reusing any nonce only bundles hold (bundles for earlier blocks either land, and
    /// this one fails harmlessly, or expire).
    pub fn bundle_start(&self) -> u64 {
        let mut n = self.mined;
        while self.open.get(&n).is_some_and(|v| v.iter().any(|s| s.public)) {
            n += 1;
        }
        n
    }

    /// The nonce of a new public transaction: after everything open.
    pub fn next_public(&self) -> u64 {
        self.open.keys().next_back().map_or(self.mined, |n| (n + 1).max(self.mined))
    }

    /// Records a transaction signed for `nonce` (a bundle's, or a public one, or a replacement of
    /// either under the same nonce).
    pub fn signed(&mut self, nonce: u64, tx: Signed) {
        if nonce >= self.mined {
            self.open.entry(nonce).or_default().push(tx);
        }
    }

    /// A new head: `mined_count` is the node's count of our mined transactions at it, `landed` the
    /// hashes of ours it (or any block since the last head) included. Returns how each nonce that
    /// changed was settled, in nonce order.
    pub fn on_head(&mut self, block: u64, mined_count: u64, landed: &[B256]) -> Vec<Settled> {
        let mut out = Vec::new();
        let below: Vec<u64> = self.open.range(..mined_count).map(|(n, _)| *n).collect();
        for n in below {
            let txs = self.open.remove(&n).unwrap_or_default();
            match txs.iter().find(|s| landed.contains(&s.hash)) {
                Some(s) => out.push(Settled::Mined { nonce: n, hash: s.hash }),
                None => out.push(Settled::Taken { nonce: n, ours: txs.iter().map(|s| s.hash).collect() }),
            }
        }
        // A chain that counts fewer than we thought (a reorg) keeps what is open above its count.
        self.mined = mined_count;
        let mut expired = Vec::new();
        for (n, txs) in &mut self.open {
            let gone = |s: &Signed| !s.public && s.until_block <= block;
            let before: Vec<B256> = txs.iter().filter(|s| gone(s)).map(|s| s.hash).collect();
            txs.retain(|s| !gone(s));
            if txs.is_empty() {
                expired.push(Settled::Expired { nonce: *n, hashes: before });
            }
        }
        for e in &expired {
            if let Settled::Expired { nonce, .. } = e {
                self.open.remove(nonce);
            }
        }
        out.extend(expired);
        out
    }

    /// Public transactions signed at least `patience` blocks before `block` and still open: each
    /// nonce and its latest transaction, to replace (same nonce, a higher fee) or give up.
    pub fn stuck(&self, block: u64, patience: u64, signed_at: &dyn Fn(&B256) -> Option<u64>) -> Vec<(u64, B256)> {
        self.open
            .iter()
            .filter_map(|(n, txs)| {
                let last = txs.iter().rev().find(|s| s.public)?;
                let at = signed_at(&last.hash)?;
                (block >= at + patience).then_some((*n, last.hash))
            })
            .collect()
    }

    /// Nonces with a transaction open.
    pub fn open(&self) -> impl Iterator<Item = u64> + '_ {
        self.open.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u8) -> B256 {
        B256::repeat_byte(i)
    }

    fn bundle(i: u8, block: u64) -> Signed {
        Signed { hash: h(i), until_block: block, public: false }
    }

    fn public(i: u8, until: u64) -> Signed {
        Signed { hash: h(i), until_block: until, public: true }
    }

    #[test]
    fn seeded_from_the_pending_count_and_a_landed_bundle_moves_it_on() {
        let mut l = NonceLedger::seeded(7);
        assert_eq!((l.bundle_start(), l.next_public()), (7, 7));
        l.signed(7, bundle(1, 100));
        l.signed(8, bundle(2, 100));
        // A bundle for the next block before the first is settled starts at the same nonces.
        assert_eq!(l.bundle_start(), 7);
        let s = l.on_head(100, 9, &[h(1), h(2)]);
        assert_eq!(s, vec![Settled::Mined { nonce: 7, hash: h(1) }, Settled::Mined { nonce: 8, hash: h(2) }]);
        assert_eq!((l.bundle_start(), l.open().count()), (9, 0));
    }

    #[test]
    fn a_bundle_not_included_frees_its_nonces_at_its_block() {
        let mut l = NonceLedger::seeded(3);
        l.signed(3, bundle(1, 50));
        l.signed(3, bundle(2, 51));
        // Block 50 without it: the bundle for 51 still holds nonce 3.
        assert_eq!(l.on_head(50, 3, &[]), vec![]);
        assert_eq!(l.open().collect::<Vec<_>>(), [3]);
        // Block 51 without it either: free.
        assert_eq!(l.on_head(51, 3, &[]), vec![Settled::Expired { nonce: 3, hashes: vec![h(2)] }]);
        assert_eq!(l.bundle_start(), 3);
    }

    #[test]
    fn a_nonce_taken_by_another_transaction_of_our_key_is_released_not_stuck() {
        let mut l = NonceLedger::seeded(10);
        l.signed(10, bundle(1, 20));
        // Someone signed nonce 10 elsewhere and it was mined instead of our bundle.
        let s = l.on_head(20, 11, &[h(9)]);
        assert_eq!(s, vec![Settled::Taken { nonce: 10, ours: vec![h(1)] }]);
        assert_eq!((l.bundle_start(), l.next_public()), (11, 11));
    }

    #[test]
    fn public_transactions_queue_ahead_of_bundles_and_stuck_ones_are_found_and_replaced() {
        let mut l = NonceLedger::seeded(0);
        let n = l.next_public();
        l.signed(n, public(1, 12));
        assert_eq!((l.next_public(), l.bundle_start()), (1, 1), "a bundle goes after the pending public tx");
        let signed_at = |x: &B256| Some(if *x == h(1) { 10 } else { 15 });
        assert_eq!(l.stuck(12, 5, &signed_at), vec![]);
        assert_eq!(l.stuck(15, 5, &signed_at), vec![(0, h(1))]);
        // Long past the block it was meant for it may still land: it stays open, never re-signed
        // under another transaction by mistake.
        assert_eq!(l.on_head(16, 0, &[]), vec![]);
        assert_eq!(l.open().collect::<Vec<_>>(), [0]);
        // Replaced with a higher fee under the same nonce; the replacement lands.
        l.signed(0, public(2, 1_000));
        assert_eq!(l.stuck(16, 5, &signed_at), vec![], "the replacement is recent");
        assert_eq!(l.on_head(17, 1, &[h(2)]), vec![Settled::Mined { nonce: 0, hash: h(2) }]);
        assert_eq!(l.bundle_start(), 1);
    }

    /// Whatever the chain does, the next bundle never starts below the chain's count nor on a
    /// nonce a public transaction of ours holds, and nothing stays open past its block.
    #[test]
    fn never_stuck_under_any_sequence() {
        let mut rng = crate::core::rng::component_rng(7, "nonce-ledger");
        use rand::RngExt;
        for _ in 0..200 {
            let mut l = NonceLedger::seeded(rng.random_range(0..5));
            let mut mined = l.mined();
            let mut tag = 0u8;
            for block in 1..60u64 {
                tag = tag.wrapping_add(1);
                if rng.random_bool(0.5) {
                    let start = l.bundle_start();
                    for k in 0..rng.random_range(1..3u64) {
                        l.signed(start + k, bundle(tag, block + rng.random_range(0..2u64)));
                    }
                } else if rng.random_bool(0.3) {
                    l.signed(l.next_public(), public(tag, block + 5));
                }
                // The chain mines some of what is open, or a foreign transaction of our key.
                let mut landed = Vec::new();
                while rng.random_bool(0.3) {
                    if let Some(txs) = l.open.get(&mined) {
                        landed.push(txs[rng.random_range(0..txs.len())].hash);
                    }
                    mined += 1;
                }
                l.on_head(block, mined, &landed);
                assert!(l.bundle_start() >= l.mined());
                assert!(l.open.range(..l.bundle_start()).all(|(_, v)| v.iter().any(|s| s.public)));
                assert!(
                    l.open.values().flatten().all(|s| s.public || s.until_block > block),
                    "no bundle open past its block"
                );
            }
        }
    }
}
