//! Signed transactions on the SimChain: EIP-1559 transactions signed with a generated key, applied
//! from their raw bytes with the signer recovered, nonces and chain id enforced, receipts with gas
//! and coinbase payments, and bundles applied all-or-nothing.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::{SolCall, SolValue};

use xcrack::chain::contracts::{self, ISearcherExecutor, IWETH9};
use xcrack::chain::simchain::actor;
use xcrack::chain::world::deploy_dex;
use xcrack::chain::{SimChain, TxRequest, Wallet};

const E18: u128 = 1_000_000_000_000_000_000;
const GWEI: u128 = 1_000_000_000;

fn setup() -> (SimChain, Wallet, Address, Address) {
    let mut chain = SimChain::new(1);
    let dex = deploy_dex(&mut chain, 6, &[(U256::from(100 * E18), U256::from(300_000_000_000u128))]).unwrap();
    let wallet = Wallet::derived(42, "searcher");
    chain.set_balance(wallet.address(), U256::from(10 * E18));
    // A block with a base fee and a builder to pay.
    chain.advance_block(1_700_000_012, 10 * GWEI as u64, actor("builder"));
    (chain, wallet, dex.weth, dex.usdc)
}

fn deposit(weth: Address, value: u128, max_fee: u128, tip: u128) -> TxRequest {
    TxRequest {
        chain_id: 1,
        to: weth,
        data: IWETH9::depositCall {}.abi_encode().into(),
        value: U256::from(value),
        gas_limit: 100_000,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
    }
}

fn weth_balance(chain: &mut SimChain, weth: Address, who: Address) -> U256 {
    let o = chain.view(who, weth, IWETH9::balanceOfCall { owner: who }.abi_encode().into()).unwrap();
    U256::abi_decode(&o.output).unwrap()
}

#[test]
fn derived_keys_are_deterministic_and_never_printed() {
    assert_eq!(Wallet::derived(1, "a").address(), Wallet::derived(1, "a").address());
    assert_ne!(Wallet::derived(1, "a").address(), Wallet::derived(1, "b").address());
    assert_ne!(Wallet::derived(1, "a").address(), Wallet::derived(2, "a").address());
    let shown = format!("{:?}", Wallet::derived(1, "a"));
    assert!(shown.contains("address") && !shown.to_lowercase().contains("key"), "{shown}");
}

#[test]
fn a_signed_transaction_executes_with_its_recovered_sender_and_pays_the_builder() {
    let (mut chain, mut wallet, weth, _) = setup();
    let from = wallet.address();
    let (raw, hash) = wallet.sign(&deposit(weth, E18, 30 * GWEI, 2 * GWEI)).unwrap();
    let eth_before = chain.balance(from);
    let r = chain.apply_raw(&raw).unwrap();
    assert!(r.success, "{:?}", r.revert_reason);
    assert_eq!((r.tx_hash, r.from, r.to), (hash, from, Some(weth)));
    assert!(r.gas_used > 21_000);
    assert_eq!(r.effective_gas_price, 12 * GWEI);
    assert_eq!(r.coinbase_diff, U256::from(u128::from(r.gas_used) * 2 * GWEI), "the builder earns the tip");
    assert_eq!(weth_balance(&mut chain, weth, from), U256::from(E18));
    assert_eq!(chain.balance(from), eth_before - U256::from(E18) - U256::from(u128::from(r.gas_used) * 12 * GWEI));
    assert_eq!(chain.nonce(from), 1);
    assert_eq!(r.logs.len(), 1, "WETH9 Deposit");
}

#[test]
fn replays_wrong_chains_and_underpriced_transactions_are_refused() {
    let (mut chain, mut wallet, weth, _) = setup();
    let (raw, _) = wallet.sign(&deposit(weth, E18, 30 * GWEI, GWEI)).unwrap();
    chain.apply_raw(&raw).unwrap();
    // The same bytes again: nonce already used.
    assert!(chain.apply_raw(&raw).is_err());
    let mut other = deposit(weth, E18, 30 * GWEI, GWEI);
    other.chain_id = 5;
    let (raw, _) = wallet.sign(&other).unwrap();
    let e = chain.apply_raw(&raw).unwrap_err().to_string();
    assert!(e.contains("chain id"), "{e}");
    // Max fee below the base fee.
    let mut w2 = Wallet::derived(42, "poor");
    chain.set_balance(w2.address(), U256::from(E18));
    let (raw, _) = w2.sign(&deposit(weth, 1, 5 * GWEI, GWEI)).unwrap();
    assert!(chain.apply_raw(&raw).is_err());
    assert_eq!(chain.nonce(w2.address()), 0, "an invalid transaction changes nothing");
    // Garbage.
    assert!(chain.apply_raw(&[0x02, 0x01, 0x02]).is_err());
}

#[test]
fn bundles_apply_all_or_nothing() {
    let (mut chain, mut wallet, weth, _) = setup();
    let from = wallet.address();
    let (ok, _) = wallet.sign(&deposit(weth, E18, 30 * GWEI, GWEI)).unwrap();
    // Withdrawing more than deposited reverts.
    let withdraw = TxRequest {
        chain_id: 1,
        to: weth,
        data: IWETH9::withdrawCall { wad: U256::from(5 * E18) }.abi_encode().into(),
        value: U256::ZERO,
        gas_limit: 100_000,
        max_fee_per_gas: 30 * GWEI,
        max_priority_fee_per_gas: GWEI,
    };
    let (bad, bad_hash) = wallet.sign(&withdraw).unwrap();
    let eth = chain.balance(from);
    let cp = chain.checkpoint();
    let failure = chain.apply_bundle(&[ok.clone(), bad.clone()], &[]).unwrap_err();
    assert_eq!(failure.index, 1);
    assert!(failure.reason.contains("WETH: INSUFFICIENT_BALANCE"), "{}", failure.reason);
    assert_eq!((chain.balance(from), chain.nonce(from)), (eth, 0), "nothing of the bundle remains");
    assert_eq!(weth_balance(&mut chain, weth, from), U256::ZERO);
    // Allowed to revert: the bundle lands, the revert costs only its gas.
    let receipts = chain.apply_bundle(&[ok, bad], &[bad_hash]).unwrap();
    assert_eq!(receipts.len(), 2);
    assert!(receipts[0].success && !receipts[1].success);
    assert_eq!(weth_balance(&mut chain, weth, from), U256::from(E18));
    assert_eq!(chain.nonce(from), 2);
    chain.rollback(cp).unwrap();
    assert_eq!(chain.nonce(from), 0);
}

#[test]
fn the_executor_pays_its_bribe_to_the_coinbase() {
    let (mut chain, mut wallet, _, usdc) = setup();
    let owner = wallet.address();
    let executor = chain.deploy(owner, contracts::executor(), &[]).unwrap();
    chain.set_balance(executor, U256::from(E18));
    let bribe = U256::from(E18 / 100);
    let call = ISearcherExecutor::executeCall {
        hops: vec![],
        profitToken: usdc,
        minProfit: U256::ZERO,
        coinbasePayment: bribe,
    };
    let req = TxRequest {
        chain_id: 1,
        to: executor,
        data: Bytes::from(call.abi_encode()),
        value: U256::ZERO,
        gas_limit: 200_000,
        max_fee_per_gas: 30 * GWEI,
        max_priority_fee_per_gas: 0,
    };
    wallet.nonce = chain.nonce(owner);
    let (raw, _) = wallet.sign(&req).unwrap();
    let r = chain.apply_raw(&raw).unwrap();
    assert!(r.success, "{:?}", r.revert_reason);
    assert_eq!(r.coinbase_diff, bribe, "no tip, so the builder's gain is exactly the bribe");
    // Not the owner: refused.
    let mut stranger = Wallet::derived(42, "stranger");
    chain.set_balance(stranger.address(), U256::from(E18));
    let (raw, _) = stranger.sign(&req).unwrap();
    let r = chain.apply_raw(&raw).unwrap();
    assert_eq!(r.revert_reason.as_deref(), Some("EXECUTOR: NOT_OWNER"));
}

/// Reading state (eth_call) costs nothing: an account without ETH can view at any base fee, and
/// the block's base fee is unchanged afterwards.
#[test]
fn views_do_not_need_funds() {
    let (mut chain, _, weth, _) = setup();
    let pauper = actor("pauper");
    assert_eq!(chain.balance(pauper), U256::ZERO);
    let fee = chain.base_fee();
    assert!(fee > 0);
    assert_eq!(weth_balance(&mut chain, weth, pauper), U256::ZERO);
    assert_eq!(chain.base_fee(), fee);
}
