// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title FileRegistry: who may read which file.
/// @notice A file is identified by `fileId = keccak256(abi.encode(owner, salt))`: the account
/// that registers it and a salt it picks, so the id is known before the file is encrypted and
/// nobody else can take it. The manifest CID is given at registration and emitted, and Write
/// holders may replace it (each replacement bumps `version`).
/// Levels are ordered None < Read < Write < Admin, each grant with an optional expiry
/// (0 = never). The owner holds every level and alone transfers ownership; a transfer voids
/// every grant (a new ACL epoch). Admins grant and revoke Read and Write, never touch other
/// Admins, and cannot grant beyond their own expiry. Purchases made through the Market live in
/// their own slot, which no grant or revoke can lower, and survive ownership transfers.
contract FileRegistry {
    enum Level {
        None,
        Read,
        Write,
        Admin
    }

    struct File {
        address owner;
        bool isPublic;
        /// Set when the file's owner lists it on the market; cleared on ownership transfer.
        bool marketEnabled;
        /// Grants made in an earlier epoch are void; bumped on ownership transfer.
        uint32 epoch;
        /// Bumped each time the content is replaced (1 at registration).
        uint32 version;
        string metadataURI;
        /// The current content (manifest CID); Write holders may replace it.
        bytes content;
    }

    struct Grant {
        Level level;
        uint64 expiry;
        uint32 epoch;
    }

    /// A purchase that never ends, as stored in `purchased`.
    uint64 private constant PERMANENT = type(uint64).max;

    /// The one market contract trusted to sell Read for listed files.
    address public immutable market;

    mapping(bytes32 => File) private files;
    mapping(bytes32 => mapping(address => Grant)) private grants;
    /// Read access bought through the Market: 0 none, PERMANENT forever, else the expiry.
    mapping(bytes32 => mapping(address => uint64)) private purchased;

    event FileRegistered(bytes32 indexed fileId, address indexed owner, bytes32 salt, bytes cid, string metadataURI, bool isPublic);
    event AccessGranted(bytes32 indexed fileId, address indexed account, Level level, uint64 expiry, address indexed by);
    event AccessRevoked(bytes32 indexed fileId, address indexed account, address indexed by);
    /// Read bought through the Market, with the expiry that took effect (0 = permanent).
    event AccessPurchased(bytes32 indexed fileId, address indexed account, uint64 expiry);
    /// Also voids every grant of the file (the ACL starts a new epoch); purchases stay.
    event OwnershipTransferred(bytes32 indexed fileId, address indexed previousOwner, address indexed newOwner);
    event ContentUpdated(bytes32 indexed fileId, bytes cid, uint32 version, address indexed by);
    event MetadataUpdated(bytes32 indexed fileId, string metadataURI, bool isPublic);
    event MarketEnabled(bytes32 indexed fileId, bool enabled);

    error FileExists(bytes32 fileId);
    error UnknownFile(bytes32 fileId);
    error NotOwner(bytes32 fileId, address caller);
    error NotAuthorized(bytes32 fileId, address caller, Level needed);
    error InvalidLevel(Level level);
    error InvalidAccount();
    error EmptyCid();
    error ExpiryInPast(uint64 expiry);
    error ExpiryBeyondGrantor(uint64 expiry, uint64 grantorExpiry);
    error NotMarket(address caller);
    error MarketNotEnabled(bytes32 fileId);
    error FileIsPublic(bytes32 fileId);
    error FileIsListed(bytes32 fileId);
    error AlreadyPurchased(bytes32 fileId, address account);

    constructor(address market_) {
        market = market_;
    }

    modifier exists(bytes32 fileId) {
        if (files[fileId].owner == address(0)) revert UnknownFile(fileId);
        _;
    }

    /// The id `account` gets when it registers with `salt`.
    function fileIdOf(address account, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(account, salt));
    }

    /// Registers a file with manifest CID `cid`; the caller becomes its owner and the id is
    /// `fileIdOf(msg.sender, salt)`.
    function register(bytes32 salt, bytes calldata cid, string calldata metadataURI, bool isPublic)
        external
        returns (bytes32 fileId)
    {
        if (cid.length == 0) revert EmptyCid();
        fileId = fileIdOf(msg.sender, salt);
        File storage f = files[fileId];
        if (f.owner != address(0)) revert FileExists(fileId);
        f.owner = msg.sender;
        f.isPublic = isPublic;
        f.version = 1;
        f.metadataURI = metadataURI;
        f.content = cid;
        emit FileRegistered(fileId, msg.sender, salt, cid, metadataURI, isPublic);
    }

    // ---------------------------------------------------------------- views

    function fileOf(bytes32 fileId)
        external
        view
        returns (
            address owner,
            bool isPublic,
            bool marketEnabled,
            string memory metadataURI,
            bytes memory content,
            uint32 version,
            uint32 epoch
        )
    {
        File storage f = files[fileId];
        return (f.owner, f.isPublic, f.marketEnabled, f.metadataURI, f.content, f.version, f.epoch);
    }

    function ownerOf(bytes32 fileId) external view returns (address) {
        return files[fileId].owner;
    }

    /// The grant `account` holds in the file's current epoch (None if void), expired or not.
    function grantOf(bytes32 fileId, address account) external view returns (Level level, uint64 expiry) {
        Grant storage g = grants[fileId][account];
        if (g.epoch != files[fileId].epoch) return (Level.None, 0);
        return (g.level, g.expiry);
    }

    /// Read bought through the Market: whether it holds now, and its expiry (0 = permanent).
    function purchaseOf(bytes32 fileId, address account) external view returns (bool active, uint64 expiry) {
        uint64 p = purchased[fileId][account];
        if (p == PERMANENT) return (true, 0);
        return (p > block.timestamp, p);
    }

    /// Whether `account` holds at least `level` on `fileId` now (expiry respected).
    function hasAccess(bytes32 fileId, address account, Level level) public view returns (bool) {
        File storage f = files[fileId];
        if (f.owner == address(0)) return false;
        if (level == Level.None) return true;
        if (account == f.owner) return true;
        if (level == Level.Read && (f.isPublic || purchased[fileId][account] > block.timestamp)) return true;
        return _live(fileId, account) >= level;
    }

    // ---------------------------------------------------------------- grants

    /// Grants `level` until `expiry` (0 = never). Owner: any level. Admin: Read or Write, to
    /// accounts that are not Admins, expiring no later than the Admin's own grant.
    function grant(bytes32 fileId, address account, Level level, uint64 expiry) public exists(fileId) {
        _checkGrantor(fileId, account, level, expiry);
        _grant(fileId, account, level, expiry);
    }

    function grantBatch(bytes32 fileId, address[] calldata accounts, Level level, uint64 expiry) external exists(fileId) {
        for (uint256 i = 0; i < accounts.length; ++i) {
            grant(fileId, accounts[i], level, expiry);
        }
    }

    /// Removes `account`'s grant. The owner revokes anyone; an Admin revokes non-Admins.
    /// Purchases are not grants and stay. Emits `AccessRevoked` only if there was a grant.
    function revoke(bytes32 fileId, address account) public exists(fileId) {
        if (msg.sender != files[fileId].owner) {
            if (_live(fileId, msg.sender) != Level.Admin) revert NotAuthorized(fileId, msg.sender, Level.Admin);
            if (_live(fileId, account) == Level.Admin) revert NotAuthorized(fileId, msg.sender, Level.Admin);
        }
        Grant storage g = grants[fileId][account];
        if (g.level == Level.None || g.epoch != files[fileId].epoch) return;
        delete grants[fileId][account];
        emit AccessRevoked(fileId, account, msg.sender);
    }

    function revokeBatch(bytes32 fileId, address[] calldata accounts) external exists(fileId) {
        for (uint256 i = 0; i < accounts.length; ++i) {
            revoke(fileId, accounts[i]);
        }
    }

    /// The level `account`'s grant gives now: None if void (older epoch) or expired.
    function _live(bytes32 fileId, address account) private view returns (Level) {
        Grant storage g = grants[fileId][account];
        if (g.epoch != files[fileId].epoch) return Level.None;
        if (g.expiry != 0 && g.expiry <= block.timestamp) return Level.None;
        return g.level;
    }

    function _checkGrantor(bytes32 fileId, address account, Level level, uint64 expiry) private view {
        if (msg.sender == files[fileId].owner) return;
        Grant storage mine = grants[fileId][msg.sender];
        // Admins manage Read and Write holders, never Admins (themselves included).
        if (_live(fileId, msg.sender) != Level.Admin || level == Level.Admin || _live(fileId, account) == Level.Admin) {
            revert NotAuthorized(fileId, msg.sender, Level.Admin);
        }
        // A time-limited Admin cannot hand out more time than it has.
        if (mine.expiry != 0 && (expiry == 0 || expiry > mine.expiry)) revert ExpiryBeyondGrantor(expiry, mine.expiry);
    }

    function _grant(bytes32 fileId, address account, Level level, uint64 expiry) private {
        if (account == address(0)) revert InvalidAccount();
        if (level == Level.None) revert InvalidLevel(level);
        if (expiry != 0 && expiry <= block.timestamp) revert ExpiryInPast(expiry);
        grants[fileId][account] = Grant(level, expiry, files[fileId].epoch);
        emit AccessGranted(fileId, account, level, expiry, msg.sender);
    }

    // ---------------------------------------------------------------- owner and writers

    /// Hands the file to `newOwner`. Every grant is voided (the previous owner's Admins do not
    /// come with the file) and a listing ends; purchases stay.
    function transferOwnership(bytes32 fileId, address newOwner) external exists(fileId) {
        File storage f = files[fileId];
        if (msg.sender != f.owner) revert NotOwner(fileId, msg.sender);
        if (newOwner == address(0)) revert InvalidAccount();
        f.owner = newOwner;
        f.epoch += 1;
        emit OwnershipTransferred(fileId, msg.sender, newOwner);
        // Listings belong to the owner who made them.
        if (f.marketEnabled) {
            f.marketEnabled = false;
            emit MarketEnabled(fileId, false);
            IListingHook(market).ownershipTransferred(fileId);
        }
    }

    function updateContent(bytes32 fileId, bytes calldata cid) external exists(fileId) {
        if (!hasAccess(fileId, msg.sender, Level.Write)) revert NotAuthorized(fileId, msg.sender, Level.Write);
        if (cid.length == 0) revert EmptyCid();
        File storage f = files[fileId];
        f.content = cid;
        uint32 version = f.version + 1;
        f.version = version;
        emit ContentUpdated(fileId, cid, version, msg.sender);
    }

    /// A listed file cannot be made public: buyers would pay for what everyone gets. Delist first.
    function updateMetadata(bytes32 fileId, string calldata metadataURI, bool isPublic) external exists(fileId) {
        File storage f = files[fileId];
        if (msg.sender != f.owner) revert NotOwner(fileId, msg.sender);
        if (isPublic && f.marketEnabled) revert FileIsListed(fileId);
        f.metadataURI = metadataURI;
        f.isPublic = isPublic;
        emit MetadataUpdated(fileId, metadataURI, isPublic);
    }

    // ---------------------------------------------------------------- market

    /// Called by the Market when `seller` lists or delists `fileId`: only its owner may, and a
    /// public file cannot be listed.
    function enableMarket(bytes32 fileId, address seller, bool enabled) external exists(fileId) {
        if (msg.sender != market) revert NotMarket(msg.sender);
        File storage f = files[fileId];
        if (seller != f.owner) revert NotOwner(fileId, seller);
        if (enabled && f.isPublic) revert FileIsPublic(fileId);
        if (f.marketEnabled != enabled) {
            f.marketEnabled = enabled;
            emit MarketEnabled(fileId, enabled);
        }
    }

    /// Read access bought by `buyer`, recorded by the Market in the purchase transaction:
    /// permanent if `duration` is 0, otherwise `duration` seconds added to what is left of an
    /// earlier pass. Refused if the buyer already holds a permanent purchase. Returns the expiry
    /// that took effect (0 = permanent).
    function grantFromMarket(bytes32 fileId, address buyer, uint64 duration) external exists(fileId) returns (uint64 expiry) {
        if (msg.sender != market) revert NotMarket(msg.sender);
        if (!files[fileId].marketEnabled) revert MarketNotEnabled(fileId);
        uint64 current = purchased[fileId][buyer];
        if (current == PERMANENT) revert AlreadyPurchased(fileId, buyer);
        if (duration == 0) {
            purchased[fileId][buyer] = PERMANENT;
        } else {
            uint64 start = current > block.timestamp ? current : uint64(block.timestamp);
            expiry = start + duration;
            if (expiry == PERMANENT) revert AlreadyPurchased(fileId, buyer);
            purchased[fileId][buyer] = expiry;
        }
        emit AccessPurchased(fileId, buyer, expiry);
    }
}

/// What the registry tells the Market when a listed file changes hands.
interface IListingHook {
    function ownershipTransferred(bytes32 fileId) external;
}
