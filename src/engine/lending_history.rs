//! What a liquidation run remembers to draw health-factor timelines afterwards: the oracle prices
//! as they were posted and every borrower's position as it changed (liquidations, rivals' and
//! ours, and replay rows). A timeline is recomputed exactly from the two, so the block loop never
//! computes health factors it does not need.

use alloy_primitives::{Address, U256};

use crate::market::lending::{self, Reserve};
use crate::strategies::liquidation::Borrower;

/// A borrower's health factor at one block (around a liquidation, or along a replay).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthPoint {
    pub borrower: Address,
    pub block: u64,
    pub health_factor: U256,
    /// What happened to it in that block: "liquidated" (by us), "rival", "replay" (recorded
    /// position change) or "" (a price move).
    pub event: &'static str,
}

impl HealthPoint {
    /// Every `event` a point can carry.
    pub const EVENTS: [&'static str; 4] = ["", "liquidated", "rival", "replay"];
}

/// Blocks either side of a liquidation shown in the health-factor timeline.
const TIMELINE_WINDOW: u64 = 5;

/// A borrower's balances from `block` on, and what set them.
type PositionAt = (u64, Vec<U256>, Vec<U256>, &'static str);

/// Oracle prices and borrower positions as they changed, for the health-factor timelines.
pub struct History {
    prices: Vec<(u64, Vec<U256>)>,
    positions: Vec<Vec<PositionAt>>,
}

impl History {
    pub fn new(reserves: &[Reserve], borrowers: &[Borrower]) -> Self {
        History {
            prices: vec![(0, reserves.iter().map(|r| r.price).collect())],
            positions: borrowers.iter().map(|b| vec![(0, b.collateral.clone(), b.debt.clone(), "")]).collect(),
        }
    }

    pub fn position(&mut self, i: usize, block: u64, b: &Borrower, event: &'static str) {
        self.positions[i].push((block, b.collateral.clone(), b.debt.clone(), event));
    }

    /// The oracle posted new prices (`reserves`) in `block`.
    pub fn prices_changed(&mut self, block: u64, reserves: &[Reserve]) {
        self.prices.push((block, reserves.iter().map(|r| r.price).collect()));
    }

    /// The replayed borrower along the whole run (blocks up to `last`), and every other borrower
    /// within `TIMELINE_WINDOW` blocks of each of its liquidations (`liquidated_at`: borrower
    /// index and block, ours and rivals').
    pub fn timelines(
        &self,
        reserves: &[Reserve],
        borrowers: &[Borrower],
        replay: Option<usize>,
        mut liquidated_at: Vec<(usize, u64)>,
        last: u64,
    ) -> Vec<HealthPoint> {
        let mut out = Vec::new();
        if let Some(i) = replay {
            out.extend(self.timeline(reserves, i, borrowers[i].user, 0..=last));
        }
        liquidated_at.sort_unstable();
        liquidated_at.dedup();
        let mut shown: Vec<(usize, u64)> = Vec::new();
        for &(i, block) in &liquidated_at {
            if Some(i) == replay || shown.iter().any(|&(j, b)| j == i && b + TIMELINE_WINDOW >= block) {
                continue;
            }
            shown.push((i, block));
            let range = block.saturating_sub(TIMELINE_WINDOW)..=(block + TIMELINE_WINDOW).min(last);
            out.extend(self.timeline(reserves, i, borrowers[i].user, range));
        }
        out
    }

    fn health(&self, reserves: &[Reserve], i: usize, block: u64) -> (U256, &'static str) {
        let p = &self.prices[self.prices.partition_point(|(b, _)| *b <= block).saturating_sub(1)].1;
        let pos = &self.positions[i];
        let (at, c, d, event) = &pos[pos.partition_point(|x| x.0 <= block).saturating_sub(1)];
        let r: Vec<Reserve> = reserves.iter().zip(p).map(|(r, &price)| Reserve { price, ..*r }).collect();
        (lending::account_data(&r, c, d).health_factor, if *at == block { event } else { "" })
    }

    /// Every block in `range` where borrower `i`'s health factor or position changed.
    fn timeline(
        &self,
        reserves: &[Reserve],
        i: usize,
        user: Address,
        range: std::ops::RangeInclusive<u64>,
    ) -> Vec<HealthPoint> {
        let mut blocks: Vec<u64> = self
            .prices
            .iter()
            .map(|x| x.0)
            .chain(self.positions[i].iter().map(|x| x.0))
            .filter(|b| range.contains(b))
            .collect();
        blocks.push(*range.start());
        blocks.sort_unstable();
        blocks.dedup();
        let mut out: Vec<HealthPoint> = Vec::new();
        for block in blocks {
            let (hf, event) = self.health(reserves, i, block);
            if out.last().is_some_and(|p| p.health_factor == hf && event.is_empty()) {
                continue;
            }
            out.push(HealthPoint { borrower: user, block, health_factor: hf, event });
        }
        out
    }
}
