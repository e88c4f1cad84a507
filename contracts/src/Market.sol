// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {FileRegistry, IListingHook} from "./FileRegistry.sol";

/// @title Market: sell read access to registered files.
/// @notice The owner of a file lists it for a price in the native coin (token = address(0)) or
/// an ERC-20, as a permanent purchase (duration 0) or a time-limited pass. The revenue is split
/// among payees in basis points that add up to 10 000. `buy` names every term the buyer agreed
/// to (token, price, duration), takes exactly the price, records the purchase in the
/// FileRegistry (passes stack, a second permanent purchase is refused) and pays the platform fee
/// and the payees in the same transaction. A payee that cannot take a payment within
/// `PAYOUT_GAS` (a contract that rejects ether, a failing token) is credited instead and
/// withdraws later, to itself or to an address it names, so one bad payee cannot block sales.
contract Market is IListingHook {
    struct Payee {
        address account;
        uint16 bps;
    }

    struct Listing {
        address seller;
        address token;
        uint256 price;
        uint64 duration;
        bool active;
    }

    uint16 public constant MAX_PAYEES = 16;
    uint16 public constant MAX_FEE_BPS = 2_000;
    /// Gas a native-coin payee gets to receive a payment: enough for a contract wallet (a proxy
    /// that logs), too little to re-enter anything or to burn the buyer's gas. A payee that
    /// needs more is credited and withdraws.
    uint256 public constant PAYOUT_GAS = 30_000;

    FileRegistry public immutable registry;
    uint16 public immutable feeBps;
    address public immutable feeRecipient;

    mapping(bytes32 => Listing) private listings;
    mapping(bytes32 => Payee[]) private splits;
    /// token (address(0) = native) => account => amount credited after a failed payment.
    mapping(address => mapping(address => uint256)) public owed;
    uint256 private locked = 1;

    /// The whole listing, so an indexer needs no call to know who is paid.
    event Listed(bytes32 indexed fileId, address indexed seller, address indexed token, uint256 price, uint64 duration, Payee[] payees);
    /// Also emitted when an ownership transfer ends the listing.
    event Delisted(bytes32 indexed fileId, address indexed seller);
    event PriceChanged(bytes32 indexed fileId, uint256 price);
    /// `expiry` is the one that took effect (0 = permanent), renewals included.
    event Purchased(bytes32 indexed fileId, address indexed buyer, address indexed token, uint256 price, uint64 expiry);
    event Paid(bytes32 indexed fileId, address indexed payee, address indexed token, uint256 amount);
    event PaymentDeferred(bytes32 indexed fileId, address indexed payee, address indexed token, uint256 amount);
    event Withdrawn(address indexed account, address indexed token, address to, uint256 amount);

    error NotFileOwner(bytes32 fileId, address caller);
    error NotSeller(bytes32 fileId, address caller);
    error NotListed(bytes32 fileId);
    error WrongToken(address expected, address given);
    error WrongPrice(uint256 expected, uint256 given);
    error WrongDuration(uint64 expected, uint64 given);
    error WrongPayment(uint256 expected, uint256 given);
    error SplitDoesNotAddUp(uint256 totalBps);
    error BadPayees();
    error ZeroPrice();
    error FeeTooHigh(uint16 feeBps);
    error NoFeeRecipient();
    error Reentrancy();
    error NotAToken(address token);
    error TokenTransferFailed(address token);
    error TokenAmountMismatch(uint256 expected, uint256 received);
    error NothingOwed();
    error InvalidRecipient();
    error WithdrawFailed();
    error NotRegistry(address caller);

    modifier nonReentrant() {
        if (locked != 1) revert Reentrancy();
        locked = 2;
        _;
        locked = 1;
    }

    constructor(FileRegistry registry_, uint16 feeBps_, address feeRecipient_) {
        if (feeBps_ > MAX_FEE_BPS) revert FeeTooHigh(feeBps_);
        if (feeBps_ != 0 && feeRecipient_ == address(0)) revert NoFeeRecipient();
        registry = registry_;
        feeBps = feeBps_;
        feeRecipient = feeRecipient_;
    }

    function listingOf(bytes32 fileId) external view returns (Listing memory listing, Payee[] memory payees) {
        return (listings[fileId], splits[fileId]);
    }

    /// Lists (or re-lists) a file the caller owns. A public file cannot be listed.
    function list(bytes32 fileId, address token, uint256 price, uint64 duration, Payee[] calldata payees) external nonReentrant {
        if (registry.ownerOf(fileId) != msg.sender) revert NotFileOwner(fileId, msg.sender);
        if (price == 0) revert ZeroPrice();
        // A token must at least answer balanceOf (no code, or a fallback that answers nothing, is refused).
        if (token != address(0)) _balanceOf(token);
        if (payees.length == 0 || payees.length > MAX_PAYEES) revert BadPayees();
        uint256 total;
        delete splits[fileId];
        for (uint256 i = 0; i < payees.length; ++i) {
            if (payees[i].account == address(0) || payees[i].bps == 0) revert BadPayees();
            total += payees[i].bps;
            splits[fileId].push(payees[i]);
        }
        if (total != 10_000) revert SplitDoesNotAddUp(total);
        listings[fileId] = Listing(msg.sender, token, price, duration, true);
        registry.enableMarket(fileId, msg.sender, true);
        emit Listed(fileId, msg.sender, token, price, duration, payees);
    }

    function delist(bytes32 fileId) external nonReentrant {
        Listing storage l = listings[fileId];
        if (!l.active) revert NotListed(fileId);
        if (l.seller != msg.sender) revert NotSeller(fileId, msg.sender);
        l.active = false;
        registry.enableMarket(fileId, msg.sender, false);
        emit Delisted(fileId, msg.sender);
    }

    /// The registry reports that a listed file changed hands: its listing ends.
    function ownershipTransferred(bytes32 fileId) external nonReentrant {
        if (msg.sender != address(registry)) revert NotRegistry(msg.sender);
        Listing storage l = listings[fileId];
        if (!l.active) return;
        l.active = false;
        emit Delisted(fileId, l.seller);
    }

    function setPrice(bytes32 fileId, uint256 price) external nonReentrant {
        Listing storage l = listings[fileId];
        if (!l.active) revert NotListed(fileId);
        if (l.seller != msg.sender) revert NotSeller(fileId, msg.sender);
        if (price == 0) revert ZeroPrice();
        l.price = price;
        emit PriceChanged(fileId, price);
    }

    /// Buys read access. `token`, `price` and `duration` must match the listing, so no change
    /// between signing and mining can charge more or sell less; native payments must be exactly
    /// `price`, and an ERC-20 must deliver exactly `price` (fee-on-transfer tokens are refused).
    /// Returns the expiry that took effect (0 = permanent).
    function buy(bytes32 fileId, address token, uint256 price, uint64 duration)
        external
        payable
        nonReentrant
        returns (uint64 expiry)
    {
        Listing memory l = listings[fileId];
        if (!l.active) revert NotListed(fileId);
        if (token != l.token) revert WrongToken(l.token, token);
        if (price != l.price) revert WrongPrice(l.price, price);
        if (duration != l.duration) revert WrongDuration(l.duration, duration);
        if (token == address(0)) {
            if (msg.value != price) revert WrongPayment(price, msg.value);
        } else {
            if (msg.value != 0) revert WrongPayment(0, msg.value);
            uint256 before = _balanceOf(token);
            if (!_tokenCall(token, abi.encodeCall(IERC20.transferFrom, (msg.sender, address(this), price)))) {
                revert TokenTransferFailed(token);
            }
            uint256 received = _balanceOf(token) - before;
            if (received != price) revert TokenAmountMismatch(price, received);
        }
        // Effects before paying anyone.
        expiry = registry.grantFromMarket(fileId, msg.sender, duration);
        emit Purchased(fileId, msg.sender, token, price, expiry);

        uint256 fee = price * feeBps / 10_000;
        if (fee != 0) _pay(fileId, feeRecipient, token, fee);
        uint256 rest = price - fee;
        // A copy: nothing a payee does while being paid can change who is paid or how much.
        Payee[] memory payees = splits[fileId];
        uint256 paid;
        for (uint256 i = 0; i < payees.length; ++i) {
            // The last payee takes the rounding remainder.
            uint256 amount = i + 1 == payees.length ? rest - paid : rest * payees[i].bps / 10_000;
            paid += amount;
            if (amount != 0) _pay(fileId, payees[i].account, token, amount);
        }
    }

    /// Withdraws what failed payments credited to the caller, to the caller.
    function withdraw(address token) external {
        withdrawTo(token, msg.sender);
    }

    /// Withdraws what failed payments credited to the caller, to `to` (for a payee that cannot
    /// receive, such as a contract without a payable receive).
    function withdrawTo(address token, address to) public nonReentrant {
        if (to == address(0)) revert InvalidRecipient();
        uint256 amount = owed[token][msg.sender];
        if (amount == 0) revert NothingOwed();
        owed[token][msg.sender] = 0;
        bool ok;
        if (token == address(0)) {
            // The caller pays for this call and chose `to`: it gets all the gas, no return data.
            assembly ("memory-safe") {
                ok := call(gas(), to, amount, 0, 0, 0, 0)
            }
        } else {
            ok = _tokenCall(token, abi.encodeCall(IERC20.transfer, (to, amount)));
        }
        if (!ok) revert WithdrawFailed();
        emit Withdrawn(msg.sender, token, to, amount);
    }

    function _pay(bytes32 fileId, address to, address token, uint256 amount) private {
        bool ok = token == address(0) ? _sendNative(to, amount) : _tokenCall(token, abi.encodeCall(IERC20.transfer, (to, amount)));
        if (ok) {
            emit Paid(fileId, to, token, amount);
        } else {
            owed[token][to] += amount;
            emit PaymentDeferred(fileId, to, token, amount);
        }
    }

    /// Sends native coin with bounded gas and copies no return data, so a payee can neither
    /// re-enter with the buyer's gas nor make the Market pay for a huge revert reason.
    function _sendNative(address to, uint256 amount) private returns (bool ok) {
        assembly ("memory-safe") {
            ok := call(PAYOUT_GAS, to, amount, 0, 0, 0, 0)
        }
    }

    /// Calls an ERC-20 that may or may not return a bool. Reads at most one word of return data.
    function _tokenCall(address token, bytes memory data) private returns (bool ok) {
        if (token.code.length == 0) return false;
        assembly ("memory-safe") {
            mstore(0x00, 0)
            ok := call(gas(), token, 0, add(data, 0x20), mload(data), 0x00, 0x20)
            // No return data (old tokens) or a word that is exactly true.
            ok := and(ok, or(iszero(returndatasize()), and(gt(returndatasize(), 0x1f), eq(mload(0x00), 1))))
        }
    }

    /// The Market's balance of `token`; reverts NotAToken if it does not answer like an ERC-20.
    function _balanceOf(address token) private view returns (uint256 amount) {
        bool ok;
        bytes4 selector = IERC20.balanceOf.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), address())
            ok := staticcall(gas(), token, ptr, 0x24, 0x00, 0x20)
            ok := and(ok, gt(returndatasize(), 0x1f))
            amount := mload(0x00)
        }
        if (!ok) revert NotAToken(token);
    }
}

interface IERC20 {
    function balanceOf(address account) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}
