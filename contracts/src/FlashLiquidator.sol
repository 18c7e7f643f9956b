// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20, IUniswapV2Pair, IUniswapV2Callee} from "./interfaces.sol";

interface ILiquidationPool {
    function liquidationCall(address collateralAsset, address debtAsset, address user, uint256 debtToCover, bool receiveAToken)
        external;
}

/// Liquidates without inventory: flash-borrows the debt asset from the (collateral, debt) pair,
/// repays the borrower's debt on the lending pool, pays the pair back in the seized collateral
/// (Uniswap V2 lets a flash swap be settled in the other token), and sends the collateral left over
/// to the owner. Reverts unless that leftover is at least `minProfit`; can pay the builder.
contract FlashLiquidator is IUniswapV2Callee {
    address public immutable owner;
    address public immutable lendingPool;

    /// What the callback needs; only set between `liquidate` and its pair's callback. With
    /// `collateralPair` set, the flash pair is paid back in its other token (the hub) by selling
    /// `repayCollateral` of the collateral on `collateralPair` for `hubOut`, delivered straight to it.
    struct Job {
        address collateral;
        address debt;
        address user;
        uint256 debtToCover;
        uint256 repayCollateral;
        address collateralPair;
        uint256 hubOut;
    }

    address private activePair;

    constructor(address lendingPool_) {
        owner = msg.sender;
        lendingPool = lendingPool_;
    }

    receive() external payable {}

    /// Borrows `borrow` of `debt` from `pair`, liquidates `user` for up to `debtToCover`, repays the
    /// pair with `repayCollateral` of `collateral` (the pair's getAmountIn for `borrow`, computed off
    /// chain) and keeps the rest.
    function liquidate(
        address pair,
        address collateral,
        address debt,
        address user,
        uint256 debtToCover,
        uint256 borrow,
        uint256 repayCollateral,
        uint256 minProfit,
        uint256 coinbasePayment
    ) external payable {
        require(msg.sender == owner, "FLASH: NOT_OWNER");
        _flash(pair, Job(collateral, debt, user, debtToCover, repayCollateral, address(0), 0), borrow);
        _settle(collateral, debt, minProfit, coinbasePayment);
    }

    /// As `liquidate` when no pair holds both assets: borrows the debt from `debtPair` (debt and a
    /// hub token), and pays it back `hubOut` of the hub bought with `repayCollateral` of the seized
    /// collateral on `collateralPair` (collateral and the hub).
    function liquidateVia(
        address debtPair,
        address collateralPair,
        address collateral,
        address debt,
        address user,
        uint256 debtToCover,
        uint256 borrow,
        uint256 repayCollateral,
        uint256 hubOut,
        uint256 minProfit,
        uint256 coinbasePayment
    ) external payable {
        require(msg.sender == owner, "FLASH: NOT_OWNER");
        _flash(debtPair, Job(collateral, debt, user, debtToCover, repayCollateral, collateralPair, hubOut), borrow);
        _settle(collateral, debt, minProfit, coinbasePayment);
    }

    function _flash(address pair, Job memory j, uint256 borrow) private {
        bool debtIs0 = IUniswapV2Pair(pair).token0() == j.debt;
        activePair = pair;
        IUniswapV2Pair(pair).swap(debtIs0 ? borrow : 0, debtIs0 ? 0 : borrow, address(this), abi.encode(j));
        activePair = address(0);
    }

    /// Keeps the collateral left over (at least `minProfit`) and any unused debt tokens for the
    /// owner, then pays the builder.
    function _settle(address collateral, address debt, uint256 minProfit, uint256 coinbasePayment) private {
        uint256 left = IERC20(collateral).balanceOf(address(this));
        require(left >= minProfit, "FLASH: UNPROFITABLE");
        if (left > 0) require(IERC20(collateral).transfer(owner, left), "FLASH: TRANSFER_FAILED");
        // Debt tokens the liquidation did not use (it repays less when the collateral runs out).
        uint256 spare = IERC20(debt).balanceOf(address(this));
        if (spare > 0) require(IERC20(debt).transfer(owner, spare), "FLASH: TRANSFER_FAILED");
        if (coinbasePayment > 0) {
            (bool ok,) = block.coinbase.call{value: coinbasePayment}("");
            require(ok, "FLASH: BRIBE_FAILED");
        }
    }

    function uniswapV2Call(address sender, uint256, uint256, bytes calldata data) external override {
        require(msg.sender == activePair && sender == address(this), "FLASH: UNEXPECTED_CALLBACK");
        Job memory j = abi.decode(data, (Job));
        require(IERC20(j.debt).approve(lendingPool, j.debtToCover), "FLASH: APPROVE_FAILED");
        ILiquidationPool(lendingPool).liquidationCall(j.collateral, j.debt, j.user, j.debtToCover, false);
        if (j.collateralPair == address(0)) {
            require(IERC20(j.collateral).transfer(msg.sender, j.repayCollateral), "FLASH: REPAY_FAILED");
        } else {
            // Sell collateral for the hub on the other pair, paid straight to the flash pair.
            require(IERC20(j.collateral).transfer(j.collateralPair, j.repayCollateral), "FLASH: REPAY_FAILED");
            bool collateralIs0 = IUniswapV2Pair(j.collateralPair).token0() == j.collateral;
            IUniswapV2Pair(j.collateralPair).swap(collateralIs0 ? 0 : j.hubOut, collateralIs0 ? j.hubOut : 0, msg.sender, "");
        }
    }
}
