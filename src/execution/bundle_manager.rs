//! The BundleManager: turns a sandwich plan into a signed bundle (front-run, the victims' own signed
//! transactions, back-run with the bribe) — or signs the transactions of a bundle another strategy
//! builds (liquidations) — confirms it by simulation on the chain as the target block
//! (`eth_callBundle` semantics, amounts checked to the wei against the plan), and only then sends it
//! to the relay with `eth_sendBundle`; tracks each bundle's fate. A bundle whose simulation fails is
//! never sent.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;

use crate::chain::contracts::ISearcherExecutor;
use crate::chain::world::DexDeployment;
use crate::chain::{ChainEvent, Receipt, SimChain, TxRequest, Wallet};
use crate::relay::rpc::SendBundleParams;
use crate::relay::{BundleOutcome, RelayClient};
use crate::strategies::sandwich::SandwichPlan;

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BundleStats {
    pub built: u64,
    /// Transactions signed through `sign` (strategies that build their own bundles).
    #[serde(skip_serializing_if = "is_zero")]
    pub signed: u64,
    pub simulation_failed: u64,
    pub submitted: u64,
    pub submit_failed: u64,
    pub included: u64,
    pub outbid: u64,
    pub failed: u64,
    pub expired: u64,
    /// Superseded by a newer bundle for the same pool and block (more victims, new state).
    pub replaced: u64,
    /// Withdrawn with `eth_cancelBundle` when the opportunity went away.
    pub cancelled: u64,
    /// Sent again for a later block after missing one while its victims were still pending.
    pub resubmitted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A signed bundle of ours (and others' transactions it carries).
#[derive(Clone, Debug)]
pub struct SignedBundle {
    pub txs: Vec<Bytes>,
    /// The signer of each transaction (ours, and the victims' as recovered from the mempool).
    pub senders: Vec<Address>,
    pub target_block: u64,
}

/// A bundle whose simulation passed: the only thing `submit` accepts, so a bundle that failed its
/// simulation cannot be sent.
#[derive(Clone, Debug)]
pub struct Confirmed {
    pub bundle: SignedBundle,
    pub sim: Simulated,
}

/// What the simulation of a bundle showed (our amounts already checked against the plan).
#[derive(Clone, Debug)]
pub struct Simulated {
    pub receipts: Vec<Receipt>,
    pub gas_used: u64,
}

pub struct BundleManager {
    wallet: Wallet,
    client: RelayClient,
    pub stats: BundleStats,
    chain_id: u64,
}

/// Amount in and out of `who`'s side of a pair swap, from the Swap events in `r` on `pair`.
fn swap_amounts(r: &Receipt, pair: Address, weth_is_token0: bool, sells_base: bool) -> Option<(U256, U256)> {
    r.events().into_iter().find_map(|e| match e {
        ChainEvent::Swap { pair: p, amount0_in, amount1_in, amount0_out, amount1_out, .. } if p == pair => {
            // (base in, quote in, base out, quote out)
            let (bi, qi, bo, qo) = if weth_is_token0 {
                (amount0_in, amount1_in, amount0_out, amount1_out)
            } else {
                (amount1_in, amount0_in, amount1_out, amount0_out)
            };
            Some(if sells_base { (bi, qo) } else { (qi, bo) })
        }
        _ => None,
    })
}

impl BundleManager {
    pub fn new(wallet: Wallet, client: RelayClient, chain_id: u64) -> Self {
        BundleManager { wallet, client, stats: BundleStats::default(), chain_id }
    }

    /// Signs the front-run and back-run around the victims' raw transactions for `target_block`.
    /// Nonces come from the chain (the nonce manager's source of truth between blocks).
    pub fn build(
        &mut self,
        plan: &SandwichPlan,
        dex: &DexDeployment,
        victims: &[(Bytes, Address)],
        chain: &mut SimChain,
        target_block: u64,
    ) -> Result<SignedBundle, String> {
        self.stats.built += 1;
        let pair = dex.venues[plan.pool].pair;
        let w0 = dex.weth_is_token0();
        let (token_in, token_out) = if plan.sells_base { (dex.weth, dex.usdc) } else { (dex.usdc, dex.weth) };
        // Output amounts in the pair's token0/token1 order: the output token is token0 unless the
        // input is.
        let outs = |out: U256, input_is_weth: bool| {
            let input_is_token0 = input_is_weth == w0;
            if input_is_token0 { (U256::ZERO, out) } else { (out, U256::ZERO) }
        };
        let me = self.wallet.address();
        let hop = |token: Address, amount_in: U256, out: U256, input_is_weth: bool| {
            let (a0, a1) = outs(out, input_is_weth);
            ISearcherExecutor::Hop { pair, tokenIn: token, amountIn: amount_in, amount0Out: a0, amount1Out: a1, to: me }
        };
        let r = &plan.run;
        // The front-run must buy exactly what the plan says; the back-run must return exactly the
        // planned amount and pays the bribe from the value it carries.
        let front = ISearcherExecutor::executeCall {
            hops: vec![hop(token_in, r.front_in, r.front_out, plan.sells_base)],
            profitToken: token_out,
            minProfit: r.front_out,
            coinbasePayment: U256::ZERO,
        };
        let back = ISearcherExecutor::executeCall {
            hops: vec![hop(token_out, r.front_out, r.back_out, !plan.sells_base)],
            profitToken: token_in,
            minProfit: r.back_out,
            coinbasePayment: U256::from(plan.bribe_wei),
        };
        let base_fee = u128::from(chain.base_fee());
        let tip = plan.priority_fee_wei;
        self.wallet.nonce = chain.nonce(me);
        let mut sign = |data: Vec<u8>, value: u128| {
            let req = TxRequest {
                chain_id: self.chain_id,
                to: dex.executor,
                data: data.into(),
                value: U256::from(value),
                gas_limit: plan.gas_limit,
                max_fee_per_gas: 2 * base_fee + tip,
                max_priority_fee_per_gas: tip,
            };
            self.wallet.sign(&req).map_err(|e| format!("signing: {e}"))
        };
        let (front_raw, _) = sign(front.abi_encode(), 0)?;
        let (back_raw, _) = sign(back.abi_encode(), plan.bribe_wei)?;
        let mut txs = Vec::with_capacity(victims.len() + 2);
        let mut senders = Vec::with_capacity(victims.len() + 2);
        txs.push(front_raw);
        senders.push(me);
        for (raw, from) in victims {
            txs.push(raw.clone());
            senders.push(*from);
        }
        txs.push(back_raw);
        senders.push(me);
        Ok(SignedBundle { txs, senders, target_block })
    }

    /// Simulates `b` as its target block on the current state (everything rolled back) and checks
    /// that every transaction succeeds and that our amounts equal the plan to the wei.
    pub fn simulate(
        &mut self,
        b: SignedBundle,
        plan: &SandwichPlan,
        dex: &DexDeployment,
        chain: &mut SimChain,
        timestamp: u64,
    ) -> Result<Confirmed, String> {
        self.simulate_checked(b, chain, timestamp, |receipts| {
            let pair = dex.venues[plan.pool].pair;
            let w0 = dex.weth_is_token0();
            let (front_in, _) =
                swap_amounts(&receipts[0], pair, w0, plan.sells_base).ok_or("front-run swapped nothing")?;
            let last = receipts.last().ok_or("empty bundle")?;
            let (_, back_out) = swap_amounts(last, pair, w0, !plan.sells_base).ok_or("back-run swapped nothing")?;
            if front_in != plan.run.front_in || back_out != plan.run.back_out {
                return Err(format!(
                    "simulated amounts differ from the plan: front {front_in} vs {}, back {back_out} vs {}",
                    plan.run.front_in, plan.run.back_out
                ));
            }
            Ok(())
        })
    }

    /// Simulates any bundle of ours as its target block on the current state (rolled back):
    /// every transaction must succeed and `check` must accept the receipts (the strategy's own
    /// to-the-wei comparison with its plan) before the bundle becomes `Confirmed`.
    pub fn simulate_checked(
        &mut self,
        b: SignedBundle,
        chain: &mut SimChain,
        timestamp: u64,
        check: impl FnOnce(&[Receipt]) -> Result<(), String>,
    ) -> Result<Confirmed, String> {
        let out = (|| {
            let receipts = chain
                .simulate_signed_from(&b.txs, &b.senders, b.target_block, timestamp)
                .map_err(|(i, e)| format!("tx {i}: {e}"))?;
            if let Some((i, r)) = receipts.iter().enumerate().find(|(_, r)| !r.success) {
                return Err(format!("tx {i} reverts: {}", r.revert_reason.clone().unwrap_or_default()));
            }
            check(&receipts)?;
            let gas_used = receipts.iter().map(|r| r.gas_used).sum();
            Ok(Simulated { receipts, gas_used })
        })();
        match out {
            Ok(sim) => Ok(Confirmed { bundle: b, sim }),
            Err(e) => {
                self.stats.simulation_failed += 1;
                Err(e)
            }
        }
    }

    /// Our signing address.
    pub fn address(&self) -> Address {
        self.wallet.address()
    }

    /// Takes our next nonce from the chain (the source of truth between blocks).
    pub fn sync_nonce(&mut self, chain: &mut SimChain) {
        self.wallet.nonce = chain.nonce(self.wallet.address());
    }

    /// Signs one of our transactions with the next nonce (for strategies that build their own
    /// bundles; `build` does this for sandwiches).
    pub fn sign(&mut self, req: &TxRequest) -> Result<Bytes, String> {
        self.stats.signed += 1;
        self.wallet.sign(req).map(|(raw, _)| raw).map_err(|e| format!("signing: {e}"))
    }

    /// Sends a simulated bundle to the relay for its target block.
    pub fn submit(&mut self, c: &Confirmed, replacement_uuid: Option<String>) -> Result<B256, String> {
        let b = &c.bundle;
        let p = SendBundleParams { replacement_uuid, ..SendBundleParams::for_block(b.txs.clone(), b.target_block) };
        match self.client.send_bundle(&p) {
            Ok(h) => {
                self.stats.submitted += 1;
                Ok(h)
            }
            Err(e) => {
                self.stats.submit_failed += 1;
                Err(e.to_string())
            }
        }
    }

    /// Withdraws the bundle sent under `replacement_uuid`.
    pub fn cancel(&mut self, replacement_uuid: &str) -> Result<(), String> {
        self.client.cancel_bundle(replacement_uuid).map_err(|e| e.to_string())?;
        self.stats.cancelled += 1;
        Ok(())
    }

    /// Counts a tracked bundle's final outcome.
    pub fn record(&mut self, outcome: &BundleOutcome) {
        match outcome {
            BundleOutcome::Included { .. } => self.stats.included += 1,
            BundleOutcome::Outbid { .. } => self.stats.outbid += 1,
            BundleOutcome::Failed { .. } => self.stats.failed += 1,
            BundleOutcome::Expired { .. } => self.stats.expired += 1,
            BundleOutcome::Replaced { .. } => self.stats.replaced += 1,
            BundleOutcome::Pending | BundleOutcome::Cancelled => {}
        }
    }
}

/// Our amounts in an applied bundle's receipts: (front-run in, back-run out).
pub fn realised_amounts(
    receipts: &[Receipt],
    pair: Address,
    weth_is_token0: bool,
    sells_base: bool,
) -> Option<(U256, U256)> {
    let (front_in, _) = swap_amounts(receipts.first()?, pair, weth_is_token0, sells_base)?;
    let (_, back_out) = swap_amounts(receipts.last()?, pair, weth_is_token0, !sells_base)?;
    Some((front_in, back_out))
}

/// What a victim's receipt says it paid and got on `pair`: (in, out) in its direction.
pub fn victim_amounts(r: &Receipt, pair: Address, weth_is_token0: bool, sells_base: bool) -> Option<(U256, U256)> {
    swap_amounts(r, pair, weth_is_token0, sells_base)
}
