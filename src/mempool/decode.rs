//! Pending transactions decoded into swaps: Router02 calls (all six swap methods) and direct pair
//! `swap` calls, from the raw signed bytes a mempool delivers.

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{Transaction, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::SolCall;

use crate::chain::contracts::{IUniswapV2Pair, IUniswapV2Router02 as R};

/// A signed transaction as seen in the mempool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTx {
    pub raw: Bytes,
    pub hash: B256,
    pub from: Address,
    pub to: Option<Address>,
    pub nonce: u64,
    pub value: U256,
    pub input: Bytes,
    pub gas_limit: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a signed EIP-2718 transaction: {0}")]
    Envelope(String),
    #[error("signature does not recover: {0}")]
    Signer(String),
}

impl PendingTx {
    pub fn from_raw(raw: Bytes) -> Result<Self, DecodeError> {
        let mut buf = raw.as_ref();
        let env = TxEnvelope::decode_2718(&mut buf).map_err(|e| DecodeError::Envelope(e.to_string()))?;
        let from = env.recover_signer().map_err(|e| DecodeError::Signer(e.to_string()))?;
        Ok(PendingTx {
            hash: keccak256(&raw),
            from,
            to: env.to(),
            nonce: env.nonce(),
            value: env.value(),
            input: env.input().clone(),
            gas_limit: env.gas_limit(),
            max_fee_per_gas: env.max_fee_per_gas(),
            max_priority_fee_per_gas: env.max_priority_fee_per_gas().unwrap_or(env.max_fee_per_gas()),
            raw,
        })
    }

    /// What the block's builder earns per gas from it at `base_fee`.
    pub fn effective_tip(&self, base_fee: u128) -> u128 {
        self.max_fee_per_gas.saturating_sub(base_fee).min(self.max_priority_fee_per_gas)
    }
}

/// The account a raw signed transaction calls, read without recovering its signer: the cheap
/// filter before `PendingTx::from_raw` (`None` for a contract creation or bytes that do not decode).
pub fn target_of(raw: &[u8]) -> Option<Address> {
    let mut buf = raw;
    TxEnvelope::decode_2718(&mut buf).ok()?.to()
}

/// The methods `decode_swap` reads: what the pending filter lets through to a sandwich.
pub const SWAP_SELECTORS: [[u8; 4]; 7] = [
    R::swapExactTokensForTokensCall::SELECTOR,
    R::swapTokensForExactTokensCall::SELECTOR,
    R::swapExactETHForTokensCall::SELECTOR,
    R::swapETHForExactTokensCall::SELECTOR,
    R::swapExactTokensForETHCall::SELECTOR,
    R::swapTokensForExactETHCall::SELECTOR,
    IUniswapV2Pair::swapCall::SELECTOR,
];

/// Below this gas limit no Uniswap V2 swap can run (a pair swap alone takes ~60,000 warm).
pub const MIN_SWAP_GAS: u64 = 60_000;

/// A signed transaction's nonce, read without recovering its signer (None: it does not decode).
pub fn nonce_of(raw: &[u8]) -> Option<u64> {
    let mut buf = raw;
    TxEnvelope::decode_2718(&mut buf).ok().map(|e| e.nonce())
}

/// Which Router02 method (or a direct pair call).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SwapMethod {
    ExactTokensForTokens,
    TokensForExactTokens,
    ExactEthForTokens,
    EthForExactTokens,
    ExactTokensForEth,
    TokensForExactEth,
    DirectPairSwap,
}

impl SwapMethod {
    pub const ALL: [SwapMethod; 7] = [
        SwapMethod::ExactTokensForTokens,
        SwapMethod::TokensForExactTokens,
        SwapMethod::ExactEthForTokens,
        SwapMethod::EthForExactTokens,
        SwapMethod::ExactTokensForEth,
        SwapMethod::TokensForExactEth,
        SwapMethod::DirectPairSwap,
    ];
}

/// The limit a swap carries, over its whole path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapLimit {
    ExactIn {
        amount_in: U256,
        min_out: U256,
    },
    ExactOut {
        amount_out: U256,
        max_in: U256,
    },
    /// A direct pair call names its outputs; its input was sent beforehand.
    PairOut {
        amount0_out: U256,
        amount1_out: U256,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapCall {
    pub method: SwapMethod,
    /// The router (or the pair, for a direct call).
    pub target: Address,
    /// Token path (empty for a direct pair call).
    pub path: Vec<Address>,
    pub limit: SwapLimit,
    pub recipient: Address,
    pub deadline: U256,
}

/// Decodes a call to `to` with `input` and `value` as a swap, or `None` if it is not one.
pub fn decode_swap(to: Address, input: &[u8], value: U256) -> Option<SwapCall> {
    let sel: [u8; 4] = input.get(..4)?.try_into().ok()?;
    let call =
        |method, path, limit, recipient, deadline| SwapCall { method, target: to, path, limit, recipient, deadline };
    use SwapLimit::*;
    use SwapMethod::*;
    Some(match sel {
        R::swapExactTokensForTokensCall::SELECTOR => {
            let c = R::swapExactTokensForTokensCall::abi_decode(input).ok()?;
            call(
                ExactTokensForTokens,
                c.path,
                ExactIn { amount_in: c.amountIn, min_out: c.amountOutMin },
                c.to,
                c.deadline,
            )
        }
        R::swapTokensForExactTokensCall::SELECTOR => {
            let c = R::swapTokensForExactTokensCall::abi_decode(input).ok()?;
            call(
                TokensForExactTokens,
                c.path,
                ExactOut { amount_out: c.amountOut, max_in: c.amountInMax },
                c.to,
                c.deadline,
            )
        }
        R::swapExactETHForTokensCall::SELECTOR => {
            let c = R::swapExactETHForTokensCall::abi_decode(input).ok()?;
            call(ExactEthForTokens, c.path, ExactIn { amount_in: value, min_out: c.amountOutMin }, c.to, c.deadline)
        }
        R::swapETHForExactTokensCall::SELECTOR => {
            let c = R::swapETHForExactTokensCall::abi_decode(input).ok()?;
            call(EthForExactTokens, c.path, ExactOut { amount_out: c.amountOut, max_in: value }, c.to, c.deadline)
        }
        R::swapExactTokensForETHCall::SELECTOR => {
            let c = R::swapExactTokensForETHCall::abi_decode(input).ok()?;
            call(
                ExactTokensForEth,
                c.path,
                ExactIn { amount_in: c.amountIn, min_out: c.amountOutMin },
                c.to,
                c.deadline,
            )
        }
        R::swapTokensForExactETHCall::SELECTOR => {
            let c = R::swapTokensForExactETHCall::abi_decode(input).ok()?;
            call(
                TokensForExactEth,
                c.path,
                ExactOut { amount_out: c.amountOut, max_in: c.amountInMax },
                c.to,
                c.deadline,
            )
        }
        IUniswapV2Pair::swapCall::SELECTOR => {
            let c = IUniswapV2Pair::swapCall::abi_decode(input).ok()?;
            let limit = PairOut { amount0_out: c.amount0Out, amount1_out: c.amount1Out };
            call(DirectPairSwap, Vec::new(), limit, c.to, U256::MAX)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{TxRequest, Wallet};

    #[test]
    fn every_router_method_and_a_pair_call_decode() {
        let (router, a, b, to) =
            (Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3), Address::repeat_byte(4));
        let path = vec![a, b];
        let (x, y, d) = (U256::from(1000u64), U256::from(900u64), U256::from(77u64));
        let cases: Vec<(Vec<u8>, U256, SwapMethod, SwapLimit)> = vec![
            (
                R::swapExactTokensForTokensCall { amountIn: x, amountOutMin: y, path: path.clone(), to, deadline: d }
                    .abi_encode(),
                U256::ZERO,
                SwapMethod::ExactTokensForTokens,
                SwapLimit::ExactIn { amount_in: x, min_out: y },
            ),
            (
                R::swapTokensForExactTokensCall { amountOut: y, amountInMax: x, path: path.clone(), to, deadline: d }
                    .abi_encode(),
                U256::ZERO,
                SwapMethod::TokensForExactTokens,
                SwapLimit::ExactOut { amount_out: y, max_in: x },
            ),
            (
                R::swapExactETHForTokensCall { amountOutMin: y, path: path.clone(), to, deadline: d }.abi_encode(),
                x,
                SwapMethod::ExactEthForTokens,
                SwapLimit::ExactIn { amount_in: x, min_out: y },
            ),
            (
                R::swapETHForExactTokensCall { amountOut: y, path: path.clone(), to, deadline: d }.abi_encode(),
                x,
                SwapMethod::EthForExactTokens,
                SwapLimit::ExactOut { amount_out: y, max_in: x },
            ),
            (
                R::swapExactTokensForETHCall { amountIn: x, amountOutMin: y, path: path.clone(), to, deadline: d }
                    .abi_encode(),
                U256::ZERO,
                SwapMethod::ExactTokensForEth,
                SwapLimit::ExactIn { amount_in: x, min_out: y },
            ),
            (
                R::swapTokensForExactETHCall { amountOut: y, amountInMax: x, path: path.clone(), to, deadline: d }
                    .abi_encode(),
                U256::ZERO,
                SwapMethod::TokensForExactEth,
                SwapLimit::ExactOut { amount_out: y, max_in: x },
            ),
        ];
        for (data, value, method, limit) in cases {
            let s = decode_swap(router, &data, value).unwrap();
            assert_eq!(
                (s.method, s.limit, s.path.clone(), s.recipient, s.deadline),
                (method, limit, path.clone(), to, d)
            );
        }
        let pair = IUniswapV2Pair::swapCall { amount0Out: x, amount1Out: U256::ZERO, to, data: Default::default() }
            .abi_encode();
        let s = decode_swap(router, &pair, U256::ZERO).unwrap();
        assert_eq!(s.limit, SwapLimit::PairOut { amount0_out: x, amount1_out: U256::ZERO });
        assert!(decode_swap(router, &[1, 2, 3, 4, 5], U256::ZERO).is_none());
        assert!(decode_swap(router, &data_truncated(), U256::ZERO).is_none());
    }

    fn data_truncated() -> Vec<u8> {
        let mut d = R::swapExactTokensForTokensCall {
            amountIn: U256::from(1u8),
            amountOutMin: U256::ZERO,
            path: vec![],
            to: Address::ZERO,
            deadline: U256::ZERO,
        }
        .abi_encode();
        d.truncate(40);
        d
    }

    #[test]
    fn pending_tx_recovers_sender_and_fees() {
        let mut w = Wallet::derived(3, "victim");
        let req = TxRequest {
            chain_id: 1,
            to: Address::repeat_byte(9),
            data: Bytes::from_static(&[1, 2]),
            value: U256::from(5u8),
            gas_limit: 50_000,
            max_fee_per_gas: 50,
            max_priority_fee_per_gas: 3,
        };
        let (raw, hash) = w.sign(&req).unwrap();
        let p = PendingTx::from_raw(raw).unwrap();
        assert_eq!(
            (p.from, p.hash, p.nonce, p.max_fee_per_gas, p.max_priority_fee_per_gas),
            (w.address(), hash, 0, 50, 3)
        );
        assert_eq!(p.effective_tip(48), 2);
        assert!(PendingTx::from_raw(Bytes::from_static(&[0x02, 0xc0])).is_err());
    }
}
