//! Receipt logs decoded into our event types. A log is recognised by its topic-0 signature and
//! decoded strictly; anything else (or a malformed log) stays `Other` with the raw log.

use alloy_primitives::{Address, Log, U256};
use alloy_sol_types::SolEvent;

use super::contracts::{ITestERC20, IUniswapV2Pair, IWETH9};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent {
    /// ERC-20 (or WETH) transfer by `token`.
    Transfer {
        token: Address,
        from: Address,
        to: Address,
        value: U256,
    },
    /// A pair swap; amounts in the pair's token0/token1 order.
    Swap {
        pair: Address,
        sender: Address,
        to: Address,
        amount0_in: U256,
        amount1_in: U256,
        amount0_out: U256,
        amount1_out: U256,
    },
    /// A pair's reserves after a swap, mint, burn or sync.
    Sync {
        pair: Address,
        reserve0: U256,
        reserve1: U256,
    },
    Mint {
        pair: Address,
        sender: Address,
        amount0: U256,
        amount1: U256,
    },
    Burn {
        pair: Address,
        sender: Address,
        to: Address,
        amount0: U256,
        amount1: U256,
    },
    Deposit {
        weth: Address,
        to: Address,
        value: U256,
    },
    Withdrawal {
        weth: Address,
        from: Address,
        value: U256,
    },
    Other(Log),
}

/// Decodes one log (see the module doc).
pub fn decode(log: &Log) -> ChainEvent {
    let at = log.address;
    let other = || ChainEvent::Other(log.clone());
    let Some(topic0) = log.topics().first() else { return other() };
    let data = &log.data;
    match *topic0 {
        t if t == ITestERC20::Transfer::SIGNATURE_HASH => ITestERC20::Transfer::decode_log_data(data)
            .map(|e| ChainEvent::Transfer { token: at, from: e.from, to: e.to, value: e.value })
            .unwrap_or_else(|_| other()),
        t if t == IUniswapV2Pair::Swap::SIGNATURE_HASH => IUniswapV2Pair::Swap::decode_log_data(data)
            .map(|e| ChainEvent::Swap {
                pair: at,
                sender: e.sender,
                to: e.to,
                amount0_in: e.amount0In,
                amount1_in: e.amount1In,
                amount0_out: e.amount0Out,
                amount1_out: e.amount1Out,
            })
            .unwrap_or_else(|_| other()),
        t if t == IUniswapV2Pair::Sync::SIGNATURE_HASH => IUniswapV2Pair::Sync::decode_log_data(data)
            .map(|e| ChainEvent::Sync { pair: at, reserve0: U256::from(e.reserve0), reserve1: U256::from(e.reserve1) })
            .unwrap_or_else(|_| other()),
        t if t == IUniswapV2Pair::Mint::SIGNATURE_HASH => IUniswapV2Pair::Mint::decode_log_data(data)
            .map(|e| ChainEvent::Mint { pair: at, sender: e.sender, amount0: e.amount0, amount1: e.amount1 })
            .unwrap_or_else(|_| other()),
        t if t == IUniswapV2Pair::Burn::SIGNATURE_HASH => IUniswapV2Pair::Burn::decode_log_data(data)
            .map(|e| ChainEvent::Burn { pair: at, sender: e.sender, to: e.to, amount0: e.amount0, amount1: e.amount1 })
            .unwrap_or_else(|_| other()),
        t if t == IWETH9::Deposit::SIGNATURE_HASH => IWETH9::Deposit::decode_log_data(data)
            .map(|e| ChainEvent::Deposit { weth: at, to: e.dst, value: e.wad })
            .unwrap_or_else(|_| other()),
        t if t == IWETH9::Withdrawal::SIGNATURE_HASH => IWETH9::Withdrawal::decode_log_data(data)
            .map(|e| ChainEvent::Withdrawal { weth: at, from: e.src, value: e.wad })
            .unwrap_or_else(|_| other()),
        _ => other(),
    }
}
