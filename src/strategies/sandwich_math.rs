//! Exact sandwich sizing on one constant-product pool. Victims trade in one direction (selling the
//! pool's `in` token), in block order; we front-run with `f` of the same token, the victims execute at
//! the worse price, and we back-run by selling everything the front-run bought. All arithmetic is the
//! pair's own integer math, so a size that passes here passes in the EVM.

use alloy_primitives::U256;

use crate::market::amm::{get_amount_in_u128, get_amount_out_u128};
use crate::strategies::sizing::argmax_within;

/// A victim's router limit, in the pool's direction of its trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VictimLimit {
    /// `swapExactTokensForTokens`-style: pays `amount_in`, needs at least `min_out`.
    ExactIn { amount_in: U256, min_out: U256 },
    /// `swapTokensForExactTokens`-style: wants `amount_out`, pays at most `max_in`.
    ExactOut { amount_out: U256, max_in: U256 },
}

/// The pool as the victims' direction sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    pub reserve_in: U256,
    pub reserve_out: U256,
    pub fee_bps: u32,
}

/// What one sandwich size does, to the raw unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandwichRun {
    pub front_in: U256,
    /// The `out` token the front-run buys (and the back-run sells).
    pub front_out: U256,
    /// What each victim receives (exact in) or pays (exact out).
    pub victim_amounts: Vec<U256>,
    /// The `in` token the back-run returns.
    pub back_out: U256,
}

impl SandwichRun {
    /// `back_out − front_in` in raw units of the `in` token (before gas and bribe).
    pub fn gross_profit(&self) -> i128 {
        to_i128(self.back_out) - to_i128(self.front_in)
    }
}

fn to_i128(v: U256) -> i128 {
    i128::try_from(v).unwrap_or(i128::MAX)
}

/// Executes victims alone (no front-run) and returns what each gets or pays; `None` if one fails.
pub fn victims_alone(pool: Pool, victims: &[VictimLimit]) -> Option<Vec<U256>> {
    let (p, vs) = narrow(pool, victims)?;
    let (mut x, mut y) = (p.0, p.1);
    vs.iter().map(|v| victim_step(&mut x, &mut y, pool.fee_bps, v).map(U256::from)).collect()
}

/// A victim's limit in `u128`: limits beyond it (e.g. "any price") saturate, which compares the same.
#[derive(Clone, Copy)]
enum Limit128 {
    ExactIn { amount_in: u128, min_out: u128 },
    ExactOut { amount_out: u128, max_in: u128 },
}

/// The search runs in `u128` (the AMM's `u128` paths fall back to `U256` inside when a product
/// overflows, with the same results); reserves are at most 2^112 and amounts fit.
fn narrow(pool: Pool, victims: &[VictimLimit]) -> Option<((u128, u128), Vec<Limit128>)> {
    let sat = |v: U256| v.saturating_to::<u128>();
    let p = (u128::try_from(pool.reserve_in).ok()?, u128::try_from(pool.reserve_out).ok()?);
    let vs = victims
        .iter()
        .map(|v| match *v {
            VictimLimit::ExactIn { amount_in, min_out } => {
                Some(Limit128::ExactIn { amount_in: u128::try_from(amount_in).ok()?, min_out: sat(min_out) })
            }
            VictimLimit::ExactOut { amount_out, max_in } => {
                Some(Limit128::ExactOut { amount_out: u128::try_from(amount_out).ok()?, max_in: sat(max_in) })
            }
        })
        .collect::<Option<Vec<_>>>()?;
    Some((p, vs))
}

fn victim_step(x: &mut u128, y: &mut u128, fee: u32, v: &Limit128) -> Option<u128> {
    match *v {
        Limit128::ExactIn { amount_in, min_out } => {
            let out = get_amount_out_u128(amount_in, *x, *y, fee).ok()?;
            if out < min_out || out == 0 {
                return None;
            }
            *x = x.checked_add(amount_in)?;
            *y -= out;
            Some(out)
        }
        Limit128::ExactOut { amount_out, max_in } => {
            let paid = get_amount_in_u128(amount_out, *x, *y, fee).ok()?;
            if paid > max_in {
                return None;
            }
            *x = x.checked_add(paid)?;
            *y -= amount_out;
            Some(paid)
        }
    }
}

/// Front-run, victims, back-run at size `f`: (front out, victim amounts, back out).
fn run128(p: (u128, u128), fee: u32, vs: &[Limit128], f: u128, keep: bool) -> Option<(u128, Vec<u128>, u128)> {
    let (mut x, mut y) = p;
    let front_out = get_amount_out_u128(f, x, y, fee).ok()?;
    if front_out == 0 {
        return None;
    }
    x = x.checked_add(f)?;
    y -= front_out;
    let mut amounts = Vec::new();
    for v in vs {
        let a = victim_step(&mut x, &mut y, fee, v)?;
        if keep {
            amounts.push(a);
        }
    }
    // Back-run: sell the bought `out` tokens into the pool (reserves swap roles).
    let back_out = get_amount_out_u128(front_out, y, x, fee).ok()?;
    Some((front_out, amounts, back_out))
}

/// The whole sandwich at front-run size `f`; `None` when a victim's limit breaks or a swap fails.
pub fn run(pool: Pool, victims: &[VictimLimit], f: U256) -> Option<SandwichRun> {
    let (p, vs) = narrow(pool, victims)?;
    let (front_out, amounts, back_out) = run128(p, pool.fee_bps, &vs, u128::try_from(f).ok()?, true)?;
    Some(SandwichRun {
        front_in: f,
        front_out: U256::from(front_out),
        victim_amounts: amounts.into_iter().map(U256::from).collect(),
        back_out: U256::from(back_out),
    })
}

/// Whether every victim stays within its limit after a front-run of `f` (a front-run too small to buy
/// anything still moves the pool by its input, so feasibility stays monotone in `f`).
fn victims_hold(p: (u128, u128), fee: u32, vs: &[Limit128], f: u128) -> bool {
    let (mut x, mut y) = p;
    let Ok(front_out) = get_amount_out_u128(f, x, y, fee) else { return false };
    let Some(nx) = x.checked_add(f) else { return false };
    x = nx;
    y -= front_out;
    vs.iter().all(|v| victim_step(&mut x, &mut y, fee, v).is_some())
}

/// The largest front-run in [0, `cap`] that keeps every victim within its limit (0 when even the
/// smallest front-run breaks one). Feasibility only shrinks as the front-run grows (each victim's
/// price worsens), so a bisection finds the boundary.
pub fn max_front_run(pool: Pool, victims: &[VictimLimit], cap: U256) -> U256 {
    let Some((p, vs)) = narrow(pool, victims) else { return U256::ZERO };
    let cap = cap.saturating_to::<u128>();
    let ok = |f: u128| victims_hold(p, pool.fee_bps, &vs, f);
    if cap == 0 || !ok(1) {
        return U256::ZERO;
    }
    if ok(cap) {
        return U256::from(cap);
    }
    let (mut lo, mut hi) = (1u128, cap);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) { lo = mid } else { hi = mid }
    }
    U256::from(lo)
}

/// The best sandwich: the profit-maximising front-run among those that keep every victim whole,
/// no larger than `cap` (our inventory). `None` if no front-run is feasible or none profits.
pub fn best_sandwich(pool: Pool, victims: &[VictimLimit], cap: U256) -> Option<SandwichRun> {
    let hi = max_front_run(pool, victims, cap);
    if hi.is_zero() {
        return None;
    }
    // Front-runs are wei of WETH or raw quote: beyond u64 (18.4 ETH), within u128.
    let hi = u128::try_from(hi).ok()?;
    let (p, vs) = narrow(pool, victims)?;
    // Every swap in the sequence can round by a raw unit; profit is within that of a concave curve.
    let slack = 2 + 2 * victims.len() as i128;
    let profit = |f: u128| {
        run128(p, pool.fee_bps, &vs, f, false)
            .and_then(|(_, _, back)| Some(i128::try_from(back).ok()? - i128::try_from(f).ok()?))
            .unwrap_or(i128::MIN / 2)
    };
    let (f, p) = argmax_within(hi, slack, 1 << 16, profit);
    (p > 0).then(|| run(pool, victims, U256::from(f))).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::amm::get_amount_out;

    fn u(v: u128) -> U256 {
        U256::from(v)
    }

    /// Four victims on one pool, exact-in and exact-out mixed, small raw amounts so every front-run
    /// size can be tried: the chosen one is the brute-force optimum among the feasible sizes, and
    /// the victims' limits all hold at it.
    #[test]
    fn best_sandwich_equals_brute_force_with_four_mixed_victims() {
        let pool = Pool { reserve_in: u(2_000_000), reserve_out: u(6_000_000), fee_bps: 30 };
        // The trades, then limits at 3 % / 2 % / 4 % / 1.5 % slippage from what each gets (exact in)
        // or pays (exact out) when the four execute alone in this order — as a wallet quotes them.
        let trades = [
            VictimLimit::ExactIn { amount_in: u(20_000), min_out: U256::ZERO },
            VictimLimit::ExactOut { amount_out: u(45_000), max_in: U256::MAX },
            VictimLimit::ExactIn { amount_in: u(8_000), min_out: U256::ZERO },
            VictimLimit::ExactOut { amount_out: u(30_000), max_in: U256::MAX },
        ];
        let quoted = victims_alone(pool, &trades).unwrap();
        let slippage_bps = [300u64, 200, 400, 150];
        let victims: Vec<VictimLimit> = trades
            .iter()
            .zip(&quoted)
            .zip(slippage_bps)
            .map(|((t, q), bps)| match *t {
                VictimLimit::ExactIn { amount_in, .. } => {
                    VictimLimit::ExactIn { amount_in, min_out: *q * U256::from(10_000 - bps) / U256::from(10_000u64) }
                }
                VictimLimit::ExactOut { amount_out, .. } => {
                    VictimLimit::ExactOut { amount_out, max_in: *q * U256::from(10_000 + bps) / U256::from(10_000u64) }
                }
            })
            .collect();
        assert!(victims_alone(pool, &victims).is_some(), "every victim succeeds alone");
        let cap = 400_000u64;
        let best = best_sandwich(pool, &victims, u(cap.into())).expect("a profitable sandwich exists");
        let (mut bf_f, mut bf_p, mut feasible) = (0u64, i128::MIN, 0u64);
        for f in 1..=cap {
            if let Some(r) = run(pool, &victims, U256::from(f)) {
                feasible = feasible.max(f);
                if r.gross_profit() > bf_p {
                    bf_p = r.gross_profit();
                    bf_f = f;
                }
            }
        }
        assert!(feasible < cap, "the victims' limits bind before the inventory cap");
        assert_eq!(max_front_run(pool, &victims, u(cap.into())), u(feasible.into()));
        assert_eq!((best.front_in, best.gross_profit()), (u(bf_f.into()), bf_p));
        // Every victim still executes within its limit at the chosen size.
        for (v, got) in victims.iter().zip(&best.victim_amounts) {
            match *v {
                VictimLimit::ExactIn { min_out, .. } => assert!(*got >= min_out),
                VictimLimit::ExactOut { max_in, .. } => assert!(*got <= max_in),
            }
        }
    }

    /// Front-runs are wei: a 20 ETH front-run is beyond `u64` and must still be found.
    #[test]
    fn front_runs_above_u64_are_sized() {
        let e18 = 10u128.pow(18);
        let pool = Pool { reserve_in: u(2000 * e18), reserve_out: u(6_000_000_000_000), fee_bps: 30 };
        let out = get_amount_out(u(30 * e18), pool.reserve_in, pool.reserve_out, 30).unwrap();
        let v = [VictimLimit::ExactIn { amount_in: u(30 * e18), min_out: out * u(98) / u(100) }];
        let best = best_sandwich(pool, &v, u(100 * e18)).unwrap();
        assert!(best.front_in > U256::from(u64::MAX));
        let hi = max_front_run(pool, &v, u(100 * e18));
        assert!(best.front_in <= hi && run(pool, &v, hi + U256::from(1u8)).is_none());
    }

    #[test]
    fn inventory_cap_binds_and_hopeless_victims_are_skipped() {
        let pool = Pool { reserve_in: u(1_000_000_000), reserve_out: u(3_000_000_000), fee_bps: 30 };
        let out = get_amount_out(u(50_000_000), pool.reserve_in, pool.reserve_out, 30).unwrap();
        let loose = [VictimLimit::ExactIn { amount_in: u(50_000_000), min_out: out * u(90) / u(100) }];
        let capped = best_sandwich(pool, &loose, u(1_000)).unwrap();
        assert!(capped.front_in <= u(1_000));
        // A victim with zero slippage tolerance leaves room for a front-run of a few raw units only
        // (rounding), which cannot pay.
        let tight = [VictimLimit::ExactIn { amount_in: u(50_000_000), min_out: out }];
        assert!(max_front_run(pool, &tight, u(1 << 40)) < u(10));
        assert!(best_sandwich(pool, &tight, u(1 << 40)).is_none());
    }
}
