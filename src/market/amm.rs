//! Uniswap V2 constant-product math, exactly as `UniswapV2Library` computes it (integer floor, +1 on
//! amountIn), in `U256`. The EVM pair contract must agree with these to the wei.

use alloy_primitives::U256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmmError {
    #[error("UniswapV2Library: INSUFFICIENT_INPUT_AMOUNT")]
    InsufficientInputAmount,
    #[error("UniswapV2Library: INSUFFICIENT_OUTPUT_AMOUNT")]
    InsufficientOutputAmount,
    #[error("UniswapV2Library: INSUFFICIENT_LIQUIDITY")]
    InsufficientLiquidity,
    #[error("UniswapV2: OVERFLOW (reserve above 2^112 - 1)")]
    Overflow,
}

/// Liquidity a pair locks at its first mint (Uniswap V2's `MINIMUM_LIQUIDITY`).
pub const MINIMUM_LIQUIDITY: u64 = 1_000;

/// Largest reserve a V2 pair can hold (`uint112`).
pub const MAX_RESERVE: U256 = U256::from_limbs([u64::MAX, (1u64 << 48) - 1, 0, 0]);

/// `getAmountOut` with the fee in basis points (30 = 0.30 %).
#[inline]
pub fn get_amount_out(amount_in: U256, reserve_in: U256, reserve_out: U256, fee_bps: u32) -> Result<U256, AmmError> {
    if amount_in.is_zero() {
        return Err(AmmError::InsufficientInputAmount);
    }
    if reserve_in.is_zero() || reserve_out.is_zero() {
        return Err(AmmError::InsufficientLiquidity);
    }
    let gamma = U256::from(10_000 - fee_bps);
    let amount_in_with_fee = amount_in * gamma;
    let numerator = amount_in_with_fee * reserve_out;
    let denominator = reserve_in * U256::from(10_000u32) + amount_in_with_fee;
    Ok(numerator / denominator)
}

/// `getAmountIn`: the smallest input that yields at least `amount_out`.
#[inline]
pub fn get_amount_in(amount_out: U256, reserve_in: U256, reserve_out: U256, fee_bps: u32) -> Result<U256, AmmError> {
    if amount_out.is_zero() {
        return Err(AmmError::InsufficientOutputAmount);
    }
    if reserve_in.is_zero() || reserve_out.is_zero() || amount_out >= reserve_out {
        return Err(AmmError::InsufficientLiquidity);
    }
    let numerator = reserve_in * amount_out * U256::from(10_000u32);
    let denominator = (reserve_out - amount_out) * U256::from(10_000 - fee_bps);
    Ok(numerator / denominator + U256::from(1u8))
}

/// Fast path for the common case where every intermediate fits in `u128`: same results as
/// `get_amount_out`, used by searches that evaluate thousands of sizes. Falls back to `U256`.
#[inline]
pub fn get_amount_out_u128(
    amount_in: u128,
    reserve_in: u128,
    reserve_out: u128,
    fee_bps: u32,
) -> Result<u128, AmmError> {
    if amount_in == 0 {
        return Err(AmmError::InsufficientInputAmount);
    }
    if reserve_in == 0 || reserve_out == 0 {
        return Err(AmmError::InsufficientLiquidity);
    }
    let gamma = (10_000 - fee_bps) as u128;
    let fast = amount_in
        .checked_mul(gamma)
        .and_then(|with_fee| with_fee.checked_mul(reserve_out).map(|n| (with_fee, n)))
        .and_then(|(with_fee, n)| reserve_in.checked_mul(10_000).and_then(|d| d.checked_add(with_fee)).map(|d| n / d));
    match fast {
        Some(out) => Ok(out),
        None => get_amount_out(U256::from(amount_in), U256::from(reserve_in), U256::from(reserve_out), fee_bps)
            .map(|v| v.to::<u128>()),
    }
}

/// `get_amount_in` in `u128` when every intermediate fits; same results, falls back to `U256`.
#[inline]
pub fn get_amount_in_u128(
    amount_out: u128,
    reserve_in: u128,
    reserve_out: u128,
    fee_bps: u32,
) -> Result<u128, AmmError> {
    if amount_out == 0 {
        return Err(AmmError::InsufficientOutputAmount);
    }
    if reserve_in == 0 || reserve_out == 0 || amount_out >= reserve_out {
        return Err(AmmError::InsufficientLiquidity);
    }
    let gamma = (10_000 - fee_bps) as u128;
    let fast = reserve_in
        .checked_mul(amount_out)
        .and_then(|n| n.checked_mul(10_000))
        .and_then(|n| (reserve_out - amount_out).checked_mul(gamma).map(|d| n / d + 1));
    match fast {
        Some(v) => Ok(v),
        None => get_amount_in(U256::from(amount_out), U256::from(reserve_in), U256::from(reserve_out), fee_bps)
            .map(|v| v.saturating_to::<u128>()),
    }
}

/// A constant-product pool holding `base` and `quote`, both raw units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpPool {
    pub reserve_base: U256,
    pub reserve_quote: U256,
    pub fee_bps: u32,
}

impl CpPool {
    /// Quote out for selling exactly `base_in`.
    pub fn quote_out_for_base_in(&self, base_in: U256) -> Result<U256, AmmError> {
        get_amount_out(base_in, self.reserve_base, self.reserve_quote, self.fee_bps)
    }
    /// Quote in needed to buy exactly `base_out`.
    pub fn quote_in_for_base_out(&self, base_out: U256) -> Result<U256, AmmError> {
        get_amount_in(base_out, self.reserve_quote, self.reserve_base, self.fee_bps)
    }
    /// Base out for paying exactly `quote_in`.
    pub fn base_out_for_quote_in(&self, quote_in: U256) -> Result<U256, AmmError> {
        get_amount_out(quote_in, self.reserve_quote, self.reserve_base, self.fee_bps)
    }

    /// Executes a sell of `base_in`; fails (state untouched) if output is below `min_quote_out`.
    pub fn swap_base_in(&mut self, base_in: U256, min_quote_out: U256) -> Result<U256, SwapFailure> {
        let out = self.quote_out_for_base_in(base_in).map_err(SwapFailure::Math)?;
        // The pair rejects swap(0, 0): an input too small to buy one raw unit fails on chain.
        if out.is_zero() {
            return Err(SwapFailure::Math(AmmError::InsufficientOutputAmount));
        }
        if out < min_quote_out {
            return Err(SwapFailure::Slippage);
        }
        self.apply(base_in, U256::ZERO, U256::ZERO, out)?;
        Ok(out)
    }

    /// Executes a buy of exactly `base_out`; fails (state untouched) if it costs more than `max_quote_in`.
    pub fn swap_base_out(&mut self, base_out: U256, max_quote_in: U256) -> Result<U256, SwapFailure> {
        let cost = self.quote_in_for_base_out(base_out).map_err(SwapFailure::Math)?;
        if cost > max_quote_in {
            return Err(SwapFailure::Slippage);
        }
        self.apply(U256::ZERO, cost, base_out, U256::ZERO)?;
        Ok(cost)
    }

    /// Executes a sell of exactly `quote_in` for base.
    pub fn swap_quote_in(&mut self, quote_in: U256, min_base_out: U256) -> Result<U256, SwapFailure> {
        let out = self.base_out_for_quote_in(quote_in).map_err(SwapFailure::Math)?;
        if out.is_zero() {
            return Err(SwapFailure::Math(AmmError::InsufficientOutputAmount));
        }
        if out < min_base_out {
            return Err(SwapFailure::Slippage);
        }
        self.apply(U256::ZERO, quote_in, out, U256::ZERO)?;
        Ok(out)
    }

    /// What `UniswapV2Pair.swap` does with amounts fixed in advance: `*_in` already sent to the pair,
    /// `*_out` requested. Same checks, same order: output > 0, below reserves, input > 0, the K check
    /// with the 0.30 % fee, reserves within 112 bits. State is untouched on failure.
    pub fn pair_swap(
        &mut self,
        base_in: U256,
        quote_in: U256,
        base_out: U256,
        quote_out: U256,
    ) -> Result<(), SwapFailure> {
        if base_out.is_zero() && quote_out.is_zero() {
            return Err(SwapFailure::Math(AmmError::InsufficientOutputAmount));
        }
        if base_out >= self.reserve_base || quote_out >= self.reserve_quote {
            return Err(SwapFailure::Math(AmmError::InsufficientLiquidity));
        }
        if base_in.is_zero() && quote_in.is_zero() {
            return Err(SwapFailure::Math(AmmError::InsufficientInputAmount));
        }
        let k = U256::from(10_000u32);
        let fee = U256::from(self.fee_bps);
        let b = self.reserve_base + base_in - base_out;
        let q = self.reserve_quote + quote_in - quote_out;
        let adjusted = (b * k - base_in * fee).checked_mul(q * k - quote_in * fee);
        let needed = self.reserve_base * self.reserve_quote * k * k;
        match adjusted {
            Some(a) if a >= needed => self.apply(base_in, quote_in, base_out, quote_out),
            _ => Err(SwapFailure::K),
        }
    }

    fn apply(&mut self, base_in: U256, quote_in: U256, base_out: U256, quote_out: U256) -> Result<(), SwapFailure> {
        let nb = self.reserve_base + base_in - base_out;
        let nq = self.reserve_quote + quote_in - quote_out;
        if nb > MAX_RESERVE || nq > MAX_RESERVE {
            return Err(SwapFailure::Math(AmmError::Overflow));
        }
        self.reserve_base = nb;
        self.reserve_quote = nq;
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SwapFailure {
    #[error("{0}")]
    Math(AmmError),
    #[error("UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT / EXCESSIVE_INPUT_AMOUNT")]
    Slippage,
    #[error("UniswapV2: K")]
    K,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn u(x: u128) -> U256 {
        U256::from(x)
    }

    #[test]
    fn matches_hand_computed_values() {
        // 1 ETH into 2000 ETH / 6,000,000 USDC: 1e18*997*6e12 / (2000e18*1000 + 997e18)
        let out =
            get_amount_out(u(10u128.pow(18)), u(2000 * 10u128.pow(18)), u(6_000_000 * 10u128.pow(6)), 30).unwrap();
        assert_eq!(out, u(2_989_509_729));
        let back = get_amount_in(out, u(2000 * 10u128.pow(18)), u(6_000_000 * 10u128.pow(6)), 30).unwrap();
        assert!(back <= u(10u128.pow(18)));
    }

    #[test]
    fn tiny_input_rounds_to_zero_output() {
        // 1 wei of ETH buys less than one raw USDC unit: floor gives 0 (the pair would then revert).
        assert_eq!(
            get_amount_out(u(1), u(2000 * 10u128.pow(18)), u(6_000_000 * 10u128.pow(6)), 30).unwrap(),
            U256::ZERO
        );
        // 1 wei against an equal pool: 997/1000 floors to 0.
        assert_eq!(get_amount_out(u(1), u(1000), u(1000), 30).unwrap(), U256::ZERO);
        assert_eq!(get_amount_out(u(2), u(10), u(1000), 30).unwrap(), u(166));
    }

    #[test]
    fn zero_amounts_and_empty_pools_are_rejected() {
        assert_eq!(get_amount_out(U256::ZERO, u(1), u(1), 30), Err(AmmError::InsufficientInputAmount));
        assert_eq!(get_amount_in(U256::ZERO, u(1), u(1), 30), Err(AmmError::InsufficientOutputAmount));
        assert_eq!(get_amount_out(u(1), U256::ZERO, u(1), 30), Err(AmmError::InsufficientLiquidity));
    }

    #[test]
    fn cannot_drain_the_pool() {
        assert_eq!(get_amount_in(u(1000), u(1000), u(1000), 30), Err(AmmError::InsufficientLiquidity));
        assert_eq!(get_amount_in(u(1001), u(1000), u(1000), 30), Err(AmmError::InsufficientLiquidity));
        // Even an enormous input never returns the whole reserve.
        let out = get_amount_out(MAX_RESERVE, u(1), u(1000), 30).unwrap();
        assert!(out < u(1000));
    }

    #[test]
    fn amount_in_is_rounded_up() {
        // Exact division would need 1000*100*10000/((1000-100)*9970) = 11.14..; the +1 after floor gives 12.
        assert_eq!(get_amount_in(u(100), u(1000), u(1000), 30).unwrap(), u(112));
        let paid = get_amount_in(u(100), u(1000), u(1000), 30).unwrap();
        assert!(get_amount_out(paid, u(1000), u(1000), 30).unwrap() >= u(100));
    }

    #[test]
    fn slippage_limits_leave_state_untouched() {
        let mut p =
            CpPool { reserve_base: u(100 * 10u128.pow(18)), reserve_quote: u(300_000 * 10u128.pow(6)), fee_bps: 30 };
        let before = p;
        assert_eq!(p.swap_base_in(u(10u128.pow(18)), u(3_000 * 10u128.pow(6))), Err(SwapFailure::Slippage));
        assert_eq!(p, before);
        let got = p.swap_base_in(u(10u128.pow(18)), U256::ZERO).unwrap();
        assert_eq!(p.reserve_quote, before.reserve_quote - got);
        // k never decreases
        assert!(p.reserve_base * p.reserve_quote >= before.reserve_base * before.reserve_quote);
    }

    #[test]
    fn pair_swap_enforces_k_with_fee() {
        let mut p = CpPool { reserve_base: u(1_000_000), reserve_quote: u(1_000_000), fee_bps: 30 };
        let out = get_amount_out(u(1000), u(1_000_000), u(1_000_000), 30).unwrap();
        let before = p;
        assert_eq!(p.pair_swap(u(1000), U256::ZERO, U256::ZERO, out + u(1)), Err(SwapFailure::K));
        assert_eq!(p, before);
        assert_eq!(p.pair_swap(u(1000), U256::ZERO, U256::ZERO, out), Ok(()));
        assert_eq!(p.reserve_quote, u(1_000_000) - out);
        assert_eq!(
            p.pair_swap(U256::ZERO, U256::ZERO, U256::ZERO, u(1)),
            Err(SwapFailure::Math(AmmError::InsufficientInputAmount))
        );
    }

    proptest! {
        #[test]
        fn u128_fast_path_equals_u256(a in 1u128..u128::MAX >> 8, ri in 1u128..(1u128 << 112), ro in 1u128..(1u128 << 112)) {
            let slow = get_amount_out(u(a), u(ri), u(ro), 30).unwrap();
            prop_assert_eq!(U256::from(get_amount_out_u128(a, ri, ro, 30).unwrap()), slow);
        }

        #[test]
        fn u128_amount_in_equals_u256(b in 1u128..1u128 << 100, ri in 1u128..(1u128 << 112), ro in 1u128..(1u128 << 112)) {
            let slow = get_amount_in(u(b), u(ri), u(ro), 30);
            let fast = get_amount_in_u128(b, ri, ro, 30);
            prop_assert_eq!(slow.map(|v| v.saturating_to::<u128>()), fast);
        }

        #[test]
        fn amount_in_is_minimal(b in 1u128..1u128 << 60, ri in 1u128 << 20..1u128 << 100, ro in 1u128 << 61..1u128 << 100) {
            let need = get_amount_in(u(b), u(ri), u(ro), 30).unwrap();
            prop_assert!(get_amount_out(need, u(ri), u(ro), 30).unwrap() >= u(b));
            if need > u(1) {
                // One wei less may still be enough only because of the +1 in the formula; two less never is.
                prop_assert!(need < u(2) || get_amount_out(need - u(2), u(ri), u(ro), 30).unwrap() < u(b) || need - u(2) == U256::ZERO);
            }
        }
    }
}
