//! The genuine Uniswap V2 market the fork tests run over: WETH9, factory and Router02 from npm
//! (`@uniswap/v2-core`, `@uniswap/v2-periphery`), our test ERC-20 as a 6-decimal USDC, and a
//! 1,000 WETH / 3,000,000 USDC pool seeded through the router; wallets that sign for themselves.

use std::net::SocketAddr;

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolCall;
use alloy_sol_types::SolValue;
use xcrack::chain::contracts::{self, ITestERC20, IUniswapV2Factory, IUniswapV2Router02 as R, IWETH9};
use xcrack::chain::{TxRequest, Wallet};

use super::anvil::{self, DEV, deploy, npm_artifact, rpc, send, send_raw};

pub const E18: u128 = 1_000_000_000_000_000_000;
pub const GWEI: u128 = 1_000_000_000;

pub struct Market {
    pub factory: Address,
    pub weth: Address,
    pub usdc: Address,
    pub router: Address,
    pub pair: Address,
}

/// The genuine contracts on anvil and a 1,000 WETH / 3,000,000 USDC pool seeded through the router.
pub fn market(node: SocketAddr) -> Option<Market> {
    let weth_code = npm_artifact("@uniswap/v2-periphery/build/WETH9.json")?;
    let pair_code = npm_artifact("@uniswap/v2-core/build/UniswapV2Pair.json")?;
    // Router02's pairFor has the mainnet pair's init-code hash built in: the npm pair is that pair.
    assert_eq!(
        alloy_primitives::keccak256(&pair_code),
        "0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f".parse::<B256>().unwrap(),
        "the npm pair's init code is mainnet's"
    );
    let weth = deploy(node, weth_code);
    let mut usdc_code = contracts::test_erc20().bytecode.to_vec();
    usdc_code.extend(("USD Coin".to_string(), "USDC".to_string(), U256::from(6u8)).abi_encode_params());
    let usdc = deploy(node, usdc_code);
    let (factory, router, pair) = venue(node, (weth, usdc), (1_000 * E18, 3_000_000 * 1_000_000u128))?;
    Some(Market { factory, weth, usdc, router, pair })
}

/// A genuine Uniswap V2 factory and Router02 of their own for `(weth, usdc)`, and their pair seeded
/// with `(rw, ru)` through the router by the dev account: (factory, router, pair).
pub fn venue(
    node: SocketAddr,
    (weth, usdc): (Address, Address),
    (rw, ru): (u128, u128),
) -> Option<(Address, Address, Address)> {
    let factory_code = npm_artifact("@uniswap/v2-core/build/UniswapV2Factory.json")?;
    let router_code = npm_artifact("@uniswap/v2-periphery/build/UniswapV2Router02.json")?;
    let dev: Address = DEV.parse().unwrap();
    let factory = deploy(node, [factory_code, dev.abi_encode()].concat());
    let router = deploy(node, [router_code, (factory, weth).abi_encode_params()].concat());
    send(node, Some(weth), IWETH9::depositCall {}.abi_encode(), rw);
    send(node, Some(usdc), ITestERC20::mintCall { to: dev, value: U256::from(ru) }.abi_encode(), 0);
    for t in [weth, usdc] {
        send(node, Some(t), ITestERC20::approveCall { spender: router, value: U256::MAX }.abi_encode(), 0);
    }
    let add = R::addLiquidityCall {
        tokenA: weth,
        tokenB: usdc,
        amountADesired: U256::from(rw),
        amountBDesired: U256::from(ru),
        amountAMin: U256::from(rw),
        amountBMin: U256::from(ru),
        to: dev,
        deadline: U256::MAX,
    };
    send(node, Some(router), add.abi_encode(), 0);
    let get = IUniswapV2Factory::getPairCall { tokenA: weth, tokenB: usdc }.abi_encode();
    let out = rpc(node, "eth_call", serde_json::json!([{"to": factory, "data": anvil::hex(&get)}, "latest"]));
    let pair = Address::from_slice(&alloy_primitives::hex::decode(&out.as_str().unwrap()[26..]).unwrap());
    Some((factory, router, pair))
}

pub fn units(amount: &str, decimals: u32) -> U256 {
    let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
    let frac = format!("{frac:0<width$}", width = decimals as usize);
    U256::from_str_radix(&format!("{int}{frac}"), 10).unwrap()
}

/// Signs and sends `data` to `to` from `w` (EIP-1559, 300k gas, max fee 100 gwei); its hash.
pub fn sign(node: SocketAddr, w: &mut Wallet, to: Address, data: Vec<u8>, value: U256, tip_gwei: u128) -> B256 {
    let req = TxRequest {
        chain_id: 31337,
        to,
        data: data.into(),
        value,
        gas_limit: 300_000,
        max_fee_per_gas: 100 * GWEI,
        max_priority_fee_per_gas: tip_gwei * GWEI,
    };
    let (raw, hash) = w.sign(&req).unwrap();
    assert_eq!(send_raw(node, &raw), hash);
    hash
}
