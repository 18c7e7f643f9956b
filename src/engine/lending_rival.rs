//! Rival liquidators: other searchers who back-run the same oracle updates with their own signed
//! bundles on the relay, so that being outbid is something that happens on chain.

use alloy_primitives::{B256, Bytes, U256};
use rand::RngExt;

use crate::chain::{TxRequest, Wallet};
use crate::core::Contest;
use crate::relay::RelayClient;
use crate::relay::rpc::SendBundleParams;

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
    /// then the contested transaction (a `liquidationCall` of the borrower we value most), paying
    /// a uniform share of what it is worth in priority fees. Returns its hash.
    pub fn compete(&mut self, contest: &Contest, updates: &[Bytes], block: u64) -> Option<B256> {
        if self.rng.random::<f64>() >= self.probability {
            return None;
        }
        let share = self.share.0 + (self.share.1 - self.share.0) * self.rng.random::<f64>();
        let gas_guess: u128 = 150_000;
        let tip = (contest.value_wei as f64 * share) as u128 / gas_guess;
        let req = TxRequest {
            chain_id: self.chain_id,
            to: contest.to,
            data: contest.data.clone(),
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
