//! Differential test: our Rust Uniswap V2 math against our pair and router contracts executed in revm.
//! For each seeded random case (reserves, amount, direction), including 1-wei inputs, reserves near
//! 2^112 and outputs that would drain the pool:
//! - the router's `getAmountOut` / `getAmountIn` equal the Rust functions (or both reject);
//! - the pair accepts exactly the Rust amount: swapping out `getAmountOut` succeeds and one more wei
//!   fails the K check; paying `getAmountIn` succeeds and one wei less fails;
//! - every input the pair rejects (zero output, drained pool, reserve overflow) the Rust swap
//!   rejects too.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::{SolCall, SolValue};
use rand::{RngExt, SeedableRng};

use xcrack::chain::contracts::{self, IUniswapV2Factory, IUniswapV2Pair, IUniswapV2Router02, slots};
use xcrack::chain::simchain::{actor, mapping_slot};
use xcrack::chain::{CallOutcome, SimChain};
use xcrack::market::amm::{AmmError, CpPool, MAX_RESERVE, SwapFailure, get_amount_in, get_amount_out};

struct World {
    chain: SimChain,
    router: Address,
    pair: Address,
    token0: Address,
    token1: Address,
    trader: Address,
}

fn world() -> World {
    let mut chain = SimChain::new(31337);
    let deployer = actor("deployer");
    chain.set_balance(deployer, U256::from(10u128.pow(24)));
    let erc20 = |c: &mut SimChain, sym: &str, dec: u8| {
        let args = (sym.to_string(), sym.to_string(), U256::from(dec)).abi_encode_params();
        c.deploy(deployer, contracts::test_erc20(), &args).unwrap()
    };
    let a = erc20(&mut chain, "WETHX", 18);
    let b = erc20(&mut chain, "USDC", 6);
    let weth = chain.deploy(deployer, contracts::weth9(), &[]).unwrap();
    let factory = chain.deploy(deployer, contracts::factory(), &deployer.abi_encode()).unwrap();
    let router = chain.deploy(deployer, contracts::router(), &(factory, weth).abi_encode_params()).unwrap();
    let out = chain
        .call(
            deployer,
            factory,
            IUniswapV2Factory::createPairCall { tokenA: a, tokenB: b }.abi_encode().into(),
            U256::ZERO,
        )
        .unwrap();
    assert!(out.success, "{:?}", out.revert_reason);
    let pair = IUniswapV2Factory::createPairCall::abi_decode_returns(&out.output).unwrap();
    let (token0, token1) = if a < b { (a, b) } else { (b, a) };
    let trader = actor("trader");
    chain.set_balance(trader, U256::from(10u128.pow(24)));
    World { chain, router, pair, token0, token1, trader }
}

impl World {
    /// Puts the pair in the state (reserves r0, r1; balances r0 + in0, r1 + in1) directly in storage.
    fn set_pair(&mut self, r0: U256, r1: U256, in0: U256, in1: U256) {
        let packed = r0 | (r1 << 112) | (U256::from(self.chain.timestamp() % (1 << 32)) << 224);
        self.chain.set_storage(self.pair, U256::from(slots::PAIR_RESERVES), packed);
        self.chain.set_storage(self.token0, mapping_slot(self.pair, slots::ERC20_BALANCES), r0 + in0);
        self.chain.set_storage(self.token1, mapping_slot(self.pair, slots::ERC20_BALANCES), r1 + in1);
    }

    fn swap(&mut self, out0: U256, out1: U256) -> CallOutcome {
        let data = IUniswapV2Pair::swapCall { amount0Out: out0, amount1Out: out1, to: self.trader, data: Bytes::new() }
            .abi_encode();
        self.chain.call(self.trader, self.pair, data.into(), U256::ZERO).unwrap()
    }

    fn router_view(&mut self, data: Vec<u8>) -> Result<U256, String> {
        let o = self.chain.view(self.trader, self.router, data.into()).unwrap();
        if o.success { Ok(U256::abi_decode(&o.output).unwrap()) } else { Err(o.revert_reason.unwrap_or_default()) }
    }
}

/// Log-uniform in [1, 2^bits), with the edges over-represented.
fn amount(rng: &mut impl rand::Rng, max_bits: u32) -> U256 {
    match rng.random_range(0..10) {
        0 => U256::from(1u8),
        1 => (U256::from(1u8) << max_bits) - U256::from(1u8),
        _ => {
            let bits = rng.random_range(1..=max_bits);
            let hi: U256 = U256::from(rng.random::<u128>()) << 128 | U256::from(rng.random::<u128>());
            (hi >> (256 - bits)).max(U256::from(1u8))
        }
    }
}

fn expect_reverted(o: &CallOutcome, reason: &str, ctx: &str) {
    assert!(!o.success, "{ctx}: expected revert `{reason}`, call succeeded");
    let got = o.revert_reason.clone().unwrap_or_default();
    assert!(got.contains(reason), "{ctx}: expected `{reason}`, got `{got}`");
}

#[test]
fn rust_math_equals_the_pair_contract_to_the_wei() {
    let mut w = world();
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(0x5eed);
    let max = MAX_RESERVE;
    let mut stats = [0u32; 6];
    const CASES: u32 = 10_000;
    for case in 0..CASES {
        let r_in = amount(&mut rng, 112).min(max);
        let r_out = amount(&mut rng, 112).min(max);
        let zero_for_one = rng.random::<bool>();
        let (r0, r1) = if zero_for_one { (r_in, r_out) } else { (r_out, r_in) };
        let ctx = format!("case {case}: r_in={r_in} r_out={r_out} zero_for_one={zero_for_one}");
        let outs = |o: U256| if zero_for_one { (U256::ZERO, o) } else { (o, U256::ZERO) };
        let ins = |i: U256| if zero_for_one { (i, U256::ZERO) } else { (U256::ZERO, i) };

        if case % 2 == 0 {
            // Exact input.
            let a = amount(&mut rng, 112);
            let math = get_amount_out(a, r_in, r_out, 30);
            let router = w.router_view(
                IUniswapV2Router02::getAmountOutCall { amountIn: a, reserveIn: r_in, reserveOut: r_out }.abi_encode(),
            );
            assert_eq!(math.ok(), router.ok(), "{ctx}: getAmountOut a={a}");
            let mut pool = CpPool { reserve_base: r_in, reserve_quote: r_out, fee_bps: 30 };
            let rust = pool.swap_base_in(a, U256::ZERO);
            let out = math.unwrap();
            let (i0, i1) = ins(a);
            w.set_pair(r0, r1, i0, i1);
            let (o0, o1) = outs(out);
            let chain = w.swap(o0, o1);
            match rust {
                Ok(got) => {
                    assert_eq!(got, out);
                    assert!(chain.success, "{ctx}: pair rejected the Rust amount {out}: {:?}", chain.revert_reason);
                    stats[0] += 1;
                    // One wei more than the formula is always refused.
                    w.set_pair(r0, r1, i0, i1);
                    let (o0, o1) = outs(out + U256::from(1u8));
                    let more = w.swap(o0, o1);
                    assert!(!more.success, "{ctx}: pair accepted {} > getAmountOut", out + U256::from(1u8));
                }
                Err(SwapFailure::Math(AmmError::InsufficientOutputAmount)) => {
                    expect_reverted(&chain, "INSUFFICIENT_OUTPUT_AMOUNT", &ctx);
                    stats[1] += 1;
                }
                Err(SwapFailure::Math(AmmError::Overflow)) => {
                    expect_reverted(&chain, "UniswapV2: OVERFLOW", &ctx);
                    stats[2] += 1;
                }
                Err(e) => panic!("{ctx}: unexpected Rust rejection {e:?}"),
            }
        } else {
            // Exact output, up to and beyond draining the pool.
            let b = match rng.random_range(0..8) {
                0 => r_out,
                1 => r_out - U256::from(1u8),
                _ => amount(&mut rng, 112) % r_out.max(U256::from(1u8)),
            }
            .max(U256::from(1u8));
            let math = get_amount_in(b, r_in, r_out, 30);
            let router = w.router_view(
                IUniswapV2Router02::getAmountInCall { amountOut: b, reserveIn: r_in, reserveOut: r_out }.abi_encode(),
            );
            match (&math, &router) {
                (Ok(m), Ok(r)) => assert_eq!(m, r, "{ctx}: getAmountIn b={b}"),
                // The library reverts (division by zero) where Rust refuses to drain the pool.
                (Err(AmmError::InsufficientLiquidity), Err(_)) => {}
                other => panic!("{ctx}: getAmountIn b={b} disagrees: {other:?}"),
            }
            let (o0, o1) = outs(b);
            match math {
                Ok(need) => {
                    let mut pool = CpPool { reserve_base: r_out, reserve_quote: r_in, fee_bps: 30 };
                    let rust = pool.swap_base_out(b, U256::MAX);
                    let (i0, i1) = ins(need);
                    w.set_pair(r0, r1, i0, i1);
                    let chain = w.swap(o0, o1);
                    match rust {
                        Ok(paid) => {
                            assert_eq!(paid, need);
                            assert!(
                                chain.success,
                                "{ctx}: pair rejected paying getAmountIn={need}: {:?}",
                                chain.revert_reason
                            );
                            stats[3] += 1;
                            if need > U256::from(1u8) {
                                let (i0, i1) = ins(need - U256::from(1u8));
                                w.set_pair(r0, r1, i0, i1);
                                let less = w.swap(o0, o1);
                                assert!(!less.success, "{ctx}: pair accepted one wei less than getAmountIn");
                            }
                        }
                        Err(SwapFailure::Math(AmmError::Overflow)) => {
                            expect_reverted(&chain, "UniswapV2: OVERFLOW", &ctx);
                            stats[4] += 1;
                        }
                        Err(e) => panic!("{ctx}: unexpected Rust rejection {e:?}"),
                    }
                }
                Err(AmmError::InsufficientLiquidity) => {
                    // Asking for the whole reserve: the pair refuses whatever is paid.
                    w.set_pair(r0, r1, U256::ZERO, U256::ZERO);
                    let chain = w.swap(o0, o1);
                    expect_reverted(&chain, "INSUFFICIENT_LIQUIDITY", &ctx);
                    stats[5] += 1;
                }
                Err(e) => panic!("{ctx}: unexpected {e:?}"),
            }
        }
    }
    eprintln!(
        "cases: exact-in ok {}, zero output {}, overflow {}; exact-out ok {}, overflow {}, drain {}",
        stats[0], stats[1], stats[2], stats[3], stats[4], stats[5]
    );
    // Every kind of case was exercised.
    assert!(stats.iter().all(|n| *n > 0), "case mix: {stats:?}");
    assert_eq!(stats.iter().sum::<u32>(), CASES);
}
