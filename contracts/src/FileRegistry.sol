// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title FileRegistry: who may read which file.
/// @notice A file is identified by `fileId = keccak256(cid)`, where `cid` is the binary CID of
/// its manifest; the CID itself is emitted at registration so it can be found from logs.
/// Levels are ordered None < Read < Write < Admin, each grant with an optional expiry
/// (0 = never). The owner holds every level and alone transfers ownership. Admins grant and
/// revoke Read and Write. Writers update the content pointer. The Market may grant Read, but only
/// on files whose current owner listed them there.
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
        string metadataURI;
        /// The current content (manifest CID); Write holders may replace it.
        bytes content;
    }

    struct Grant {
        Level level;
        uint64 expiry;
    }

    /// The one market contract trusted to grant Read for listed files.
    address public immutable market;

    mapping(bytes32 => File) private files;
    mapping(bytes32 => mapping(address => Grant)) private grants;

    event FileRegistered(bytes32 indexed fileId, address indexed owner, bytes cid, string metadataURI, bool isPublic);
    event AccessGranted(bytes32 indexed fileId, address indexed account, Level level, uint64 expiry, address indexed by);
    event AccessRevoked(bytes32 indexed fileId, address indexed account, address indexed by);
    event OwnershipTransferred(bytes32 indexed fileId, address indexed previousOwner, address indexed newOwner);
    event ContentUpdated(bytes32 indexed fileId, bytes cid, address indexed by);
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
    error NotMarket(address caller);
    error MarketNotEnabled(bytes32 fileId);
    error LengthMismatch();

    constructor(address market_) {
        market = market_;
    }

    modifier exists(bytes32 fileId) {
        if (files[fileId].owner == address(0)) revert UnknownFile(fileId);
        _;
    }

    /// Registers the file whose manifest CID is `cid`; the caller becomes its owner.
    function register(bytes calldata cid, string calldata metadataURI, bool isPublic) external returns (bytes32 fileId) {
        if (cid.length == 0) revert EmptyCid();
        fileId = keccak256(cid);
        if (files[fileId].owner != address(0)) revert FileExists(fileId);
        File storage f = files[fileId];
        f.owner = msg.sender;
        f.isPublic = isPublic;
        f.metadataURI = metadataURI;
        f.content = cid;
        emit FileRegistered(fileId, msg.sender, cid, metadataURI, isPublic);
    }

    // ---------------------------------------------------------------- views

    function fileOf(bytes32 fileId)
        external
        view
        returns (address owner, bool isPublic, bool marketEnabled, string memory metadataURI, bytes memory content)
    {
        File storage f = files[fileId];
        return (f.owner, f.isPublic, f.marketEnabled, f.metadataURI, f.content);
    }

    function ownerOf(bytes32 fileId) external view returns (address) {
        return files[fileId].owner;
    }

    function grantOf(bytes32 fileId, address account) external view returns (Level level, uint64 expiry) {
        Grant storage g = grants[fileId][account];
        return (g.level, g.expiry);
    }

    /// Whether `account` holds at least `level` on `fileId` now (expiry respected).
    function hasAccess(bytes32 fileId, address account, Level level) public view returns (bool) {
        File storage f = files[fileId];
        if (f.owner == address(0)) return false;
        if (level == Level.None) return true;
        if (account == f.owner) return true;
        if (level == Level.Read && f.isPublic) return true;
        Grant storage g = grants[fileId][account];
        return g.level >= level && (g.expiry == 0 || g.expiry > block.timestamp);
    }

    // ---------------------------------------------------------------- grants

    /// Grants `level` until `expiry` (0 = never). Owner: any level up to Admin. Admin: Read or Write.
    function grant(bytes32 fileId, address account, Level level, uint64 expiry) public exists(fileId) {
        _checkGrantor(fileId, level);
        _grant(fileId, account, level, expiry);
    }

    function grantBatch(bytes32 fileId, address[] calldata accounts, Level level, uint64 expiry) external exists(fileId) {
        _checkGrantor(fileId, level);
        for (uint256 i = 0; i < accounts.length; ++i) {
            _grant(fileId, accounts[i], level, expiry);
        }
    }

    /// Removes `account`'s grant. The owner revokes anyone; an Admin revokes Read and Write holders.
    function revoke(bytes32 fileId, address account) public exists(fileId) {
        _checkGrantor(fileId, grants[fileId][account].level);
        delete grants[fileId][account];
        emit AccessRevoked(fileId, account, msg.sender);
    }

    function revokeBatch(bytes32 fileId, address[] calldata accounts) external exists(fileId) {
        for (uint256 i = 0; i < accounts.length; ++i) {
            revoke(fileId, accounts[i]);
        }
    }

    function _checkGrantor(bytes32 fileId, Level level) private view {
        if (msg.sender == files[fileId].owner) return;
        // Admins manage Read and Write, never Admin.
        if (level < Level.Admin && hasAccess(fileId, msg.sender, Level.Admin)) return;
        revert NotAuthorized(fileId, msg.sender, Level.Admin);
    }

    function _grant(bytes32 fileId, address account, Level level, uint64 expiry) private {
        if (account == address(0)) revert InvalidAccount();
        if (level == Level.None) revert InvalidLevel(level);
        if (expiry != 0 && expiry <= block.timestamp) revert ExpiryInPast(expiry);
        grants[fileId][account] = Grant(level, expiry);
        emit AccessGranted(fileId, account, level, expiry, msg.sender);
    }

    // ---------------------------------------------------------------- owner and writers

    function transferOwnership(bytes32 fileId, address newOwner) external exists(fileId) {
        File storage f = files[fileId];
        if (msg.sender != f.owner) revert NotOwner(fileId, msg.sender);
        if (newOwner == address(0)) revert InvalidAccount();
        // Listings belong to the owner who made them.
        if (f.marketEnabled) {
            f.marketEnabled = false;
            emit MarketEnabled(fileId, false);
        }
        f.owner = newOwner;
        emit OwnershipTransferred(fileId, msg.sender, newOwner);
    }

    function updateContent(bytes32 fileId, bytes calldata cid) external exists(fileId) {
        if (!hasAccess(fileId, msg.sender, Level.Write)) revert NotAuthorized(fileId, msg.sender, Level.Write);
        if (cid.length == 0) revert EmptyCid();
        files[fileId].content = cid;
        emit ContentUpdated(fileId, cid, msg.sender);
    }

    function updateMetadata(bytes32 fileId, string calldata metadataURI, bool isPublic) external exists(fileId) {
        File storage f = files[fileId];
        if (msg.sender != f.owner) revert NotOwner(fileId, msg.sender);
        f.metadataURI = metadataURI;
        f.isPublic = isPublic;
        emit MetadataUpdated(fileId, metadataURI, isPublic);
    }

    // ---------------------------------------------------------------- market

    /// Called by the Market when `seller` lists `fileId`: allowed only if `seller` owns it.
    function enableMarket(bytes32 fileId, address seller, bool enabled) external exists(fileId) {
        if (msg.sender != market) revert NotMarket(msg.sender);
        if (seller != files[fileId].owner) revert NotOwner(fileId, seller);
        files[fileId].marketEnabled = enabled;
        emit MarketEnabled(fileId, enabled);
    }

    /// Read access for a buyer, granted by the Market in the purchase transaction.
    function grantFromMarket(bytes32 fileId, address buyer, uint64 expiry) external exists(fileId) {
        if (msg.sender != market) revert NotMarket(msg.sender);
        if (!files[fileId].marketEnabled) revert MarketNotEnabled(fileId);
        Grant storage g = grants[fileId][buyer];
        // Never downgrade a stronger or longer grant the buyer already holds.
        if (g.level > Level.Read && (g.expiry == 0 || g.expiry > block.timestamp)) return;
        if (g.level == Level.Read && g.expiry == 0) return;
        if (g.level == Level.Read && expiry != 0 && g.expiry >= expiry) return;
        grants[fileId][buyer] = Grant(Level.Read, expiry);
        emit AccessGranted(fileId, buyer, Level.Read, expiry, msg.sender);
    }
}
