//! Genesis for a DEX market on the SimChain: WETH, a USDC-like token, one Uniswap-V2-compatible
//! factory + router per venue (Uniswap-like, SushiSwap-like), a WETH/USDC pair on each seeded through
//! the router, and our searcher executor.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, SolValue};
use revm::database::DatabaseRef;

use super::contracts::{self, ITestERC20, IUniswapV2Factory, IUniswapV2Pair, IUniswapV2Router02, IWETH9};
use super::simchain::{ChainError, SimChain, actor};

#[derive(Debug, Clone)]
pub struct DexVenue {
    pub factory: Address,
    pub router: Address,
    pub pair: Address,
}

#[derive(Debug, Clone)]
pub struct DexDeployment {
    pub deployer: Address,
    pub weth: Address,
    pub usdc: Address,
    pub venues: Vec<DexVenue>,
    /// Owned by `searcher`.
    pub executor: Address,
    pub searcher: Address,
    /// The pairs' packed reserves slot (ours: 6; Uniswap V2's: 8).
    pub reserves_slot: u64,
    /// The quote token's `balanceOf` mapping slot, and whether we can mint it (our test token) or
    /// must credit balances in that mapping (a real token on a forked chain).
    pub quote_balance_slot: u64,
    pub quote_mintable: bool,
}

impl DexDeployment {
    /// The addresses a strategy needs (tokens, executor, our address, routers and pairs).
    pub fn book(&self) -> crate::core::DexBook {
        crate::core::DexBook {
            weth: self.weth,
            quote: self.usdc,
            executor: self.executor,
            searcher: self.searcher,
            pools: self.venues.iter().map(|v| (v.router, v.pair)).collect(),
        }
    }

    /// Is WETH the pair's token0 (the lower address)?
    pub fn weth_is_token0(&self) -> bool {
        self.weth < self.usdc
    }

    /// (WETH, quote) reserves of venue `v`, read from its pair's packed reserve slot.
    pub fn reserves<X: DatabaseRef>(&self, chain: &SimChain<X>, v: usize) -> (U256, U256) {
        let (r0, r1) = unpack_reserves(chain.storage_ref(self.venues[v].pair, U256::from(self.reserves_slot)));
        if self.weth_is_token0() { (r0, r1) } else { (r1, r0) }
    }

    /// A market already on a (forked) chain: its wrapped native token, quote token and
    /// Router02/pair venues, with our executor deployed there for `searcher`. The pairs' reserves
    /// slot is found against their own `getReserves`; the quote token's balance slot is given or
    /// found against its `balanceOf`.
    pub fn existing<X: DatabaseRef>(
        chain: &mut SimChain<X>,
        (weth, quote): (Address, Address),
        venues: Vec<DexVenue>,
        quote_balance_slot: Option<u64>,
        searcher: Address,
    ) -> Result<Self, ChainError> {
        let executor = chain.deploy(searcher, contracts::executor(), &[])?;
        let bad = |reason: String| ChainError::Deploy { contract: "a forked Uniswap V2 pair", reason };
        let pairs: Vec<Address> = venues.iter().map(|v| v.pair).collect();
        let reserves_slot = reserves_slot_of(chain, &pairs, searcher)?;
        let quote_balance_slot = match quote_balance_slot {
            Some(s) => s,
            None => balance_slot(chain, quote, searcher)?.ok_or_else(|| {
                bad(format!("{quote}: no slot 0..=100 is its balanceOf mapping; set quote_balance_slot"))
            })?,
        };
        Ok(DexDeployment {
            deployer: searcher,
            weth,
            usdc: quote,
            venues,
            executor,
            searcher,
            reserves_slot,
            quote_balance_slot,
            quote_mintable: false,
        })
    }
}

/// The storage slot where every one of `pairs` packs its reserves (found against `getReserves`):
/// ours 6, Uniswap V2's 8. An empty list: ours.
pub fn reserves_slot_of<X: DatabaseRef>(
    chain: &mut SimChain<X>,
    pairs: &[Address],
    caller: Address,
) -> Result<u64, ChainError> {
    let bad = |reason: String| ChainError::Deploy { contract: "a forked Uniswap V2 pair", reason };
    let mut reserves_slot = None;
    for &pair in pairs {
        let o = chain.view(caller, pair, IUniswapV2Pair::getReservesCall {}.abi_encode().into())?;
        let r = IUniswapV2Pair::getReservesCall::abi_decode_returns(&o.output)
            .map_err(|e| bad(format!("{pair}: getReserves: {e}")))?;
        let want = (U256::from(r.reserve0), U256::from(r.reserve1));
        let slot = (0..=20u64).find(|s| unpack_reserves(chain.storage_ref(pair, U256::from(*s))) == want);
        match (slot, reserves_slot) {
            (Some(s), None) => reserves_slot = Some(s),
            (Some(s), Some(t)) if s == t => {}
            _ => return Err(bad(format!("{pair}: no storage slot 0..=20 packs its reserves as the others"))),
        }
    }
    Ok(reserves_slot.unwrap_or(contracts::slots::PAIR_RESERVES))
}

/// A packed reserve slot as (reserve0, reserve1): 112 bits each.
pub fn unpack_reserves(packed: U256) -> (U256, U256) {
    let mask = (U256::from(1u8) << 112) - U256::from(1u8);
    (packed & mask, (packed >> 112) & mask)
}

/// A pair of ours: (reserve0, reserve1), read from its packed reserve slot (no call).
pub fn pair_reserves<X: DatabaseRef>(chain: &SimChain<X>, pair: Address) -> (U256, U256) {
    unpack_reserves(chain.storage_ref(pair, U256::from(contracts::slots::PAIR_RESERVES)))
}

/// The slot of `token`'s `balanceOf` mapping (Solidity layout), if one of 0..=100 is: the one whose
/// entry for `who` `balanceOf(who)` reads back. Each probe is undone.
pub fn balance_slot<X: DatabaseRef>(
    chain: &mut SimChain<X>,
    token: Address,
    who: Address,
) -> Result<Option<u64>, ChainError> {
    let marker = U256::from(0x5eed_u64) << 100;
    for slot in 0..=100u64 {
        let key = super::simchain::mapping_slot(who, slot);
        let was = chain.storage(token, key);
        chain.set_storage(token, key, marker);
        let o = chain.view(who, token, ITestERC20::balanceOfCall { owner: who }.abi_encode().into())?;
        chain.set_storage(token, key, was);
        if o.success && o.output.len() >= 32 && U256::from_be_slice(&o.output[..32]) == marker {
            return Ok(Some(slot));
        }
    }
    Ok(None)
}

/// `deployer` (holding both tokens) seeds a new `a`/`b` pool through `router` with exactly
/// `amounts` and returns the pair the factory created.
pub fn seed_pool<X: DatabaseRef>(
    chain: &mut SimChain<X>,
    deployer: Address,
    (factory, router): (Address, Address),
    (a, b): (Address, Address),
    amounts: (U256, U256),
) -> Result<Address, ChainError> {
    for token in [a, b] {
        let approve = ITestERC20::approveCall { spender: router, value: U256::MAX }.abi_encode();
        chain.call_with(deployer, token, approve.into(), U256::ZERO, 15_000_000, 0)?.require("approve")?;
    }
    let add = IUniswapV2Router02::addLiquidityCall {
        tokenA: a,
        tokenB: b,
        amountADesired: amounts.0,
        amountBDesired: amounts.1,
        amountAMin: amounts.0,
        amountBMin: amounts.1,
        to: deployer,
        deadline: U256::MAX,
    };
    chain.call_with(deployer, router, add.abi_encode().into(), U256::ZERO, 15_000_000, 0)?.require("addLiquidity")?;
    let o =
        chain.view(deployer, factory, IUniswapV2Factory::getPairCall { tokenA: a, tokenB: b }.abi_encode().into())?;
    IUniswapV2Factory::getPairCall::abi_decode_returns(&o.output)
        .map_err(|e| ChainError::Deploy { contract: "UniswapV2Factory.getPair", reason: e.to_string() })
}

impl DexDeployment {
    /// Gives `who` exactly `[wrapped base, quote, native]`: ETH set, WETH wrapped by a real deposit
    /// (the wrapper stays fully backed), quote minted. Genesis runs at base fee 0, so this costs
    /// nothing.
    pub fn fund_exactly<X: DatabaseRef>(
        &self,
        chain: &mut SimChain<X>,
        who: Address,
        amounts: [u128; 3],
    ) -> Result<(), ChainError> {
        chain.set_balance(who, U256::from(amounts[2]) + U256::from(amounts[0]));
        chain
            .call(who, self.weth, IWETH9::depositCall {}.abi_encode().into(), U256::from(amounts[0]))?
            .require("WETH9.deposit")?;
        if self.quote_mintable {
            let mint = ITestERC20::mintCall { to: who, value: U256::from(amounts[1]) }.abi_encode();
            chain.call(self.deployer, self.usdc, mint.into(), U256::ZERO)?.require("USDC.mint")?;
        } else {
            let key = super::simchain::mapping_slot(who, self.quote_balance_slot);
            let had = chain.storage(self.usdc, key);
            chain.set_storage(self.usdc, key, had + U256::from(amounts[1]));
        }
        Ok(())
    }

    /// Funds a market participant who stands for the rest of the market (victims, arbitrageurs):
    /// deep pockets in ETH, quote and WETH (wrapped by a real deposit), every router approved.
    pub fn fund_deep<X: DatabaseRef>(&self, chain: &mut SimChain<X>, who: Address) -> Result<(), ChainError> {
        let lots = U256::from(1u128 << 100);
        chain.set_balance(who, lots);
        chain.set_storage(self.usdc, super::simchain::mapping_slot(who, self.quote_balance_slot), lots);
        let wrap = U256::from(1u128 << 90);
        chain.call(who, self.weth, IWETH9::depositCall {}.abi_encode().into(), wrap)?.require("WETH9.deposit")?;
        let pairs: Vec<(Address, Address)> =
            self.venues.iter().flat_map(|v| [(self.weth, v.router), (self.usdc, v.router)]).collect();
        self.approve(chain, who, &pairs)
    }

    /// `owner` approves each `(token, spender)` pair for any amount.
    pub fn approve<X: DatabaseRef>(
        &self,
        chain: &mut SimChain<X>,
        owner: Address,
        pairs: &[(Address, Address)],
    ) -> Result<(), ChainError> {
        for &(token, spender) in pairs {
            let a = ITestERC20::approveCall { spender, value: U256::MAX }.abi_encode();
            chain.call(owner, token, a.into(), U256::ZERO)?.require("approve")?;
        }
        Ok(())
    }
}

/// Deploys everything and seeds each venue's pair with (WETH, USDC) raw `reserves`; the executor
/// belongs to a fixed test actor.
pub fn deploy_dex<X: DatabaseRef>(
    chain: &mut SimChain<X>,
    quote_decimals: u8,
    reserves: &[(U256, U256)],
) -> Result<DexDeployment, ChainError> {
    deploy_dex_for(chain, quote_decimals, reserves, actor("xcrack/searcher"))
}

/// As `deploy_dex`, with the executor owned by `searcher` (e.g. a signing wallet's address).
pub fn deploy_dex_for<X: DatabaseRef>(
    chain: &mut SimChain<X>,
    quote_decimals: u8,
    reserves: &[(U256, U256)],
    searcher: Address,
) -> Result<DexDeployment, ChainError> {
    let deployer = actor("xcrack/deployer");
    let weth_needed: U256 = reserves.iter().map(|r| r.0).fold(U256::ZERO, |a, b| a + b);
    chain.set_balance(deployer, weth_needed + U256::from(10u128.pow(24)));
    let weth = chain.deploy(deployer, contracts::weth9(), &[])?;
    let usdc_args = ("USD Coin".to_string(), "USDC".to_string(), U256::from(quote_decimals)).abi_encode_params();
    let usdc = chain.deploy(deployer, contracts::test_erc20(), &usdc_args)?;
    let call = |c: &mut SimChain<X>, to: Address, data: Vec<u8>, value: U256, what: &'static str| {
        c.call_with(deployer, to, data.into(), value, 15_000_000, 0).and_then(|o| o.require(what))
    };
    let usdc_needed: U256 = reserves.iter().map(|r| r.1).fold(U256::ZERO, |a, b| a + b);
    call(chain, weth, IWETH9::depositCall {}.abi_encode(), weth_needed, "WETH9.deposit")?;
    call(chain, usdc, ITestERC20::mintCall { to: deployer, value: usdc_needed }.abi_encode(), U256::ZERO, "USDC.mint")?;
    let mut venues = Vec::new();
    for (w, u) in reserves {
        let factory = chain.deploy(deployer, contracts::factory(), &deployer.abi_encode())?;
        let router = chain.deploy(deployer, contracts::router(), &(factory, weth).abi_encode_params())?;
        let pair = seed_pool(chain, deployer, (factory, router), (weth, usdc), (*w, *u))?;
        venues.push(DexVenue { factory, router, pair });
    }
    chain.set_balance(searcher, U256::from(10u128.pow(22)));
    let executor = chain.deploy(searcher, contracts::executor(), &[])?;
    Ok(DexDeployment {
        deployer,
        weth,
        usdc,
        venues,
        executor,
        searcher,
        reserves_slot: contracts::slots::PAIR_RESERVES,
        quote_balance_slot: contracts::slots::ERC20_BALANCES,
        quote_mintable: true,
    })
}
