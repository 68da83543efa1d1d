// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IAttestationRegistry} from "./interfaces/IAttestationRegistry.sol";
import {IOracleCommittee} from "./interfaces/IOracleCommittee.sol";
import {ITaskEscrow} from "./interfaces/ITaskEscrow.sol";

/// @title TaskEscrow
/// @notice Holds every task's budget and pays it out: to annotators against the final payout
/// root, and back to the requester for whatever is not paid.
/// @dev The pause is bounded ({maxPause}, then a cooldown as long) and its time is added to every
/// claim period, so a guardian can delay pay but never make it lapse.
contract TaskEscrow is ITaskEscrow, AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    IAttestationRegistry private immutable _registry;
    address private immutable _committee;
    uint64 private immutable _maxPause;

    /// @dev One word, read by every claim: whether a pause runs, since when, and the seconds of
    /// all pauses before it.
    struct PauseState {
        bool active;
        uint64 since;
        uint64 before;
        uint64 lastEnd;
    }

    PauseState private _pause;

    uint256 private _taskCount;
    mapping(uint256 taskId => Task) private _tasks;
    // One bit per (account, task): word taskId >> 8 of the account's bitmap. An annotator who
    // claims several tasks reuses the same word, and claimMany writes it once per 256 tasks.
    mapping(address account => mapping(uint256 word => uint256 bits)) private _claimedBits;

    /// @dev Running state of a claimMany call: per-token sums and the cached claim word.
    struct Batch {
        IERC20[] tokens;
        uint256[] sums;
        uint256 distinct;
        uint256 word;
        uint256 bits;
        uint256 pausedSeconds;
    }

    /// @param registry_ the AttestationRegistry deployed for this escrow.
    /// @param committee_ the OracleCommittee deployed for this escrow.
    /// @param admin holder of DEFAULT_ADMIN_ROLE (grants and revokes guardians).
    /// @param guardian first holder of GUARDIAN_ROLE (pause); zero for none.
    /// @param maxPause_ the longest a pause lasts, and the cooldown before the next one.
    constructor(
        address registry_,
        address committee_,
        address admin,
        address guardian,
        uint64 maxPause_
    ) {
        if (registry_ == address(0) || committee_ == address(0) || admin == address(0)) {
            revert ZeroAddress();
        }
        if (maxPause_ == 0) revert InvalidMaxPause();
        _registry = IAttestationRegistry(registry_);
        _committee = committee_;
        _maxPause = maxPause_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        if (guardian != address(0)) _grantRole(GUARDIAN_ROLE, guardian);
    }

    /// @inheritdoc ITaskEscrow
    function createTask(IERC20 token, uint128 budget, TaskParams calldata params)
        external
        returns (uint256 taskId)
    {
        return _createTask(token, budget, params);
    }

    /// @inheritdoc ITaskEscrow
    function createTaskWithPermit(
        IERC20 token,
        uint128 budget,
        TaskParams calldata params,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 taskId) {
        // Checked here as well: calling permit on an address without code would revert
        // outside the try (Solidity checks the target's code before the call).
        if (address(token).code.length == 0) revert InvalidToken(address(token));
        // A front-runner can spend the permit first; the allowance it leaves is what counts.
        try IERC20Permit(address(token)).permit(
            msg.sender, address(this), budget, permitDeadline, v, r, s
        ) {} catch {}
        return _createTask(token, budget, params);
    }

    /// @inheritdoc ITaskEscrow
    function cancelTask(uint256 taskId) external nonReentrant {
        Task storage t = _existing(taskId);
        if (msg.sender != t.requester) revert NotRequester(taskId, msg.sender);
        if (t.status != Status.Funded) revert WrongStatus(taskId, t.status);
        if (_registry.hasAttestations(taskId)) {
            _closeEarly(t, taskId);
            return;
        }
        // A proposal (even for a task nobody attested to) holds bonds and may be disputed: it
        // settles through the committee, whose rulings can still refund the requester.
        if (IOracleCommittee(_committee).everPending(taskId)) revert ProposalExists(taskId);

        uint128 amount = t.budget - t.refunded;
        t.status = Status.Cancelled;
        t.refunded = t.budget;
        _registry.closeTask(taskId);

        _pay(t.token, t.requester, amount);
        emit TaskCancelled(taskId, t.requester);
        emit Refunded(taskId, t.requester, amount, RefundKind.Cancelled);
    }

    /// @inheritdoc ITaskEscrow
    function recordPayout(uint256 taskId, bytes32 root, uint128 total, bytes32 reportHash)
        external
    {
        if (msg.sender != _committee) revert NotCommittee(msg.sender);
        Task storage t = _existing(taskId);
        if (t.status != Status.Funded) revert WrongStatus(taskId, t.status);
        if (block.timestamp <= t.revealDeadline) revert RevealWindowOpen(taskId, t.revealDeadline);
        if (total > t.budget) revert PayoutExceedsBudget(taskId, total, t.budget);
        if (root == bytes32(0)) revert EmptyRoot();

        // Storing the deadline minus the paused time so far makes every later pause move it.
        uint256 pausedSoFar = _pausedTime(_pause);
        uint64 deadline = uint64(block.timestamp) + t.claimPeriod;
        t.status = Status.Final;
        t.payoutRoot = root;
        t.payoutTotal = total;
        t.reportHash = reportHash;
        t.claimBase = uint64(deadline - pausedSoFar);
        emit PayoutFinalized(taskId, root, total, reportHash, deadline);
    }

    /// @inheritdoc ITaskEscrow
    function refundByRuling(uint256 taskId) external nonReentrant {
        if (msg.sender != _committee) revert NotCommittee(msg.sender);
        Task storage t = _existing(taskId);
        if (t.status != Status.Funded) revert WrongStatus(taskId, t.status);

        uint128 amount = t.budget - t.refunded;
        t.status = Status.Expired;
        t.refunded = t.budget;

        _pay(t.token, t.requester, amount);
        emit Refunded(taskId, t.requester, amount, RefundKind.Ruling);
    }

    /// @inheritdoc ITaskEscrow
    /// @dev No reentrancy guard: the claim bit and the task's claimed total are written before
    /// the transfer, so a token that calls back finds the claim already spent.
    function claim(uint256 taskId, address account, uint256 amount, bytes32[] calldata proof)
        external
    {
        uint256 pausedSeconds = _requireNotPaused();
        (Task storage t, IERC20 token) = _claimable(taskId, pausedSeconds);
        _markClaimed(account, taskId);
        _spendClaim(t, taskId, account, amount, proof);

        _pay(token, account, amount);
        emit Claimed(taskId, account, amount);
    }

    /// @inheritdoc ITaskEscrow
    /// @dev Every claim's effects happen before the first transfer; amounts are summed per token
    /// in memory so each token moves once, and the account's claim word is read and written
    /// once per run of tasks that share it.
    function claimMany(address account, ClaimRequest[] calldata claims) external {
        uint256 pausedSeconds = _requireNotPaused();
        uint256 n = claims.length;
        if (n == 0) revert EmptyClaims();
        Batch memory batch = Batch({
            tokens: new IERC20[](n),
            sums: new uint256[](n),
            distinct: 0,
            word: type(uint256).max,
            bits: 0,
            pausedSeconds: pausedSeconds
        });
        mapping(uint256 => uint256) storage words = _claimedBits[account];
        for (uint256 i; i < n; ++i) {
            _claimInBatch(batch, words, account, claims[i]);
        }
        words[batch.word] = batch.bits;
        for (uint256 j; j < batch.distinct; ++j) {
            _pay(batch.tokens[j], account, batch.sums[j]);
        }
    }

    /// @inheritdoc ITaskEscrow
    /// @dev Effects first: every entry's claim bit, the task's claimed total and the events are
    /// written before the first transfer (a token calling back finds the claims spent). The
    /// fee check runs once around all the transfers: the escrow's balance must drop by exactly
    /// what the batch pays. Claims are recorded per (account, task) as {claim} records them, so
    /// the three entry points exclude each other.
    function claimBatch(
        uint256 taskId,
        address[] calldata accounts,
        uint256[] calldata amounts,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external returns (uint256 paid) {
        (Task storage t, IERC20 token) = _claimable(taskId, _requireNotPaused());
        bytes32[] memory leaves =
            _verifyBatch(taskId, t.payoutRoot, accounts, amounts, proof, proofFlags);
        // From here on leaves[i] == 0 marks an entry that is skipped (already claimed).
        paid = _markBatch(taskId, accounts, amounts, leaves);
        uint256 remaining = t.payoutTotal - t.claimed;
        if (paid > remaining) revert ClaimExceedsPayout(taskId, paid, remaining);
        // paid <= remaining <= payoutTotal, a uint128
        t.claimed += uint128(paid);
        _payBatch(token, accounts, amounts, leaves, paid);
    }

    /// @inheritdoc ITaskEscrow
    function refund(uint256 taskId) external nonReentrant returns (uint256 amount) {
        Task storage t = _existing(taskId);
        RefundKind kind;
        (amount, kind) = _refundable(t, taskId);
        if (amount == 0) revert NothingToRefund(taskId);

        if (kind == RefundKind.OracleTimeout) t.status = Status.Expired;
        // The unclaimed pay is gone: mark claims closed for good, explicitly rather than by
        // the arithmetic of the pause-extended deadline (a later pause moves that deadline and
        // the clock alike, so it stays past). claimBase is never 0 otherwise, and
        // 0 + pausedTime() is always in the past.
        if (kind == RefundKind.Unclaimed) t.claimBase = 0;
        // amount <= budget - refunded, both uint128
        t.refunded += uint128(amount);

        _pay(t.token, t.requester, amount);
        emit Refunded(taskId, t.requester, amount, kind);
    }

    /// @inheritdoc ITaskEscrow
    function pause() external onlyRole(GUARDIAN_ROLE) {
        PauseState memory p = _settledPause();
        if (p.active) revert EnforcedPause();
        uint256 availableAt = uint256(p.lastEnd) + _maxPause;
        if (p.lastEnd != 0 && block.timestamp < availableAt) revert PauseCooldown(availableAt);
        p.active = true;
        p.since = uint64(block.timestamp);
        _pause = p;
        emit Paused(msg.sender, uint64(block.timestamp) + _maxPause);
    }

    /// @inheritdoc ITaskEscrow
    function unpause() external onlyRole(GUARDIAN_ROLE) {
        PauseState memory p = _settledPause();
        if (!p.active) revert ExpectedPause();
        uint64 seconds_ = uint64(block.timestamp) - p.since;
        p.active = false;
        p.before += seconds_;
        p.lastEnd = uint64(block.timestamp);
        _pause = p;
        emit Unpaused(msg.sender, seconds_);
    }

    /// @inheritdoc ITaskEscrow
    function paused() public view returns (bool) {
        return _settledPause().active;
    }

    /// @inheritdoc ITaskEscrow
    function pausedTime() external view returns (uint256) {
        return _pausedTime(_pause);
    }

    /// @inheritdoc ITaskEscrow
    function maxPause() external view returns (uint256) {
        return _maxPause;
    }

    /// @inheritdoc ITaskEscrow
    function claimDeadline(uint256 taskId) external view returns (uint256) {
        Task storage t = _existing(taskId);
        if (t.status != Status.Final || t.claimBase == 0) return 0;
        return uint256(t.claimBase) + _pausedTime(_pause);
    }

    /// @inheritdoc ITaskEscrow
    function task(uint256 taskId) external view returns (Task memory) {
        return _tasks[taskId];
    }

    /// @inheritdoc ITaskEscrow
    function payoutWindow(uint256 taskId)
        external
        view
        returns (
            Status status,
            uint24 rulesId,
            uint128 budget,
            uint64 revealDeadline,
            uint32 challengePeriod,
            uint32 oracleTimeout
        )
    {
        Task storage t = _tasks[taskId];
        return (
            t.status, t.rulesId, t.budget, t.revealDeadline, t.challengePeriod, t.oracleTimeout
        );
    }

    /// @inheritdoc ITaskEscrow
    function taskCount() external view returns (uint256) {
        return _taskCount;
    }

    /// @inheritdoc ITaskEscrow
    function isClaimed(uint256 taskId, address account) public view returns (bool) {
        return _claimedBits[account][taskId >> 8] & (1 << (taskId & 0xff)) != 0;
    }

    /// @inheritdoc ITaskEscrow
    function oracleDeadline(uint256 taskId) external view returns (uint256) {
        return _oracleDeadline(_existing(taskId));
    }

    /// @inheritdoc ITaskEscrow
    function refundable(uint256 taskId) external view returns (uint256 amount, RefundKind kind) {
        return _refundable(_existing(taskId), taskId);
    }

    /// @inheritdoc ITaskEscrow
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc ITaskEscrow
    function committee() external view returns (address) {
        return _committee;
    }

    /// @inheritdoc ITaskEscrow
    function version() external pure returns (string memory) {
        return "2.0.0";
    }

    function _createTask(IERC20 token, uint128 budget, TaskParams calldata p)
        private
        nonReentrant
        returns (uint256 taskId)
    {
        _requireNotPaused();
        if (address(token).code.length == 0) revert InvalidToken(address(token));
        if (budget == 0) revert ZeroBudget();
        if (p.specHash == bytes32(0)) revert EmptySpecHash();
        if (p.annotationDeadline <= block.timestamp || p.revealDeadline <= p.annotationDeadline) {
            revert InvalidDeadlines(p.annotationDeadline, p.revealDeadline, block.timestamp);
        }
        // The protocol's floors: a requester may lengthen every period, never shorten one.
        (uint256 rulesId, uint32 minChallenge, uint32 minClaim, uint32 minProposal) =
            IOracleCommittee(_committee).currentRules();
        if (p.challengePeriod < minChallenge) {
            revert PeriodBelowFloor("challengePeriod", p.challengePeriod, minChallenge);
        }
        if (p.claimPeriod < minClaim) revert PeriodBelowFloor("claimPeriod", p.claimPeriod, minClaim);
        if (p.oracleTimeout < minProposal) {
            revert PeriodBelowFloor("oracleTimeout", p.oracleTimeout, minProposal);
        }

        taskId = ++_taskCount;
        Task storage t = _tasks[taskId];
        t.token = token;
        t.status = Status.Funded;
        // Rule ids count from 1 and a rule set is one governance transaction behind a timelock,
        // so 2^24 of them cannot be reached.
        t.rulesId = uint24(rulesId);
        t.budget = budget;
        t.revealDeadline = p.revealDeadline;
        t.challengePeriod = p.challengePeriod;
        t.oracleTimeout = p.oracleTimeout;
        t.requester = msg.sender;
        t.annotationDeadline = p.annotationDeadline;
        t.claimPeriod = p.claimPeriod;
        t.specHash = p.specHash;
        t.goldCommitment = p.goldCommitment;
        _registry.openTask(taskId, p.annotationDeadline);

        // Both sides of the transfer are checked: a token that delivers less (fee on transfer)
        // or takes more from the sender (fee on top) would later pay claims out of other
        // tasks' funds, or lock this budget for good behind the outbound check in _pay.
        uint256 before = token.balanceOf(address(this));
        uint256 senderBefore = token.balanceOf(msg.sender);
        token.safeTransferFrom(msg.sender, address(this), budget);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != budget) revert FeeOnTransferToken(address(token), budget, received);
        uint256 charged = senderBefore - token.balanceOf(msg.sender);
        if (charged != budget) revert FeeOnTopToken(address(token), budget, charged);

        emit TaskCreated(taskId, msg.sender, address(token), budget, p);
    }

    /// @dev Ends the annotation window now and moves the reveal window up by as much.
    function _closeEarly(Task storage t, uint256 taskId) private {
        uint64 annotationDeadline = t.annotationDeadline;
        if (block.timestamp >= annotationDeadline) revert AttestationsExist(taskId);
        uint64 shift = annotationDeadline - uint64(block.timestamp);
        uint64 revealDeadline = t.revealDeadline - shift;
        t.annotationDeadline = uint64(block.timestamp);
        t.revealDeadline = revealDeadline;
        _registry.closeAnnotation(taskId);
        emit TaskClosedEarly(taskId, uint64(block.timestamp), revealDeadline);
    }

    /// @dev Checks a claim against the task's root and books it in the task's claimed total.
    function _spendClaim(
        Task storage t,
        uint256 taskId,
        address account,
        uint256 amount,
        bytes32[] calldata proof
    ) private {
        if (account == address(0)) revert ZeroAccount();
        if (!_verify(proof, t.payoutRoot, _leaf(account, amount))) {
            revert InvalidProof(taskId, account, amount);
        }
        // A dishonest tree could promise more than the posted total; the total caps what leaves
        // this task, so other tasks' funds in the same token stay safe.
        (uint128 claimed, uint128 total) = (t.claimed, t.payoutTotal);
        uint256 remaining = total - claimed;
        if (amount > remaining) revert ClaimExceedsPayout(taskId, amount, remaining);
        // amount <= remaining, so claimed + amount <= payoutTotal, a uint128
        unchecked {
            // both halves of the word, so it is written without being read again
            (t.claimed, t.payoutTotal) = (claimed + uint128(amount), total);
        }
    }

    /// @dev One claim of a {claimMany} batch: its checks and effects, no transfer.
    function _claimInBatch(
        Batch memory batch,
        mapping(uint256 => uint256) storage words,
        address account,
        ClaimRequest calldata c
    ) private {
        uint256 taskId = c.taskId;
        (Task storage t, IERC20 token) = _claimable(taskId, batch.pausedSeconds);
        uint256 w = taskId >> 8;
        if (w != batch.word) {
            if (batch.word != type(uint256).max) words[batch.word] = batch.bits;
            batch.word = w;
            batch.bits = words[w];
        }
        uint256 bit = 1 << (taskId & 0xff);
        if (batch.bits & bit != 0) revert AlreadyClaimed(taskId, account);
        batch.bits |= bit;
        _spendClaim(t, taskId, account, c.amount, c.proof);
        batch.distinct = _addToSums(batch.tokens, batch.sums, batch.distinct, token, c.amount);
        emit Claimed(taskId, account, c.amount);
    }

    /// @dev Adds `amount` to `token`'s running sum, appending the token if new; returns the new
    /// number of distinct tokens. A linear scan: a batch mixes few tokens.
    function _addToSums(
        IERC20[] memory tokens,
        uint256[] memory sums,
        uint256 distinct,
        IERC20 token,
        uint256 amount
    ) private pure returns (uint256) {
        // j <= distinct <= the batch's length; each amount was checked against its task's
        // payout total (a uint128), so a batch's sums stay far below 2^256.
        unchecked {
            uint256 j;
            while (j < distinct && tokens[j] != token) ++j;
            if (j == distinct) {
                tokens[j] = token;
                ++distinct;
            }
            sums[j] += amount;
        }
        return distinct;
    }

    /// @dev The leaves of a {claimBatch}, checked against the task's root with the multiproof.
    function _verifyBatch(
        uint256 taskId,
        bytes32 root,
        address[] calldata accounts,
        uint256[] calldata amounts,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) private pure returns (bytes32[] memory leaves) {
        uint256 n = accounts.length;
        // An empty leaf set would let proof == [root] pass multiProofVerify.
        if (n == 0) revert EmptyClaims();
        if (amounts.length != n) revert BatchLengthMismatch(n, amounts.length);
        // The shape multiProofVerify requires, checked here so that a malformed proof gets this
        // contract's error rather than the library's.
        if (n + proof.length != proofFlags.length + 1) revert InvalidMultiProof(taskId);
        leaves = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            leaves[i] = _leaf(accounts[i], amounts[i]);
        }
        if (!MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves)) {
            revert InvalidMultiProof(taskId);
        }
    }

    /// @dev Sets each entry's claim bit, or clears its leaf (skip) if it was set already, and
    /// emits the entry's event; returns the sum of the entries to pay. A leaf listed twice is
    /// paid once: the second sees the bit the first set.
    function _markBatch(
        uint256 taskId,
        address[] calldata accounts,
        uint256[] calldata amounts,
        bytes32[] memory leaves
    ) private returns (uint256 paid) {
        uint256 word = taskId >> 8;
        uint256 bit = 1 << (taskId & 0xff);
        uint256 n = accounts.length;
        for (uint256 i; i < n; ++i) {
            address account = accounts[i];
            uint256 amount = amounts[i];
            if (account == address(0)) revert ZeroAccount();
            mapping(uint256 => uint256) storage words = _claimedBits[account];
            uint256 bits = words[word];
            if (bits & bit != 0) {
                leaves[i] = bytes32(0);
                emit ClaimSkipped(taskId, account, amount);
                continue;
            }
            words[word] = bits | bit;
            // checked: a dishonest tree's amounts could add up past 2^256
            paid += amount;
            emit Claimed(taskId, account, amount);
        }
    }

    /// @dev The transfers of a {claimBatch}, skipped entries left out, checked together: the
    /// escrow's balance must drop by exactly `paid`.
    function _payBatch(
        IERC20 token,
        address[] calldata accounts,
        uint256[] calldata amounts,
        bytes32[] memory leaves,
        uint256 paid
    ) private {
        uint256 before = _balance(token);
        uint256 n = accounts.length;
        for (uint256 i; i < n; ++i) {
            if (leaves[i] != bytes32(0)) token.safeTransfer(accounts[i], amounts[i]);
        }
        uint256 sent = before - _balance(token);
        if (sent != paid) revert OutboundTransferMismatch(address(token), paid, sent);
    }

    function _markClaimed(address account, uint256 taskId) private {
        mapping(uint256 => uint256) storage words = _claimedBits[account];
        uint256 bit = 1 << (taskId & 0xff);
        uint256 bits = words[taskId >> 8];
        if (bits & bit != 0) revert AlreadyClaimed(taskId, account);
        words[taskId >> 8] = bits | bit;
    }

    /// @dev A task open for claims, and its token (read with its status and deadline: one word).
    function _claimable(uint256 taskId, uint256 pausedSeconds)
        private
        view
        returns (Task storage t, IERC20 token)
    {
        t = _tasks[taskId];
        Status status;
        uint64 claimBase;
        (token, claimBase, status) = (t.token, t.claimBase, t.status);
        if (status != Status.Final) {
            if (status == Status.None) revert UnknownTask(taskId);
            revert NotFinal(taskId);
        }
        uint256 deadline = uint256(claimBase) + pausedSeconds;
        if (block.timestamp > deadline) revert ClaimPeriodOver(taskId, deadline);
    }

    /// @dev Sends `amount` and checks that exactly that much left the escrow: a token that takes
    /// a fee from the sender on top would otherwise pay this task's claims from other tasks.
    function _pay(IERC20 token, address to, uint256 amount) private {
        uint256 before = _balance(token);
        token.safeTransfer(to, amount);
        uint256 sent = before - _balance(token);
        if (sent != amount) revert OutboundTransferMismatch(address(token), amount, sent);
    }

    /// @dev `token.balanceOf(address(this))` as a plain staticcall in scratch memory: what the
    /// compiler's call does (a revert is passed on, an answer shorter than a word reverts)
    /// without its memory and decoding work, twice per transfer.
    function _balance(IERC20 token) private view returns (uint256 bal) {
        assembly ("memory-safe") {
            mstore(0x00, 0x70a08231) // balanceOf(address)
            mstore(0x20, address())
            if iszero(staticcall(gas(), token, 0x1c, 0x24, 0x00, 0x20)) {
                returndatacopy(0x00, 0x00, returndatasize())
                revert(0x00, returndatasize())
            }
            if lt(returndatasize(), 0x20) { revert(0x00, 0x00) }
            bal := mload(0x00)
        }
    }

    /// @dev The payout tree's leaf: keccak256(bytes.concat(keccak256(abi.encode(account,
    /// amount)))), OpenZeppelin's standard tree, hashed in scratch memory.
    function _leaf(address account, uint256 amount) private pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            mstore(0x00, and(account, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(0x20, amount)
            mstore(0x00, keccak256(0x00, 0x40))
            leaf := keccak256(0x00, 0x20)
        }
    }

    /// @dev MerkleProof.verifyCalldata (sorted pairs), one loop in assembly: it runs once per
    /// proof level of every claim. The ABI decoder has checked that `proof` lies in calldata.
    function _verify(bytes32[] calldata proof, bytes32 root, bytes32 leaf)
        private
        pure
        returns (bool ok)
    {
        assembly ("memory-safe") {
            let h := leaf
            let end := add(proof.offset, shl(5, proof.length))
            for { let i := proof.offset } lt(i, end) { i := add(i, 0x20) } {
                let x := calldataload(i)
                // the smaller of the pair first: h goes second if it is the greater
                let at := shl(5, gt(h, x))
                mstore(at, h)
                mstore(xor(at, 0x20), x)
                h := keccak256(0x00, 0x40)
            }
            ok := eq(h, root)
        }
    }

    /// @dev Reverts while paused; otherwise returns the total paused time (one storage read).
    function _requireNotPaused() private view returns (uint256) {
        (bool active, uint64 since, uint64 before) = (_pause.active, _pause.since, _pause.before);
        if (active) {
            uint256 ends = uint256(since) + _maxPause;
            if (block.timestamp < ends) revert EnforcedPause();
            return uint256(before) + _maxPause;
        }
        return before;
    }

    /// @dev The pause state as it is now: a pause past its maximum has ended by itself.
    function _settledPause() private view returns (PauseState memory p) {
        p = _pause;
        if (p.active) {
            uint64 ends = p.since + _maxPause;
            if (block.timestamp >= ends) {
                p.active = false;
                p.before += _maxPause;
                p.lastEnd = ends;
            }
        }
    }

    /// @dev Seconds paused so far, the running pause included (capped at its maximum).
    function _pausedTime(PauseState memory p) private view returns (uint256) {
        if (!p.active) return p.before;
        uint256 running = block.timestamp - p.since;
        return p.before + (running < _maxPause ? running : _maxPause);
    }

    function _existing(uint256 taskId) private view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.status == Status.None) revert UnknownTask(taskId);
    }

    function _oracleDeadline(Task storage t) private view returns (uint256) {
        return uint256(t.revealDeadline) + t.oracleTimeout;
    }

    function _refundable(Task storage t, uint256 taskId) private view returns (uint256, RefundKind) {
        Status status = t.status;
        if (status == Status.Final) {
            PauseState memory p = _settledPause();
            // While paused, nobody can claim: the claim period is not over, whatever the clock.
            if (!p.active && block.timestamp > uint256(t.claimBase) + p.before) {
                return (t.budget - t.claimed - t.refunded, RefundKind.Unclaimed);
            }
            // Before the claim deadline only the part the payout does not allocate is free;
            // once the unclaimed rest was refunded too, nothing is.
            uint256 unallocated = t.budget - t.payoutTotal;
            uint256 refunded = t.refunded;
            return (unallocated > refunded ? unallocated - refunded : 0, RefundKind.Unallocated);
        }
        // Once a proposal has been pending, the labels are published: the requester can no
        // longer walk away with the whole budget, however long settlement takes.
        if (
            status == Status.Funded && block.timestamp > _oracleDeadline(t)
                && !IOracleCommittee(_committee).everPending(taskId)
        ) {
            return (t.budget - t.refunded, RefundKind.OracleTimeout);
        }
        return (0, RefundKind.Unallocated);
    }
}
