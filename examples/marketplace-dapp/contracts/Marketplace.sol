// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// An escrowed marketplace: a seller lists an item, a buyer pays the exact price into escrow,
/// and the money goes to the seller when the buyer confirms delivery, or when the seller claims
/// it after `RELEASE_DELAY` without a confirmation. Until then the arbiter (a multisig, say)
/// may refund the buyer. A fee in basis points goes to the arbiter on every release.
contract Marketplace {
    enum State { None, Listed, Paid, Released, Refunded, Cancelled }

    struct Listing {
        address payable seller;
        address payable buyer;
        uint128 price;
        uint64 paidAt;
        State state;
        string title;
    }

    uint256 public constant RELEASE_DELAY = 7 days;

    address public immutable arbiter;
    uint16 public immutable feeBps;
    uint256 public listingCount;
    mapping(uint256 => Listing) public listings;

    event Listed(uint256 indexed id, address indexed seller, uint256 price, string title);
    event Cancelled(uint256 indexed id);
    event Paid(uint256 indexed id, address indexed buyer, uint256 price);
    event Released(uint256 indexed id, address indexed seller, uint256 amount, uint256 fee);
    event Refunded(uint256 indexed id, address indexed buyer, uint256 amount);

    error NotSeller(address caller);
    error NotBuyer(address caller);
    error WrongState(uint256 id, State state);
    error WrongPayment(uint256 sent, uint256 price);
    error TooEarly(uint256 now_, uint256 releaseAt);
    error TransferFailed(address to, uint256 amount);

    constructor(address arbiter_, uint16 feeBps_) {
        require(arbiter_ != address(0), "arbiter is zero");
        require(feeBps_ <= 1000, "fee above 10%");
        arbiter = arbiter_;
        feeBps = feeBps_;
    }

    function list(string calldata title, uint128 price) external returns (uint256 id) {
        require(price > 0, "price is zero");
        require(bytes(title).length > 0, "title is empty");
        id = ++listingCount;
        listings[id] = Listing(payable(msg.sender), payable(address(0)), price, 0, State.Listed, title);
        emit Listed(id, msg.sender, price, title);
    }

    function cancel(uint256 id) external {
        Listing storage l = _inState(id, State.Listed);
        if (msg.sender != l.seller) revert NotSeller(msg.sender);
        l.state = State.Cancelled;
        emit Cancelled(id);
    }

    function buy(uint256 id) external payable {
        Listing storage l = _inState(id, State.Listed);
        if (msg.value != l.price) revert WrongPayment(msg.value, l.price);
        require(msg.sender != l.seller, "seller cannot buy");
        l.buyer = payable(msg.sender);
        l.paidAt = uint64(block.timestamp);
        l.state = State.Paid;
        emit Paid(id, msg.sender, msg.value);
    }

    /// The buyer got the item: pay the seller now.
    function confirm(uint256 id) external {
        Listing storage l = _inState(id, State.Paid);
        if (msg.sender != l.buyer) revert NotBuyer(msg.sender);
        _release(id, l);
    }

    /// No confirmation came: the seller takes the money once the delay has passed.
    function claim(uint256 id) external {
        Listing storage l = _inState(id, State.Paid);
        if (msg.sender != l.seller) revert NotSeller(msg.sender);
        uint256 releaseAt = releaseTime(id);
        if (block.timestamp < releaseAt) revert TooEarly(block.timestamp, releaseAt);
        _release(id, l);
    }

    /// The arbiter settles a dispute in the buyer's favour before the money is released.
    function refund(uint256 id) external {
        require(msg.sender == arbiter, "only the arbiter");
        Listing storage l = _inState(id, State.Paid);
        l.state = State.Refunded;
        emit Refunded(id, l.buyer, l.price);
        _send(l.buyer, l.price);
    }

    function releaseTime(uint256 id) public view returns (uint256) {
        return uint256(listings[id].paidAt) + RELEASE_DELAY;
    }

    function _release(uint256 id, Listing storage l) private {
        l.state = State.Released;
        uint256 fee = (uint256(l.price) * feeBps) / 10_000;
        uint256 amount = l.price - fee;
        emit Released(id, l.seller, amount, fee);
        _send(l.seller, amount);
        if (fee > 0) _send(payable(arbiter), fee);
    }

    function _inState(uint256 id, State want) private view returns (Listing storage l) {
        l = listings[id];
        if (l.state != want) revert WrongState(id, l.state);
    }

    function _send(address payable to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
