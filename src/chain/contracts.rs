//! Bindings for our contracts (`contracts/src`, compiled by `contracts/build.sh` into the committed
//! `contracts/artifacts`). Cargo builds read the artifacts; node is only needed to rebuild them.

use std::sync::OnceLock;

use alloy_primitives::Bytes;
use alloy_sol_types::sol;

sol! {
    interface ITestERC20 {
        function mint(address to, uint256 value) external;
        function approve(address spender, uint256 value) external returns (bool);
        function transfer(address to, uint256 value) external returns (bool);
        function transferFrom(address from, address to, uint256 value) external returns (bool);
        function balanceOf(address owner) external view returns (uint256);
        function symbol() external view returns (string);
        event Transfer(address indexed from, address indexed to, uint256 value);
    }

    interface IWETH9 {
        function deposit() external payable;
        function withdraw(uint256 wad) external;
        function balanceOf(address owner) external view returns (uint256);
        function approve(address spender, uint256 value) external returns (bool);
        function transfer(address to, uint256 value) external returns (bool);
        event Deposit(address indexed dst, uint256 wad);
        event Withdrawal(address indexed src, uint256 wad);
    }

    interface IUniswapV2Factory {
        function createPair(address tokenA, address tokenB) external returns (address pair);
        function getPair(address tokenA, address tokenB) external view returns (address pair);
        function INIT_CODE_HASH() external view returns (bytes32);
        event PairCreated(address indexed token0, address indexed token1, address pair, uint256);
    }

    interface IUniswapV2Pair {
        function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast);
        function token0() external view returns (address);
        function token1() external view returns (address);
        function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes data) external;
        function mint(address to) external returns (uint256 liquidity);
        function burn(address to) external returns (uint256 amount0, uint256 amount1);
        function sync() external;
        function skim(address to) external;
        event Swap(address indexed sender, uint256 amount0In, uint256 amount1In, uint256 amount0Out, uint256 amount1Out, address indexed to);
        event Sync(uint112 reserve0, uint112 reserve1);
        event Mint(address indexed sender, uint256 amount0, uint256 amount1);
        event Burn(address indexed sender, uint256 amount0, uint256 amount1, address indexed to);
    }

    interface IUniswapV2Router02 {
        function factory() external view returns (address);
        function WETH() external view returns (address);
        function addLiquidity(address tokenA, address tokenB, uint256 amountADesired, uint256 amountBDesired, uint256 amountAMin, uint256 amountBMin, address to, uint256 deadline) external returns (uint256 amountA, uint256 amountB, uint256 liquidity);
        function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) external pure returns (uint256 amountOut);
        function getAmountIn(uint256 amountOut, uint256 reserveIn, uint256 reserveOut) external pure returns (uint256 amountIn);
        function getAmountsOut(uint256 amountIn, address[] path) external view returns (uint256[] amounts);
        function getAmountsIn(uint256 amountOut, address[] path) external view returns (uint256[] amounts);
        function swapExactTokensForTokens(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline) external returns (uint256[] amounts);
        function swapTokensForExactTokens(uint256 amountOut, uint256 amountInMax, address[] path, address to, uint256 deadline) external returns (uint256[] amounts);
        function swapExactETHForTokens(uint256 amountOutMin, address[] path, address to, uint256 deadline) external payable returns (uint256[] amounts);
        function swapTokensForExactETH(uint256 amountOut, uint256 amountInMax, address[] path, address to, uint256 deadline) external returns (uint256[] amounts);
        function swapExactTokensForETH(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline) external returns (uint256[] amounts);
        function swapETHForExactTokens(uint256 amountOut, address[] path, address to, uint256 deadline) external payable returns (uint256[] amounts);
    }

    interface IPriceOracle {
        function setAssetPrice(address asset, uint256 price) external;
        function getAssetPrice(address asset) external view returns (uint256);
        function owner() external view returns (address);
        event AssetPriceUpdated(address indexed asset, uint256 price, uint256 timestamp);
    }

    interface ILendingPool {
        function initReserve(address asset, uint16 ltv, uint16 liquidationThreshold, uint16 liquidationBonus, uint8 decimals) external;
        function supply(address asset, uint256 amount, address onBehalfOf, uint16 referralCode) external;
        function withdraw(address asset, uint256 amount, address to) external returns (uint256);
        function borrow(address asset, uint256 amount, uint256 interestRateMode, uint16 referralCode, address onBehalfOf) external;
        function repay(address asset, uint256 amount, uint256 interestRateMode, address onBehalfOf) external returns (uint256);
        function getUserAccountData(address user) external view returns (uint256 totalCollateralBase, uint256 totalDebtBase, uint256 availableBorrowsBase, uint256 currentLiquidationThreshold, uint256 ltv, uint256 healthFactor);
        function liquidationCall(address collateralAsset, address debtAsset, address user, uint256 debtToCover, bool receiveAToken) external;
        function calculateAvailableCollateralToLiquidate(address collateralAsset, address debtAsset, uint256 debtToCover, uint256 userCollateralBalance) external view returns (uint256 collateralAmount, uint256 debtAmountNeeded);
        function collateralOf(address user, address asset) external view returns (uint256);
        function debtOf(address user, address asset) external view returns (uint256);
        function oracle() external view returns (address);
        function reservesList(uint256 index) external view returns (address);
        function reserves(address asset) external view returns (bool active, uint16 ltv, uint16 liquidationThreshold, uint16 liquidationBonus, uint8 decimals);
        event Supply(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint16 indexed referralCode);
        event Borrow(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint8 interestRateMode, uint256 borrowRate, uint16 indexed referralCode);
        event LiquidationCall(address indexed collateralAsset, address indexed debtAsset, address indexed user, uint256 debtToCover, uint256 liquidatedCollateralAmount, address liquidator, bool receiveAToken);
    }

    interface ISearcherExecutor {
        struct Hop { address pair; address tokenIn; uint256 amountIn; uint256 amount0Out; uint256 amount1Out; address to; }
        function execute(Hop[] hops, address profitToken, uint256 minProfit, uint256 coinbasePayment) external payable;
        function withdraw(address token, address to, uint256 amount) external;
    }

    interface IFlashLiquidator {
        function liquidate(address pair, address collateral, address debt, address user, uint256 debtToCover, uint256 borrow, uint256 repayCollateral, uint256 minProfit, uint256 coinbasePayment) external payable;
        function liquidateVia(address debtPair, address collateralPair, address collateral, address debt, address user, uint256 debtToCover, uint256 borrow, uint256 repayCollateral, uint256 hubOut, uint256 minProfit, uint256 coinbasePayment) external payable;
    }
}

/// A compiled contract: creation code (constructor arguments are appended ABI-encoded).
#[derive(Debug, Clone)]
pub struct Artifact {
    pub name: &'static str,
    pub bytecode: Bytes,
    pub deployed_bytecode: Bytes,
}

macro_rules! artifact {
    ($fn_name:ident, $name:literal) => {
        pub fn $fn_name() -> &'static Artifact {
            static A: OnceLock<Artifact> = OnceLock::new();
            A.get_or_init(|| parse($name, include_str!(concat!("../../contracts/artifacts/", $name, ".json"))))
        }
    };
}

artifact!(weth9, "WETH9");
artifact!(test_erc20, "TestERC20");
artifact!(factory, "UniswapV2Factory");
artifact!(pair, "UniswapV2Pair");
artifact!(router, "UniswapV2Router02");
artifact!(executor, "SearcherExecutor");
artifact!(lending_pool, "LendingPool");
artifact!(price_oracle, "PriceOracle");
artifact!(flash_liquidator, "FlashLiquidator");

/// The artifacts are compiled into the binary by `include_str!`; a malformed one is a build defect,
/// caught by the first test that deploys it.
fn parse(name: &'static str, json: &str) -> Artifact {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("artifact {name}: {e}"));
    let hex = |k: &str| -> Bytes {
        let s = v[k].as_str().unwrap_or_else(|| panic!("artifact {name}: no {k}"));
        s.parse().unwrap_or_else(|e| panic!("artifact {name}: bad {k}: {e}"))
    };
    Artifact { name, bytecode: hex("bytecode"), deployed_bytecode: hex("deployedBytecode") }
}

/// Storage slots (from solc's storage layout) that tests and scenario setup write directly.
pub mod slots {
    /// `UniswapV2Pair`: reserve0 (112 bits) | reserve1 (112) | blockTimestampLast (32), packed.
    pub const PAIR_RESERVES: u64 = 6;
    /// `TestERC20.balanceOf` mapping.
    pub const ERC20_BALANCES: u64 = 3;
    /// `WETH9.balanceOf` mapping.
    pub const WETH_BALANCES: u64 = 3;
    /// `LendingPool.collateralOf[user][asset]` and `debtOf[user][asset]` (nested mappings).
    pub const POOL_COLLATERAL: u64 = 2;
    pub const POOL_DEBT: u64 = 3;
}
