//! Rival liquidators: other searchers who back-run the same oracle updates with their own signed
//! bundles on the relay, so that being outbid is something that happens on chain.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;
use rand::RngExt;

use super::lending_world::LendingWorld;
use crate::chain::contracts::ILendingPool;
use crate::chain::{TxRequest, Wallet};
use crate::relay::RelayClient;
use crate::relay::rpc::SendBundleParams;
use crate::strategies::liquidation::Choice;

/// A rival liquidator: another searcher with its own key and relay connection and deep pockets.
pub struct Rival {
    pub wallet: Wallet,
    pub client: RelayClient,
    pub rng: crate::core::rng::SimRng,
    pub probability: f64,
    pub share: (f64, f64),
    pub chain_id: u64,
    pub base_fee: u128,
}

impl Rival {
    /// With the rival's probability, sends its own bundle for `block`: the same oracle updates,
    /// then its `liquidationCall` of `user` as `c` plans it, paying a uniform share of that
    /// liquidation's gross (`to_wei` converts base units) in priority fees. Returns its hash.
    pub fn compete(
        &mut self,
        w: &LendingWorld,
        c: &Choice,
        user: Address,
        updates: &[Bytes],
        block: u64,
        to_wei: impl Fn(i128) -> u128,
    ) -> Option<B256> {
        if self.rng.random::<f64>() >= self.probability {
            return None;
        }
        let share = self.share.0 + (self.share.1 - self.share.0) * self.rng.random::<f64>();
        let gas_guess: u128 = 150_000;
        let tip = (to_wei(c.gross_base) as f64 * share) as u128 / gas_guess;
        let liq = ILendingPool::liquidationCallCall {
            collateralAsset: w.tokens[c.plan.collateral].address,
            debtAsset: w.tokens[c.plan.debt].address,
            user,
            debtToCover: c.plan.debt_to_cover,
            receiveAToken: false,
        };
        let req = TxRequest {
            chain_id: self.chain_id,
            to: w.market.pool,
            data: liq.abi_encode().into(),
            value: U256::ZERO,
            gas_limit: 400_000,
            max_fee_per_gas: 2 * self.base_fee + tip,
            max_priority_fee_per_gas: tip,
        };
        let (raw, _) = self.wallet.sign(&req).ok()?;
        let mut txs = updates.to_vec();
        txs.push(raw);
        self.client.send_bundle(&SendBundleParams::for_block(txs, block)).ok()
    }
}
