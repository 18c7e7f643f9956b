//! The first look at a pending transaction from a node's feed, before any signature recovery (the
//! expensive step): seen before? (its hash, in a bounded memory of recent ones) — decodable? —
//! calling a contract we watch, with a method we watch, within the value and gas bounds? Only what
//! passes is worth recovering a sender for and handing to the strategies.

use std::collections::{BTreeSet, HashSet, VecDeque};

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, U256, keccak256};

/// What the filter lets through: the fields it read, no sender yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub hash: B256,
    pub to: Address,
    pub selector: [u8; 4],
    pub value: U256,
    pub gas_limit: u64,
}

/// Why a transaction was dropped, or that it passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass(Candidate),
    Duplicate,
    Undecodable,
    /// A contract creation, or a call to an address we do not watch.
    NotWatched,
    /// A watched contract, another method (or a plain transfer).
    OtherMethod,
    /// Outside the value or gas bounds.
    OutOfBounds,
}

/// The rules, and the memory of hashes already seen.
pub struct PendingFilter {
    watched: BTreeSet<Address>,
    /// Empty: every method of a watched contract.
    selectors: BTreeSet<[u8; 4]>,
    max_value: U256,
    min_gas: u64,
    seen: HashSet<B256>,
    order: VecDeque<B256>,
    capacity: usize,
    /// Counts by verdict, for the journal and metrics.
    pub counts: FilterCounts,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilterCounts {
    pub passed: u64,
    pub duplicate: u64,
    pub undecodable: u64,
    pub not_watched: u64,
    pub other_method: u64,
    pub out_of_bounds: u64,
}

impl PendingFilter {
    /// Watching `watched` contracts' `selectors` (none: all), remembering the last `capacity` hashes.
    pub fn new(
        watched: impl IntoIterator<Item = Address>,
        selectors: impl IntoIterator<Item = [u8; 4]>,
        capacity: usize,
    ) -> Self {
        PendingFilter {
            watched: watched.into_iter().collect(),
            selectors: selectors.into_iter().collect(),
            max_value: U256::MAX,
            min_gas: 0,
            seen: HashSet::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
            counts: FilterCounts::default(),
        }
    }

    /// Drops transactions sending more than `max_value` wei or with a gas limit below `min_gas`
    /// (too little to reach a swap).
    pub fn bounded(mut self, max_value: U256, min_gas: u64) -> Self {
        (self.max_value, self.min_gas) = (max_value, min_gas);
        self
    }

    pub fn check(&mut self, raw: &[u8]) -> Verdict {
        let v = self.verdict(raw);
        let c = &mut self.counts;
        match v {
            Verdict::Pass(_) => c.passed += 1,
            Verdict::Duplicate => c.duplicate += 1,
            Verdict::Undecodable => c.undecodable += 1,
            Verdict::NotWatched => c.not_watched += 1,
            Verdict::OtherMethod => c.other_method += 1,
            Verdict::OutOfBounds => c.out_of_bounds += 1,
        }
        v
    }

    fn verdict(&mut self, raw: &[u8]) -> Verdict {
        let hash = keccak256(raw);
        if !self.remember(hash) {
            return Verdict::Duplicate;
        }
        let mut buf = raw;
        let Ok(tx) = TxEnvelope::decode_2718(&mut buf) else { return Verdict::Undecodable };
        let Some(to) = tx.to().filter(|a| self.watched.contains(a)) else { return Verdict::NotWatched };
        let input = tx.input();
        let Some(selector) = input.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok()) else {
            return Verdict::OtherMethod;
        };
        if !self.selectors.is_empty() && !self.selectors.contains(&selector) {
            return Verdict::OtherMethod;
        }
        if tx.value() > self.max_value || tx.gas_limit() < self.min_gas {
            return Verdict::OutOfBounds;
        }
        Verdict::Pass(Candidate { hash, to, selector, value: tx.value(), gas_limit: tx.gas_limit() })
    }

    /// Whether `hash` is new (and now remembered, forgetting the oldest beyond capacity).
    fn remember(&mut self, hash: B256) -> bool {
        if !self.seen.insert(hash) {
            return false;
        }
        self.order.push_back(hash);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{TxRequest, Wallet};

    fn tx(w: &mut Wallet, to: Address, data: &[u8], value: u128, gas: u64) -> alloy_primitives::Bytes {
        let req = TxRequest {
            chain_id: 1,
            to,
            data: data.to_vec().into(),
            value: U256::from(value),
            gas_limit: gas,
            max_fee_per_gas: 1,
            max_priority_fee_per_gas: 1,
        };
        w.sign(&req).unwrap().0
    }

    #[test]
    fn each_drop_reason_and_a_pass() {
        let router = Address::repeat_byte(1);
        let swap = [0x38, 0xed, 0x17, 0x39];
        let mut f = PendingFilter::new([router], [swap], 2).bounded(U256::from(100u8), 50_000);
        let mut w = Wallet::derived(1, "filter");
        let good = tx(&mut w, router, &[0x38, 0xed, 0x17, 0x39, 0, 1], 0, 200_000);
        match f.check(&good) {
            Verdict::Pass(c) => assert_eq!((c.to, c.selector, c.gas_limit), (router, swap, 200_000)),
            v => panic!("{v:?}"),
        }
        assert_eq!(f.check(&good), Verdict::Duplicate);
        assert_eq!(f.check(&[0x02, 0xff]), Verdict::Undecodable);
        assert_eq!(f.check(&tx(&mut w, Address::repeat_byte(2), &swap, 0, 200_000)), Verdict::NotWatched);
        assert_eq!(f.check(&tx(&mut w, router, &[1, 2, 3, 4], 0, 200_000)), Verdict::OtherMethod);
        assert_eq!(f.check(&tx(&mut w, router, &[], 5, 200_000)), Verdict::OtherMethod, "a plain transfer");
        assert_eq!(f.check(&tx(&mut w, router, &swap, 1_000, 200_000)), Verdict::OutOfBounds);
        assert_eq!(f.check(&tx(&mut w, router, &swap, 0, 21_000)), Verdict::OutOfBounds);
        // Capacity 2: the first hash was forgotten, so it passes again as new.
        assert!(matches!(f.check(&good), Verdict::Pass(_)));
        assert_eq!(f.counts.passed, 2);
        assert_eq!(f.counts.duplicate, 1);
    }
}
