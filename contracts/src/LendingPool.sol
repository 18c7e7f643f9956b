// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "./interfaces.sol";

/// An owner-settable price oracle with Aave's `getAssetPrice` (base currency units, 8 decimals).
contract PriceOracle {
    address public immutable owner;
    mapping(address => uint256) private prices;

    event AssetPriceUpdated(address indexed asset, uint256 price, uint256 timestamp);

    constructor() {
        owner = msg.sender;
    }

    function setAssetPrice(address asset, uint256 price) external {
        require(msg.sender == owner, "ORACLE: NOT_OWNER");
        prices[asset] = price;
        emit AssetPriceUpdated(asset, price, block.timestamp);
    }

    function getAssetPrice(address asset) external view returns (uint256) {
        return prices[asset];
    }
}

interface IPriceOracle {
    function getAssetPrice(address asset) external view returns (uint256);
}

/// A lending pool with Aave v3's external ABI for what a liquidator touches: supply, borrow, repay,
/// withdraw, getUserAccountData and liquidationCall (close factor 50 %, 100 % below HF 0.95, per-asset
/// liquidation threshold and bonus, collateral paid out directly: receiveAToken = false). Balances are
/// kept internally (no aTokens, no interest accrual, no protocol fee, variable-rate debt only); the
/// arithmetic is Aave's PercentageMath / WadRayMath, mirrored to the wei by our Rust.
contract LendingPool {
    uint256 internal constant PERCENTAGE_FACTOR = 1e4;
    uint256 internal constant HALF_PERCENTAGE_FACTOR = 0.5e4;
    uint256 internal constant WAD = 1e18;
    uint256 internal constant HALF_WAD = 0.5e18;
    uint256 public constant CLOSE_FACTOR_HF_THRESHOLD = 0.95e18;
    uint256 public constant DEFAULT_LIQUIDATION_CLOSE_FACTOR = 0.5e4;
    uint256 public constant MAX_LIQUIDATION_CLOSE_FACTOR = 1e4;
    uint256 public constant HEALTH_FACTOR_LIQUIDATION_THRESHOLD = 1e18;

    struct ReserveConfig {
        bool active;
        uint16 ltv;
        uint16 liquidationThreshold;
        uint16 liquidationBonus;
        uint8 decimals;
    }

    address public immutable owner;
    IPriceOracle public immutable oracle;
    address[] public reservesList;
    mapping(address => ReserveConfig) public reserves;
    mapping(address => mapping(address => uint256)) public collateralOf;
    mapping(address => mapping(address => uint256)) public debtOf;

    event Supply(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint16 indexed referralCode);
    event Withdraw(address indexed reserve, address indexed user, address indexed to, uint256 amount);
    event Borrow(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint8 interestRateMode, uint256 borrowRate, uint16 indexed referralCode);
    event Repay(address indexed reserve, address indexed user, address indexed repayer, uint256 amount, bool useATokens);
    event LiquidationCall(address indexed collateralAsset, address indexed debtAsset, address indexed user, uint256 debtToCover, uint256 liquidatedCollateralAmount, address liquidator, bool receiveAToken);

    constructor(address oracle_) {
        owner = msg.sender;
        oracle = IPriceOracle(oracle_);
    }

    function initReserve(address asset, uint16 ltv, uint16 liquidationThreshold, uint16 liquidationBonus, uint8 decimals)
        external
    {
        require(msg.sender == owner, "POOL: NOT_OWNER");
        require(!reserves[asset].active, "POOL: RESERVE_EXISTS");
        require(ltv <= liquidationThreshold && liquidationBonus >= PERCENTAGE_FACTOR, "POOL: BAD_CONFIG");
        reserves[asset] = ReserveConfig(true, ltv, liquidationThreshold, liquidationBonus, decimals);
        reservesList.push(asset);
    }

    function percentMul(uint256 value, uint256 percentage) internal pure returns (uint256) {
        return (value * percentage + HALF_PERCENTAGE_FACTOR) / PERCENTAGE_FACTOR;
    }

    function percentDiv(uint256 value, uint256 percentage) internal pure returns (uint256) {
        return (value * PERCENTAGE_FACTOR + percentage / 2) / percentage;
    }

    function wadDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * WAD + b / 2) / b;
    }

    function supply(address asset, uint256 amount, address onBehalfOf, uint16 referralCode) external {
        require(reserves[asset].active, "POOL: RESERVE_INACTIVE");
        require(amount != 0, "POOL: INVALID_AMOUNT");
        require(IERC20(asset).transferFrom(msg.sender, address(this), amount), "POOL: TRANSFER_FAILED");
        collateralOf[onBehalfOf][asset] += amount;
        emit Supply(asset, msg.sender, onBehalfOf, amount, referralCode);
    }

    function withdraw(address asset, uint256 amount, address to) external returns (uint256) {
        uint256 bal = collateralOf[msg.sender][asset];
        if (amount == type(uint256).max) amount = bal;
        require(amount != 0 && amount <= bal, "POOL: NOT_ENOUGH_AVAILABLE_USER_BALANCE");
        collateralOf[msg.sender][asset] = bal - amount;
        (,,,,, uint256 hf) = getUserAccountData(msg.sender);
        require(hf >= HEALTH_FACTOR_LIQUIDATION_THRESHOLD, "POOL: HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD");
        require(IERC20(asset).transfer(to, amount), "POOL: TRANSFER_FAILED");
        emit Withdraw(asset, msg.sender, to, amount);
        return amount;
    }

    function borrow(address asset, uint256 amount, uint256 interestRateMode, uint16 referralCode, address onBehalfOf)
        external
    {
        require(reserves[asset].active, "POOL: RESERVE_INACTIVE");
        require(interestRateMode == 2, "POOL: ONLY_VARIABLE_RATE");
        require(onBehalfOf == msg.sender, "POOL: NO_CREDIT_DELEGATION");
        require(amount != 0, "POOL: INVALID_AMOUNT");
        (uint256 collateral, uint256 debt,,, uint256 ltv,) = getUserAccountData(onBehalfOf);
        uint256 price = oracle.getAssetPrice(asset);
        uint256 added = (amount * price) / (10 ** reserves[asset].decimals);
        require(collateral != 0, "POOL: COLLATERAL_BALANCE_IS_ZERO");
        require(debt + added <= percentMul(collateral, ltv), "POOL: COLLATERAL_CANNOT_COVER_NEW_BORROW");
        debtOf[onBehalfOf][asset] += amount;
        require(IERC20(asset).transfer(msg.sender, amount), "POOL: TRANSFER_FAILED");
        emit Borrow(asset, msg.sender, onBehalfOf, amount, uint8(interestRateMode), 0, referralCode);
    }

    function repay(address asset, uint256 amount, uint256 interestRateMode, address onBehalfOf)
        external
        returns (uint256)
    {
        require(interestRateMode == 2, "POOL: ONLY_VARIABLE_RATE");
        uint256 debt = debtOf[onBehalfOf][asset];
        require(debt != 0, "POOL: NO_DEBT_OF_SELECTED_TYPE");
        uint256 paid = amount < debt ? amount : debt;
        debtOf[onBehalfOf][asset] = debt - paid;
        require(IERC20(asset).transferFrom(msg.sender, address(this), paid), "POOL: TRANSFER_FAILED");
        emit Repay(asset, onBehalfOf, msg.sender, paid, false);
        return paid;
    }

    /// Aave v3's account data: totals in base currency, weighted liquidation threshold and LTV (bps),
    /// and the health factor (wad; type(uint256).max without debt).
    function getUserAccountData(address user)
        public
        view
        returns (
            uint256 totalCollateralBase,
            uint256 totalDebtBase,
            uint256 availableBorrowsBase,
            uint256 currentLiquidationThreshold,
            uint256 ltv,
            uint256 healthFactor
        )
    {
        uint256 n = reservesList.length;
        for (uint256 i; i < n; i++) {
            address asset = reservesList[i];
            ReserveConfig memory c = reserves[asset];
            uint256 coll = collateralOf[user][asset];
            uint256 debt = debtOf[user][asset];
            if (coll == 0 && debt == 0) continue;
            uint256 price = oracle.getAssetPrice(asset);
            uint256 unit = 10 ** c.decimals;
            if (coll != 0) {
                uint256 base = (coll * price) / unit;
                totalCollateralBase += base;
                ltv += base * c.ltv;
                currentLiquidationThreshold += base * c.liquidationThreshold;
            }
            if (debt != 0) totalDebtBase += (debt * price) / unit;
        }
        if (totalCollateralBase != 0) {
            ltv = ltv / totalCollateralBase;
            currentLiquidationThreshold = currentLiquidationThreshold / totalCollateralBase;
        }
        healthFactor = totalDebtBase == 0
            ? type(uint256).max
            : wadDiv(percentMul(totalCollateralBase, currentLiquidationThreshold), totalDebtBase);
        uint256 capacity = percentMul(totalCollateralBase, ltv);
        availableBorrowsBase = capacity > totalDebtBase ? capacity - totalDebtBase : 0;
    }

    /// Repays up to the close factor of `user`'s `debtAsset` debt and seizes `collateralAsset` worth
    /// the repaid debt plus the reserve's liquidation bonus, paid to the caller (receiveAToken = false).
    function liquidationCall(
        address collateralAsset,
        address debtAsset,
        address user,
        uint256 debtToCover,
        bool receiveAToken
    ) external {
        require(!receiveAToken, "POOL: ATOKENS_NOT_SUPPORTED");
        (,,,,, uint256 hf) = getUserAccountData(user);
        require(hf < HEALTH_FACTOR_LIQUIDATION_THRESHOLD, "POOL: HEALTH_FACTOR_NOT_BELOW_THRESHOLD");
        uint256 userDebt = debtOf[user][debtAsset];
        uint256 userCollateral = collateralOf[user][collateralAsset];
        require(userDebt != 0, "POOL: SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER");
        require(userCollateral != 0, "POOL: COLLATERAL_CANNOT_BE_LIQUIDATED");
        uint256 closeFactor =
            hf > CLOSE_FACTOR_HF_THRESHOLD ? DEFAULT_LIQUIDATION_CLOSE_FACTOR : MAX_LIQUIDATION_CLOSE_FACTOR;
        uint256 maxDebt = percentMul(userDebt, closeFactor);
        uint256 debtAmount = debtToCover > maxDebt ? maxDebt : debtToCover;
        (uint256 collateralAmount, uint256 debtNeeded) =
            calculateAvailableCollateralToLiquidate(collateralAsset, debtAsset, debtAmount, userCollateral);
        require(collateralAmount != 0 && debtNeeded != 0, "POOL: NOTHING_TO_LIQUIDATE");
        debtOf[user][debtAsset] = userDebt - debtNeeded;
        collateralOf[user][collateralAsset] = userCollateral - collateralAmount;
        require(IERC20(debtAsset).transferFrom(msg.sender, address(this), debtNeeded), "POOL: TRANSFER_FAILED");
        require(IERC20(collateralAsset).transfer(msg.sender, collateralAmount), "POOL: TRANSFER_FAILED");
        emit LiquidationCall(collateralAsset, debtAsset, user, debtNeeded, collateralAmount, msg.sender, false);
    }

    /// Aave v3's LiquidationLogic: collateral = debt value × bonus at oracle prices, capped by what the
    /// user holds (then the debt is scaled down to match).
    function calculateAvailableCollateralToLiquidate(
        address collateralAsset,
        address debtAsset,
        uint256 debtToCover,
        uint256 userCollateralBalance
    ) public view returns (uint256 collateralAmount, uint256 debtAmountNeeded) {
        ReserveConfig memory cc = reserves[collateralAsset];
        uint256 collateralPrice = oracle.getAssetPrice(collateralAsset);
        uint256 debtPrice = oracle.getAssetPrice(debtAsset);
        uint256 collateralUnit = 10 ** cc.decimals;
        uint256 debtUnit = 10 ** reserves[debtAsset].decimals;
        uint256 baseCollateral = (debtPrice * debtToCover * collateralUnit) / (collateralPrice * debtUnit);
        uint256 maxCollateral = percentMul(baseCollateral, cc.liquidationBonus);
        if (maxCollateral > userCollateralBalance) {
            collateralAmount = userCollateralBalance;
            debtAmountNeeded =
                percentDiv((collateralPrice * collateralAmount * debtUnit) / (debtPrice * collateralUnit), cc.liquidationBonus);
        } else {
            collateralAmount = maxCollateral;
            debtAmountNeeded = debtToCover;
        }
    }
}
