// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20, IUniswapV2Pair} from "./interfaces.sol";

/// Our on-chain executor: performs a sequence of pair swaps atomically, reverts unless the owner's
/// profit token balance grew by at least `minProfit`, and can pay a bribe to the block's builder.
/// It holds no inventory: the first hop's input is pulled from the owner (who approved this
/// contract), the last hop pays the owner, so the owner's wallet is the searcher's one balance.
contract SearcherExecutor {
    address public immutable owner;

    /// Move `amountIn` of `tokenIn` from the owner to `pair` (0 when a previous hop already delivered
    /// it there), then call `pair.swap(amount0Out, amount1Out, to, "")`; `to` is the next pair or the
    /// owner.
    struct Hop {
        address pair;
        address tokenIn;
        uint256 amountIn;
        uint256 amount0Out;
        uint256 amount1Out;
        address to;
    }

    constructor() {
        owner = msg.sender;
    }

    receive() external payable {}

    modifier onlyOwner() {
        require(msg.sender == owner, "EXECUTOR: NOT_OWNER");
        _;
    }

    function execute(Hop[] calldata hops, address profitToken, uint256 minProfit, uint256 coinbasePayment)
        external
        payable
        onlyOwner
    {
        uint256 before = IERC20(profitToken).balanceOf(msg.sender);
        for (uint256 i; i < hops.length; i++) {
            Hop calldata h = hops[i];
            if (h.amountIn > 0) {
                require(
                    IERC20(h.tokenIn).transferFrom(msg.sender, h.pair, h.amountIn), "EXECUTOR: TRANSFER_FAILED"
                );
            }
            IUniswapV2Pair(h.pair).swap(h.amount0Out, h.amount1Out, h.to, new bytes(0));
        }
        uint256 afterBalance = IERC20(profitToken).balanceOf(msg.sender);
        require(afterBalance >= before + minProfit, "EXECUTOR: UNPROFITABLE");
        if (coinbasePayment > 0) {
            (bool ok,) = block.coinbase.call{value: coinbasePayment}("");
            require(ok, "EXECUTOR: BRIBE_FAILED");
        }
    }

    function withdraw(address token, address to, uint256 amount) external onlyOwner {
        require(IERC20(token).transfer(to, amount), "EXECUTOR: TRANSFER_FAILED");
    }

    function withdrawETH(address payable to, uint256 amount) external onlyOwner {
        (bool ok,) = to.call{value: amount}("");
        require(ok, "EXECUTOR: ETH_TRANSFER_FAILED");
    }
}
