//! Our constant-product math against the genuine Uniswap V2 pair: the published factory bytecode
//! (npm `@uniswap/v2-core`, installed into `tests/node` by `.ci/run`, never copied into the repo)
//! deployed on our SimChain creates a pair of two of our test tokens; for swaps of many sizes in
//! both directions our `get_amount_out` is exactly the most the pair pays (one raw unit more fails
//! its `K` check), and the pair's reserves follow our `CpPool` to the wei.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::{SolCall, SolValue};
use xcrack::chain::contracts::{self, Artifact, ITestERC20, IUniswapV2Factory, IUniswapV2Pair};
use xcrack::chain::simchain::actor;
use xcrack::chain::{CallOutcome, SimChain};
use xcrack::market::amm::get_amount_out;

/// The factory's creation code from the npm artifact; `None` (the test is skipped) when the
/// package is not installed and this is not CI, where `.ci/run` installs it.
fn genuine_factory() -> Option<Artifact> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/node/node_modules/@uniswap/v2-core/build/UniswapV2Factory.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {} ({e}); `npm ci` in tests/node installs it", path.display());
            return None;
        }
        Err(e) => panic!("{}: {e} (.ci/run runs `npm ci` in tests/node)", path.display()),
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let hex = json["bytecode"].as_str().unwrap().trim_start_matches("0x");
    let bytecode = Bytes::from(alloy_primitives::hex::decode(hex).unwrap());
    Some(Artifact { name: "UniswapV2Factory (npm @uniswap/v2-core 1.0.1)", bytecode, deployed_bytecode: Bytes::new() })
}

fn ok(o: CallOutcome, what: &str) -> CallOutcome {
    assert!(o.success, "{what}: {:?}", o.revert_reason);
    o
}

#[test]
fn our_pool_math_is_exactly_the_genuine_uniswap_v2_pair() {
    let Some(factory_code) = genuine_factory() else { return };
    let mut chain = SimChain::new(1);
    let (deployer, trader) = (actor("deployer"), actor("trader"));
    let token = |chain: &mut SimChain, sym: &str, decimals: u8| {
        let args = (sym.to_string(), sym.to_string(), U256::from(decimals)).abi_encode_params();
        chain.deploy(deployer, contracts::test_erc20(), &args).unwrap()
    };
    let (weth, usdc) = (token(&mut chain, "WETH", 18), token(&mut chain, "USDC", 6));
    let lots = U256::from(1u128 << 100);
    for t in [weth, usdc] {
        for who in [deployer, trader] {
            let mint = ITestERC20::mintCall { to: who, value: lots }.abi_encode();
            ok(chain.call(deployer, t, mint.into(), U256::ZERO).unwrap(), "mint");
        }
    }
    let factory = chain.deploy(deployer, &factory_code, &deployer.abi_encode()).unwrap();
    let create = IUniswapV2Factory::createPairCall { tokenA: weth, tokenB: usdc }.abi_encode();
    let created = ok(chain.call(deployer, factory, create.into(), U256::ZERO).unwrap(), "createPair");
    let pair = IUniswapV2Factory::createPairCall::abi_decode_returns(&created.output).unwrap();
    let view = |chain: &mut SimChain, data: Vec<u8>| chain.view(trader, pair, data.into()).unwrap().output;
    let token0: Address =
        IUniswapV2Pair::token0Call::abi_decode_returns(&view(&mut chain, IUniswapV2Pair::token0Call {}.abi_encode()))
            .unwrap();
    let transfer = |chain: &mut SimChain, from: Address, t: Address, value: U256| {
        let data = ITestERC20::transferCall { to: pair, value }.abi_encode();
        ok(chain.call(from, t, data.into(), U256::ZERO).unwrap(), "transfer");
    };
    // 2,000 WETH against 6,000,000 USDC, minted by the deployer.
    let (mut r_weth, mut r_usdc) = (U256::from(2_000u128 * 10u128.pow(18)), U256::from(6_000_000u128 * 10u128.pow(6)));
    transfer(&mut chain, deployer, weth, r_weth);
    transfer(&mut chain, deployer, usdc, r_usdc);
    ok(
        chain.call(deployer, pair, IUniswapV2Pair::mintCall { to: deployer }.abi_encode().into(), U256::ZERO).unwrap(),
        "mint",
    );

    let sizes_weth =
        [1u128, 7, 10u128.pow(9), 10u128.pow(15), 10u128.pow(18), 37 * 10u128.pow(18), 400 * 10u128.pow(18)];
    let sizes_usdc = [1u128, 3, 1_000, 10u128.pow(6), 2_500 * 10u128.pow(6), 900_000 * 10u128.pow(6)];
    let swaps = sizes_weth.iter().map(|&a| (true, a)).chain(sizes_usdc.iter().map(|&a| (false, a)));
    let mut checked = 0;
    for (sell_weth, amount) in swaps {
        let amount = U256::from(amount);
        let (r_in, r_out) = if sell_weth { (r_weth, r_usdc) } else { (r_usdc, r_weth) };
        let expected = get_amount_out(amount, r_in, r_out, 30).unwrap_or(U256::ZERO);
        transfer(&mut chain, trader, if sell_weth { weth } else { usdc }, amount);
        let out_is_token0 = (if sell_weth { usdc } else { weth }) == token0;
        let swap = |out: U256| {
            let (a0, a1) = if out_is_token0 { (out, U256::ZERO) } else { (U256::ZERO, out) };
            IUniswapV2Pair::swapCall { amount0Out: a0, amount1Out: a1, to: trader, data: Bytes::new() }.abi_encode()
        };
        // One raw unit more than our figure breaks the pair's invariant…
        let greedy = chain.call(trader, pair, swap(expected + U256::from(1u8)).into(), U256::ZERO).unwrap();
        assert!(!greedy.success, "{amount} in: the pair paid more than {expected}");
        if expected.is_zero() {
            // Too small to buy one raw unit: the pair refuses swap(0, 0) as our math says.
            let none = chain.call(trader, pair, swap(U256::ZERO).into(), U256::ZERO).unwrap();
            assert!(!none.success);
            chain.call(trader, pair, IUniswapV2Pair::syncCall {}.abi_encode().into(), U256::ZERO).unwrap();
        } else {
            // …and our figure is paid.
            ok(chain.call(trader, pair, swap(expected).into(), U256::ZERO).unwrap(), "swap");
            checked += 1;
        }
        if sell_weth {
            (r_weth, r_usdc) = (r_weth + amount, r_usdc - expected);
        } else {
            (r_usdc, r_weth) = (r_usdc + amount, r_weth - expected);
        }
        let r = IUniswapV2Pair::getReservesCall::abi_decode_returns(&view(
            &mut chain,
            IUniswapV2Pair::getReservesCall {}.abi_encode(),
        ))
        .unwrap();
        let (r0, r1) = (U256::from(r.reserve0), U256::from(r.reserve1));
        let on_chain = if weth == token0 { (r0, r1) } else { (r1, r0) };
        assert_eq!(on_chain, (r_weth, r_usdc), "reserves after {amount} in");
    }
    assert!(checked >= 10, "{checked} swaps paid exactly our figure");
}
