//! Differential test: Aave-v3 account data, close factor and liquidation amounts in Rust
//! (`market::lending`) against our `LendingPool` contract in revm, to the wei, on seeded random
//! positions across three reserves (18, 6 and 8 decimals) — dust positions and health factors on
//! both sides of 1.0 and of the 0.95 close-factor boundary included.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, SolValue};
use rand::{RngExt, SeedableRng};

use xcrack::chain::SimChain;
use xcrack::chain::contracts::{self, ILendingPool, IPriceOracle, ITestERC20, slots};
use xcrack::chain::simchain::{actor, mapping_slot};
use xcrack::market::lending::{CLOSE_FACTOR_HF_THRESHOLD, Reserve, account_data, liquidation};

struct World {
    chain: SimChain,
    deployer: Address,
    pool: Address,
    oracle: Address,
    tokens: [Address; 3],
    liquidator: Address,
}

const PARAMS: [(u16, u16, u16, u8); 3] = [(8000, 8250, 10500, 18), (7700, 8000, 10450, 6), (7000, 7500, 10650, 8)];

fn ok(c: &mut SimChain, from: Address, to: Address, data: Vec<u8>) {
    let o = c.call(from, to, data.into(), U256::ZERO).unwrap();
    assert!(o.success, "{:?}", o.revert_reason);
}

fn setup() -> World {
    let mut chain = SimChain::new(1);
    let deployer = actor("lending/deployer");
    chain.set_balance(deployer, U256::from(10u128.pow(24)));
    let names = [("Wrapped Ether", "WETH", 18u8), ("USD Coin", "USDC", 6), ("Wrapped BTC", "WBTC", 8)];
    let tokens = names.map(|(n, s, d)| {
        chain
            .deploy(
                deployer,
                contracts::test_erc20(),
                &(n.to_string(), s.to_string(), U256::from(d)).abi_encode_params(),
            )
            .unwrap()
    });
    let oracle = chain.deploy(deployer, contracts::price_oracle(), &[]).unwrap();
    let pool = chain.deploy(deployer, contracts::lending_pool(), &oracle.abi_encode()).unwrap();
    let liquidator = actor("lending/liquidator");
    for (t, (ltv, lt, bonus, dec)) in tokens.iter().zip(PARAMS) {
        ok(
            &mut chain,
            deployer,
            pool,
            ILendingPool::initReserveCall {
                asset: *t,
                ltv,
                liquidationThreshold: lt,
                liquidationBonus: bonus,
                decimals: dec,
            }
            .abi_encode(),
        );
        // The pool holds every reserve (collateral paid out); the liquidator holds every debt token.
        let lots = U256::from(1u128 << 120);
        ok(&mut chain, deployer, *t, ITestERC20::mintCall { to: pool, value: lots }.abi_encode());
        ok(&mut chain, deployer, *t, ITestERC20::mintCall { to: liquidator, value: lots }.abi_encode());
        ok(&mut chain, liquidator, *t, ITestERC20::approveCall { spender: pool, value: U256::MAX }.abi_encode());
    }
    World { chain, deployer, pool, oracle, tokens, liquidator }
}

use xcrack::chain::simchain::nested_mapping_slot as nested_slot;

impl World {
    fn set_position(&mut self, user: Address, coll: &[U256; 3], debt: &[U256; 3]) {
        for i in 0..3 {
            let t = self.tokens[i];
            self.chain.set_storage(self.pool, nested_slot(user, t, slots::POOL_COLLATERAL), coll[i]);
            self.chain.set_storage(self.pool, nested_slot(user, t, slots::POOL_DEBT), debt[i]);
        }
    }
    fn set_prices(&mut self, prices: &[U256; 3]) {
        for (asset, price) in self.tokens.into_iter().zip(prices) {
            let call = IPriceOracle::setAssetPriceCall { asset, price: *price };
            ok(&mut self.chain, self.deployer, self.oracle, call.abi_encode());
        }
    }
    fn account(&mut self, user: Address) -> [U256; 6] {
        let o = self
            .chain
            .view(user, self.pool, ILendingPool::getUserAccountDataCall { user }.abi_encode().into())
            .unwrap();
        let r = ILendingPool::getUserAccountDataCall::abi_decode_returns(&o.output).unwrap();
        [
            r.totalCollateralBase,
            r.totalDebtBase,
            r.availableBorrowsBase,
            r.currentLiquidationThreshold,
            r.ltv,
            r.healthFactor,
        ]
    }
    fn balance(&mut self, user: Address, i: usize, slot: u64) -> U256 {
        self.chain.storage(self.pool, nested_slot(user, self.tokens[i], slot))
    }
}

#[test]
fn account_data_and_liquidations_match_the_contract_to_the_wei() {
    let mut w = setup();
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(20_240_101);
    let (mut liquidated, mut refused, mut full_close, mut dust) = (0, 0, 0, 0);
    // Health factors within 0.0005 of 0.95: (above, at or below) the close-factor threshold.
    let mut near_095 = (0, 0);
    for case in 0..1_200u32 {
        let user = actor(&format!("lending/user-{case}"));
        // Prices (8 decimals): ETH 300–6,000, USDC 0.95–1.05, BTC 8,000–120,000 USD.
        let prices = [
            U256::from(rng.random_range(300u64..6_000) * 100_000_000 + rng.random_range(0..100_000_000)),
            U256::from(rng.random_range(95_000_000u64..105_000_000)),
            U256::from(rng.random_range(8_000u64..120_000) * 100_000_000 + rng.random_range(0..100_000_000)),
        ];
        w.set_prices(&prices);
        let reserves: Vec<Reserve> = PARAMS
            .iter()
            .zip(prices)
            .map(|(&(ltv, lt, bonus, dec), price)| Reserve {
                ltv,
                liquidation_threshold: lt,
                liquidation_bonus: bonus,
                decimals: dec,
                price,
            })
            .collect();
        let units = [10u128.pow(18), 10u128.pow(6), 10u128.pow(8)];
        let kind = case % 6;
        let mut coll = [U256::ZERO; 3];
        let mut debt = [U256::ZERO; 3];
        let ci = rng.random_range(0..3usize);
        let mut dj = rng.random_range(0..3usize);
        if dj == ci {
            dj = (ci + 1) % 3;
        }
        if kind == 0 {
            // Dust: a few raw units on each side.
            coll[ci] = U256::from(rng.random_range(1u64..1_000));
            debt[dj] = U256::from(rng.random_range(1u64..1_000));
            dust += 1;
        } else {
            coll[ci] = U256::from(rng.random_range(1u128..1_000) * units[ci] / 10 + rng.random_range(0..units[ci]));
            if rng.random_bool(0.3) {
                let other = (ci + 2) % 3;
                coll[other] = U256::from(rng.random_range(1u128..1_000) * units[other] / 100);
            }
            // Debt sized for a target health factor around 1 (and around 0.95 for kind 1).
            let target_hf =
                if kind == 1 { 0.95 + rng.random_range(-0.0005..0.0005) } else { rng.random_range(0.6..1.4) };
            let d0 = account_data(&reserves, &coll, &debt);
            let allowed = d0.total_collateral_base.to::<u128>() as f64
                * d0.current_liquidation_threshold.to::<u128>() as f64
                / 10_000.0;
            let debt_base = allowed / target_hf;
            let raw = debt_base * units[dj] as f64 / prices[dj].to::<u128>() as f64;
            debt[dj] = U256::from(raw.max(1.0) as u128);
        }
        w.set_position(user, &coll, &debt);
        // Account data, all six numbers.
        let d = account_data(&reserves, &coll, &debt);
        let evm = w.account(user);
        assert_eq!(
            evm,
            [
                d.total_collateral_base,
                d.total_debt_base,
                d.available_borrows_base,
                d.current_liquidation_threshold,
                d.ltv,
                d.health_factor
            ],
            "case {case}"
        );
        let hf = d.health_factor;
        if kind == 1 {
            if hf > U256::from(CLOSE_FACTOR_HF_THRESHOLD) {
                near_095.0 += 1;
            } else {
                near_095.1 += 1;
            }
        }
        // A liquidation of a random amount (or everything allowed).
        let to_cover = if rng.random_bool(0.5) {
            U256::MAX
        } else {
            debt[dj] * U256::from(rng.random_range(1u64..100)) / U256::from(100u8) + U256::from(1u8)
        };
        let expect = liquidation(&reserves, &coll, &debt, ci, dj, to_cover);
        let call = ILendingPool::liquidationCallCall {
            collateralAsset: w.tokens[ci],
            debtAsset: w.tokens[dj],
            user,
            debtToCover: to_cover,
            receiveAToken: false,
        };
        let liquidator = w.liquidator;
        let o = w.chain.call(liquidator, w.pool, call.abi_encode().into(), U256::ZERO).unwrap();
        match expect {
            Ok((seized, repaid)) => {
                assert!(o.success, "case {case}: contract refused {:?}", o.revert_reason);
                assert_eq!(w.balance(user, ci, slots::POOL_COLLATERAL), coll[ci] - seized, "case {case}");
                assert_eq!(w.balance(user, dj, slots::POOL_DEBT), debt[dj] - repaid, "case {case}");
                liquidated += 1;
                if hf <= U256::from(CLOSE_FACTOR_HF_THRESHOLD) && repaid > debt[dj] / U256::from(2u8) + U256::from(1u8)
                {
                    full_close += 1;
                }
            }
            Err(e) => {
                assert!(!o.success, "case {case}: contract liquidated what the math refuses ({e})");
                refused += 1;
            }
        }
        // Clean up so the next case's prices cannot matter to this user.
        w.set_position(user, &[U256::ZERO; 3], &[U256::ZERO; 3]);
    }
    assert!(liquidated > 300 && refused > 300, "liquidated {liquidated}, refused {refused}");
    assert!(full_close > 20 && dust >= 200, "full {full_close}, dust {dust}");
    assert!(near_095.0 > 50 && near_095.1 > 50, "either side of 0.95: {near_095:?}");
}

/// An oracle update in the mempool that makes a borrower liquidatable is back-run in the same block:
/// the bundle [the oracle's own signed update, our liquidationCall, our sale of the seized
/// collateral] goes over HTTP to the relay and lands in that order; the borrower's debt and our
/// balances move exactly as the Rust math says.
#[test]
fn an_oracle_update_is_back_run_in_the_same_block() {
    use std::sync::{Arc, Mutex};
    use xcrack::chain::{TxRequest, Wallet};
    use xcrack::relay::rpc::{SendBundleParams, quantity};
    use xcrack::relay::{BundleOutcome, Relay, RelayClient, RelayServer};
    use xcrack::strategies::liquidation::{Borrower, WatchList, best_liquidation};

    let e18 = 10u128.pow(18);
    let mut chain = SimChain::new(1);
    let mut oracle_key = Wallet::derived(3, "oracle-operator");
    let mut me = Wallet::derived(3, "liquidator");
    let owner = oracle_key.address();
    chain.set_balance(owner, U256::from(10 * e18));
    chain.set_balance(me.address(), U256::from(10 * e18));
    let dex = xcrack::chain::world::deploy_dex_for(
        &mut chain,
        6,
        &[(U256::from(5_000 * e18), U256::from(15_000_000_000_000u128))],
        me.address(),
    )
    .unwrap();
    let weth_px = U256::from(300_000_000_000u64);
    let (market, mut reserves) =
        xcrack::market::lending::deploy_market(&mut chain, owner, dex.weth, dex.usdc, 6, weth_px).unwrap();
    let (pool, oracle) = (market.pool, market.oracle);
    let lots = U256::from(1u128 << 100);
    chain.set_storage(dex.weth, mapping_slot(pool, slots::WETH_BALANCES), lots);
    chain.set_storage(dex.usdc, mapping_slot(me.address(), slots::ERC20_BALANCES), lots);
    for (token, spender) in [(dex.usdc, pool), (dex.weth, dex.venues[0].router)] {
        ok(&mut chain, me.address(), token, ITestERC20::approveCall { spender, value: U256::MAX }.abi_encode());
    }
    // A borrower at HF 1.02 with 100 WETH against USDC debt: a 3 % drop makes it liquidatable.
    let user = actor("lending/borrower");
    let (coll, debt) = (U256::from(100 * e18), U256::from((100.0 * 3000.0 * 0.825 / 1.02 * 1e6) as u128));
    chain.set_storage(pool, nested_slot(user, dex.weth, slots::POOL_COLLATERAL), coll);
    chain.set_storage(pool, nested_slot(user, dex.usdc, slots::POOL_DEBT), debt);
    chain.advance_block(1_700_000_000, 10_000_000_000, actor("builder"));
    chain.end_block();
    let borrower = Borrower { user, collateral: vec![coll, U256::ZERO], debt: vec![U256::ZERO, debt] };
    let watch = WatchList::new(&reserves, vec![borrower.clone()]);

    // The oracle operator's update arrives in the mempool: ETH 3,000 -> 2,900.
    let new_px = U256::from(290_000_000_000u64);
    let mut tx = |w: &mut Wallet, to: Address, data: Vec<u8>| {
        let req = TxRequest {
            chain_id: 1,
            to,
            data: data.into(),
            value: U256::ZERO,
            gas_limit: 400_000,
            max_fee_per_gas: 40_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
        };
        w.nonce = chain.nonce(w.address());
        w.sign(&req).unwrap().0
    };
    let update =
        tx(&mut oracle_key, oracle, IPriceOracle::setAssetPriceCall { asset: dex.weth, price: new_px }.abi_encode());
    reserves[0].price = new_px;
    assert_eq!(watch.affected(&reserves, 0, weth_px), vec![0], "the watch list flags the borrower");
    let pair_res = (U256::from(5_000 * e18), U256::from(15_000_000_000_000u128));
    let plan = best_liquidation(&reserves, &borrower, 0, 1, pair_res, 30).unwrap();
    let liq = ILendingPool::liquidationCallCall {
        collateralAsset: dex.weth,
        debtAsset: dex.usdc,
        user,
        debtToCover: plan.debt_to_cover,
        receiveAToken: false,
    };
    let sell = xcrack::chain::contracts::IUniswapV2Router02::swapExactTokensForTokensCall {
        amountIn: plan.seized,
        amountOutMin: plan.proceeds,
        path: vec![dex.weth, dex.usdc],
        to: me.address(),
        deadline: U256::MAX,
    };
    let liq_raw = tx(&mut me, pool, liq.abi_encode());
    me.nonce = chain.nonce(me.address()) + 1;
    let req = TxRequest {
        chain_id: 1,
        to: dex.venues[0].router,
        data: sell.abi_encode().into(),
        value: U256::ZERO,
        gas_limit: 400_000,
        max_fee_per_gas: 40_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
    };
    let (sell_raw, _) = me.sign(&req).unwrap();
    let usdc_before = chain.storage(dex.usdc, mapping_slot(me.address(), slots::ERC20_BALANCES));

    let relay = Arc::new(Mutex::new(Relay::new(&chain, 12)));
    let (port, _inbox) = xcrack::relay::chain_port();
    let server = RelayServer::start(relay.clone(), port, "127.0.0.1:0".parse().unwrap()).unwrap();
    let mut client = RelayClient::new(server.addr(), Wallet::derived(3, "auth"));
    let head = chain.block_number();
    let hash = client
        .send_bundle(&SendBundleParams {
            txs: vec![update, liq_raw, sell_raw],
            block_number: quantity(head + 1),
            min_timestamp: None,
            max_timestamp: None,
            reverting_tx_hashes: vec![],
            replacement_uuid: None,
            builders: vec![],
        })
        .unwrap();
    let mut r = relay.lock().unwrap();
    let build = r.build_block(&mut chain, 1_700_000_012, 10_000_000_000, actor("builder"), &[]);
    assert!(matches!(r.outcome(&hash), Some(BundleOutcome::Included { .. })));
    assert_eq!(build.number, head + 1, "the update and its back-run share the block");
    let receipts = &build.included[0].1;
    assert!(receipts.iter().all(|x| x.success));
    let c = &mut chain;
    assert_eq!(c.storage(pool, nested_slot(user, dex.usdc, slots::POOL_DEBT)), debt - plan.repaid);
    assert_eq!(c.storage(pool, nested_slot(user, dex.weth, slots::POOL_COLLATERAL)), coll - plan.seized);
    let usdc_after = c.storage(dex.usdc, mapping_slot(me.address(), slots::ERC20_BALANCES));
    assert_eq!(usdc_after - usdc_before, plan.proceeds - plan.repaid, "profit to the wei, before gas");
    assert!(plan.gross() > 0);
}

/// The flash-swap liquidation in the EVM equals its Rust plan to the wei on 300 seeded positions
/// and pools: `FlashLiquidator.liquidate` borrows exactly the repaid debt from the WETH/USDC pair,
/// the borrower loses exactly the seized collateral and repaid debt, the pair gets exactly
/// `getAmountIn` of WETH back, and our wallet keeps exactly the rest (both close factors, capped
/// collateral, shallow and deep pools).
#[test]
fn flash_swap_liquidation_equals_the_plan_to_the_wei() {
    use xcrack::chain::contracts::IFlashLiquidator;
    use xcrack::strategies::liquidation::{Borrower, best_flash};
    let e18 = 10u128.pow(18);
    let mut chain = SimChain::new(1);
    let me = actor("flash/liquidator");
    let owner = actor("flash/oracle-owner");
    let dex = xcrack::chain::world::deploy_dex_for(
        &mut chain,
        6,
        &[(U256::from(5_000 * e18), U256::from(15_000_000_000_000u128))],
        me,
    )
    .unwrap();
    let weth_px = U256::from(300_000_000_000u64);
    let (market, reserves0) =
        xcrack::market::lending::deploy_market(&mut chain, owner, dex.weth, dex.usdc, 6, weth_px).unwrap();
    let pool = market.pool;
    let flash = chain.deploy(me, contracts::flash_liquidator(), &pool.abi_encode()).unwrap();
    let pair = dex.venues[0].pair;
    chain.set_storage(dex.weth, mapping_slot(pool, slots::WETH_BALANCES), U256::from(1u128 << 100));
    let weth_is_0 = dex.weth_is_token0();
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(77);
    let (mut done, mut full_close, mut capped) = (0, 0, 0);
    for case in 0..300 {
        // ETH between 1,500 and 3,000; positions at HF 0.5–0.999; pools 50–20,000 WETH deep.
        let px = rng.random_range(1_500..3_000u64);
        let mut reserves = reserves0.clone();
        reserves[0].price = U256::from(px) * U256::from(100_000_000u64);
        ok(
            &mut chain,
            owner,
            market.oracle,
            IPriceOracle::setAssetPriceCall { asset: dex.weth, price: reserves[0].price }.abi_encode(),
        );
        let coll = rng.random_range(1..2_000u128) * e18 / 10 + rng.random_range(0..e18);
        let hf = rng.random_range(0.5..0.999);
        let debt = (coll as f64 / 1e18 * px as f64 * 0.825 / hf * 1e6) as u128;
        let user = actor(&format!("flash/borrower-{case}"));
        chain.set_storage(pool, nested_slot(user, dex.weth, slots::POOL_COLLATERAL), U256::from(coll));
        chain.set_storage(pool, nested_slot(user, dex.usdc, slots::POOL_DEBT), U256::from(debt));
        let depth = rng.random_range(50..20_000u128);
        let (rw, rq) = (U256::from(depth * e18), U256::from(depth * u128::from(px) * 1_000_000));
        let (r0, r1) = if weth_is_0 { (rw, rq) } else { (rq, rw) };
        chain.set_storage(pair, U256::from(slots::PAIR_RESERVES), r0 | (r1 << 112));
        chain.set_storage(dex.weth, mapping_slot(pair, slots::WETH_BALANCES), rw);
        chain.set_storage(dex.usdc, mapping_slot(pair, slots::ERC20_BALANCES), rq);
        let b =
            Borrower { user, collateral: vec![U256::from(coll), U256::ZERO], debt: vec![U256::ZERO, U256::from(debt)] };
        // Every case has its own borrower and resets the pair and the price: no rollback needed.
        let Some((plan, repay)) = best_flash(&reserves, &b, 0, 1, (rw, rq), 30) else { continue };
        let weth_before = chain.storage(dex.weth, mapping_slot(me, slots::WETH_BALANCES));
        let call = IFlashLiquidator::liquidateCall {
            pair,
            collateral: dex.weth,
            debt: dex.usdc,
            user,
            debtToCover: plan.debt_to_cover,
            borrow: plan.repaid,
            repayCollateral: repay,
            minProfit: plan.seized - repay,
            coinbasePayment: U256::ZERO,
        };
        let o = chain.call(me, flash, call.abi_encode().into(), U256::ZERO).unwrap();
        assert!(o.success, "case {case}: {:?}", o.revert_reason);
        let weth_after = chain.storage(dex.weth, mapping_slot(me, slots::WETH_BALANCES));
        assert_eq!(weth_after - weth_before, plan.seized - repay, "case {case}: profit");
        assert_eq!(
            chain.storage(pool, nested_slot(user, dex.weth, slots::POOL_COLLATERAL)),
            b.collateral[0] - plan.seized
        );
        assert_eq!(chain.storage(pool, nested_slot(user, dex.usdc, slots::POOL_DEBT)), b.debt[1] - plan.repaid);
        let (w_now, q_now) = dex.reserves(&chain, 0);
        assert_eq!((w_now, q_now), (rw + repay, rq - plan.repaid), "case {case}: pair reserves");
        assert_eq!(chain.storage(dex.usdc, mapping_slot(flash, slots::ERC20_BALANCES)), U256::ZERO);
        done += 1;
        full_close += usize::from(
            account_data(&reserves, &b.collateral, &b.debt).health_factor <= U256::from(CLOSE_FACTOR_HF_THRESHOLD),
        );
        capped += usize::from(plan.seized == b.collateral[0]);
    }
    assert!(done > 150 && full_close > 30 && capped > 5, "done {done}, full close {full_close}, capped {capped}");
}
