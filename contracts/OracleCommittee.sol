// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IOracleCommittee} from "./interfaces/IOracleCommittee.sol";
import {ITaskEscrow} from "./interfaces/ITaskEscrow.sol";
import {IArbitrable} from "./interfaces/erc792/IArbitrable.sol";
import {IArbitrator} from "./interfaces/erc792/IArbitrator.sol";

/// @title OracleCommittee
/// @notice Turns the agreement of a task's oracles, or a bonded proposal from anyone, into a
/// final payout after a challenge window in which anyone can dispute it before an ERC-792
/// arbitrator, under the rule set the task was created with.
/// @dev The owner is meant to be a timelock. It can only publish new rule sets (for tasks
/// created afterwards), revoke oracles (removing power, never adding it) and move unlocked
/// stake; nothing it does can decide, block or take back a running task's payout.
contract OracleCommittee is IOracleCommittee, Ownable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint256 private constant MAX_ORACLES = 32;
    uint16 private constant MAX_BPS = 10_000;
    uint8 private constant EVER_PENDING = 1;
    uint8 private constant VETO_USED = 2;
    uint8 private constant DISPUTED = 4;
    /// @dev Burned bonds go here: many tokens refuse transfers to the zero address.
    address private constant BURN = 0x000000000000000000000000000000000000dEaD;
    /// @dev Choices offered to the arbitrator besides 0 (see {Ruling}).
    uint256 private constant CHOICES = 3;

    /// @dev What oracles vote on, kept together in memory to spare the stack.
    struct Payout {
        bytes32 root;
        uint128 total;
        bytes32 reportHash;
        bytes32 inputsHash;
    }

    /// @dev A task's settlement state as stored; {pending} turns it into a {Proposal}. Same
    /// fields as {Proposal} plus `inputsTag`, except that the first word and `voters` mean
    /// something else before a payout is pending: the first payout voted for in a round (the
    /// "lead") lives in `head` as its 224-bit tally key and its 32-bit voter bitmap, so the
    /// votes that do not decide write one word, and the deciding vote finds the lead's voters
    /// in a word it overwrites with the root anyway. Other payouts' voters go to {_tallies},
    /// their oracles into `voters`.
    struct Round {
        // nothing pending: lead key (bytes28) | lead voters (uint32), zero without a lead;
        // pending: the root
        bytes32 head;
        uint128 total;
        uint40 challengeEnds;
        uint32 round;
        // nothing pending: oracles that voted for other payouts than the lead; pending: as
        // {Proposal.voters}
        uint32 voters;
        uint8 flags;
        // pending: the low 16 bits of the payout's inputsHash, which is not stored
        // (a fourth fresh word would cost every proposal 22,100 gas; ProposalPending names
        // it), so that {votes} can tell the pending payout from one differing only there
        uint16 inputsTag;
        bytes32 reportHash;
        address proposer;
        uint96 bond;
        address disputer;
        uint96 disputeBond;
        uint256 disputeId;
    }

    /// @dev What a vote needs of its rule set, in one word per (rule set, oracle): the oracle's
    /// slot and copies of the rule set's threshold, bond token and revoked slots
    /// ({revokeOracle} updates every seat of the rule set).
    struct Seat {
        uint8 slotPlusOne;
        uint8 threshold;
        uint32 revoked;
        IERC20 bondToken;
    }

    ITaskEscrow private immutable _escrow;

    uint256 private _rulesCount;
    mapping(uint256 rulesId => Rules) private _rules;
    // The seat of each oracle of a rule set; slotPlusOne is zero for a non-oracle.
    mapping(uint256 rulesId => mapping(address oracle => Seat)) private _seats;
    mapping(uint256 rulesId => uint32 slots) private _revoked;
    mapping(uint256 taskId => Round) private _proposals;
    // Voters (bitmap) of each payout other than a round's lead, keyed by the 224-bit tally key
    // of (taskId, round, payout); a lead displaced by another payout moves here. A new round
    // makes the earlier tallies unreachable without deleting them.
    mapping(bytes28 tallyKey => uint32 voters) private _tallies;
    mapping(IERC20 token => uint256 amount) private _stake;
    mapping(bytes32 disputeKey => uint256 taskId) private _disputeTasks;

    /// @param escrow_ the TaskEscrow whose tasks this committee pays out.
    /// @param owner_ governance: the timelock that publishes rule sets.
    /// @param initialRules rule set 1, in force from deployment.
    constructor(address escrow_, address owner_, Rules memory initialRules) Ownable(owner_) {
        _escrow = ITaskEscrow(escrow_);
        _publish(initialRules);
    }

    /// @inheritdoc IOracleCommittee
    /// @dev No reentrancy guard (it cost 2,300 gas per vote), because none is needed:
    /// - propose itself calls nothing but the escrow's payoutWindow view (a staticcall), so
    ///   nothing can be entered from inside it;
    /// - every guarded function here that calls out does so while this task's proposal is
    ///   pending or disputed (proposeBonded pulls its bond after _makePending; dispute marks
    ///   DISPUTED before the bond pull and createDispute; veto, finalize and rule pay bonds
    ///   before _newRound clears the pending proposal), or after the escrow has taken the task
    ///   out of Funded (rule's refundByRuling), so a propose of the same task reentering from
    ///   there reverts (ProposalAlreadyPending, UnderDispute, TaskNotFunded);
    /// - a propose of another task touches that task's state and the stake, and every write of
    ///   the stake (_lockStake, _returnProposerBond, _forfeit, fundStake, withdrawStake) reads it
    ///   in the same step, never across an external call, so no update is lost. (fundStake
    ///   credits the stake before pulling the tokens; a vote reentering from that pull finds the
    ///   stake it would find right after, and nothing stays if the pull fails.)
    /// Only an oracle of the task's rule set can vote at all, and the bond token and arbitrator
    /// are chosen by governance.
    function propose(
        uint256 taskId,
        bytes32 root,
        uint128 total,
        bytes32 reportHash,
        bytes32 inputsHash
    ) external {
        Payout memory pay = Payout(root, total, reportHash, inputsHash);
        Round storage p = _proposals[taskId];
        (uint256 rulesId,, uint32 challengePeriod) = _checkProposal(taskId, p, pay);
        Seat memory seat = _seats[rulesId][msg.sender];
        (bool decided, uint32 voters) = _vote(p, taskId, seat, pay);
        if (decided) {
            uint96 bond = _lockStake(seat.bondToken, rulesId);
            _makePending(p, taskId, pay, challengePeriod, address(0), bond, voters);
        }
    }

    /// @inheritdoc IOracleCommittee
    function proposeBonded(
        uint256 taskId,
        bytes32 root,
        uint128 total,
        bytes32 reportHash,
        bytes32 inputsHash
    ) external nonReentrant {
        Payout memory pay = Payout(root, total, reportHash, inputsHash);
        Round storage p = _proposals[taskId];
        Rules storage r;
        uint32 challengePeriod;
        {
            (uint256 rulesId, uint64 revealDeadline, uint32 period) = _checkProposal(taskId, p, pay);
            r = _rules[rulesId];
            challengePeriod = period;
            uint256 opensAt = uint256(revealDeadline) + r.committeeGrace;
            if (block.timestamp <= opensAt) revert CommitteeGrace(taskId, opensAt);
        }
        uint96 bond = r.proposerBond;
        _makePending(p, taskId, pay, challengePeriod, msg.sender, bond, _dropLead(p));
        if (bond != 0) r.bondToken.safeTransferFrom(msg.sender, address(this), bond);
    }

    /// @inheritdoc IOracleCommittee
    function restartRound(uint256 taskId) external {
        Round storage p = _proposals[taskId];
        _requireNothingPending(taskId, p);
        (ITaskEscrow.Status status, uint24 rulesId,,,,) = _escrow.payoutWindow(taskId);
        if (status != ITaskEscrow.Status.Funded) revert TaskNotFunded(taskId);
        Rules storage r = _rules[rulesId];
        uint32 all = uint32((uint256(1) << r.oracles.length) - 1);
        uint32 live = all & ~_revoked[rulesId];
        uint256 liveCount = _popcount(live);
        uint256 liveVoted = _popcount(_voters(p) & live);
        // Every live oracle has spoken and no payout got enough votes, or too few are left.
        if (liveVoted < liveCount && liveCount >= r.threshold) {
            revert RoundCanProceed(taskId, liveVoted, liveCount);
        }
        uint32 round = _newRound(p);
        emit RoundRestarted(taskId, round, msg.sender);
    }

    /// @inheritdoc IOracleCommittee
    function veto(uint256 taskId, string calldata reason) external nonReentrant {
        Round storage p = _proposals[taskId];
        (, uint24 rulesId,,,,) = _escrow.payoutWindow(taskId);
        Rules storage r = _rules[rulesId];
        if (msg.sender != r.guardian) revert NotGuardian(taskId, msg.sender);
        // Only inside the window: a veto after it could block a payout at will.
        _requireChallengeable(taskId, p);
        if (p.flags & VETO_USED != 0) revert VetoUsed(taskId);

        p.flags |= VETO_USED;
        _returnProposerBond(taskId, p, r.bondToken);
        uint32 round = _newRound(p);
        emit Vetoed(taskId, msg.sender, round, reason);
    }

    /// @inheritdoc IOracleCommittee
    function dispute(uint256 taskId) external payable nonReentrant returns (uint256 disputeId) {
        Round storage p = _proposals[taskId];
        _requireChallengeable(taskId, p);
        (, uint24 rulesId,,,,) = _escrow.payoutWindow(taskId);
        Rules storage r = _rules[rulesId];

        uint96 bond = r.disputeBond;
        p.flags |= DISPUTED;
        p.disputer = msg.sender;
        p.disputeBond = bond;
        if (bond != 0) r.bondToken.safeTransferFrom(msg.sender, address(this), bond);
        IArbitrator arbitrator = r.arbitrator;
        disputeId = arbitrator.createDispute{value: msg.value}(CHOICES, "");
        p.disputeId = disputeId;
        _disputeTasks[_disputeKey(address(arbitrator), disputeId)] = taskId;
        emit Disputed(taskId, msg.sender, p.round, disputeId, bond);
    }

    /// @inheritdoc IArbitrable
    function rule(uint256 disputeId, uint256 ruling) external nonReentrant {
        bytes32 dkey = _disputeKey(msg.sender, disputeId);
        uint256 taskId = _disputeTasks[dkey];
        if (taskId == 0) revert UnknownDispute(msg.sender, disputeId);
        Round storage p = _proposals[taskId];
        // The dispute must be this task's open one: a stale id of an earlier round is done.
        if (p.flags & DISPUTED == 0 || p.disputeId != disputeId) {
            revert UnknownDispute(msg.sender, disputeId);
        }
        if (ruling > CHOICES) revert InvalidRuling(disputeId, ruling);
        delete _disputeTasks[dkey];
        (, uint24 rulesId,,,,) = _escrow.payoutWindow(taskId);
        Rules storage r = _rules[rulesId];
        IERC20 bondToken = r.bondToken;

        address disputer = p.disputer;
        uint96 disputeBond = p.disputeBond;
        p.flags &= ~DISPUTED;
        p.disputer = address(0);
        p.disputeBond = 0;
        p.disputeId = 0;

        Verdict verdict = Verdict(ruling);
        if (verdict == Verdict.Refused) {
            // No ruling: the disputer gets its bond back and the proposal stands, to be
            // finalized when its challenge window is over.
            _send(taskId, bondToken, disputer, disputeBond);
        } else if (verdict == Verdict.PayoutStands) {
            _forfeit(taskId, bondToken, disputeBond, r.burnBps, _proposerOrStake(p));
        } else {
            // The proposal was wrong: its bond pays the disputer, who also gets its own back.
            uint96 bond = p.bond;
            p.bond = 0;
            _send(taskId, bondToken, disputer, disputeBond);
            _forfeit(taskId, bondToken, bond, r.burnBps, disputer);
            _newRound(p);
        }
        emit DisputeResolved(taskId, disputeId, verdict);
        emit Ruling(IArbitrator(msg.sender), disputeId, ruling);
        if (verdict == Verdict.RefundRequester) _escrow.refundByRuling(taskId);
    }

    /// @inheritdoc IOracleCommittee
    function finalize(uint256 taskId) external nonReentrant {
        Round storage p = _proposals[taskId];
        uint40 ends = p.challengeEnds;
        if (ends == 0) revert NoPendingProposal(taskId);
        if (p.flags & DISPUTED != 0) revert UnderDispute(taskId, p.disputeId);
        if (block.timestamp < ends) revert ChallengeWindowOpen(taskId, ends);

        (bytes32 root, uint128 total, bytes32 reportHash) = (p.head, p.total, p.reportHash);
        (, uint24 rulesId,,,,) = _escrow.payoutWindow(taskId);
        _returnProposerBond(taskId, p, _rules[rulesId].bondToken);
        // The round number and flags stay, so views never go back to an earlier round.
        _newRound(p);
        _escrow.recordPayout(taskId, root, total, reportHash);
        emit Finalized(taskId, root, total, reportHash);
    }

    /// @inheritdoc IOracleCommittee
    function publishRules(Rules calldata rules_) external onlyOwner returns (uint256) {
        return _publish(rules_);
    }

    /// @inheritdoc IOracleCommittee
    function revokeOracle(uint256 rulesId, address oracle) external onlyOwner {
        mapping(address => Seat) storage seats = _seats[rulesId];
        uint256 slotPlusOne = seats[oracle].slotPlusOne;
        if (slotPlusOne == 0) revert NotOracle(0, oracle);
        uint32 revoked = _revoked[rulesId] | uint32(1 << (slotPlusOne - 1));
        _revoked[rulesId] = revoked;
        // Every seat of the rule set carries the mask: a vote reads one word of its rules.
        address[] storage oracles = _rules[rulesId].oracles;
        uint256 n = oracles.length;
        for (uint256 i; i < n; ++i) {
            seats[oracles[i]].revoked = revoked;
        }
        emit OracleRevoked(rulesId, oracle);
    }

    /// @inheritdoc IOracleCommittee
    function fundStake(IERC20 token, uint256 amount) external nonReentrant {
        _stake[token] += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit StakeFunded(address(token), msg.sender, amount);
    }

    /// @inheritdoc IOracleCommittee
    function withdrawStake(IERC20 token, address to, uint256 amount) external onlyOwner {
        uint256 available = _stake[token];
        if (amount > available) revert InsufficientStake(address(token), available, amount);
        _stake[token] = available - amount;
        token.safeTransfer(to, amount);
        emit StakeWithdrawn(address(token), to, amount);
    }

    /// @inheritdoc IOracleCommittee
    function currentRules() external view returns (uint256, uint32, uint32, uint32) {
        uint256 id = _rulesCount;
        Rules storage r = _rules[id];
        return (id, r.minChallengePeriod, r.minClaimPeriod, r.minProposalWindow);
    }

    /// @inheritdoc IOracleCommittee
    function rules(uint256 rulesId) external view returns (Rules memory) {
        if (rulesId == 0 || rulesId > _rulesCount) revert UnknownRules(rulesId);
        return _rules[rulesId];
    }

    /// @inheritdoc IOracleCommittee
    function rulesCount() external view returns (uint256) {
        return _rulesCount;
    }

    /// @inheritdoc IOracleCommittee
    function isRevoked(uint256 rulesId, address oracle) external view returns (bool) {
        uint256 slotPlusOne = _seats[rulesId][oracle].slotPlusOne;
        return slotPlusOne != 0 && _revoked[rulesId] & (1 << (slotPlusOne - 1)) != 0;
    }

    /// @inheritdoc IOracleCommittee
    function pending(uint256 taskId) external view returns (Proposal memory out) {
        Round storage p = _proposals[taskId];
        uint40 ends = p.challengeEnds;
        // Before a payout is pending the head holds the lead, which is no proposal yet.
        if (ends != 0) out.root = p.head;
        out.total = p.total;
        out.challengeEnds = ends;
        out.round = p.round;
        out.voters = _voters(p);
        out.flags = p.flags;
        out.reportHash = p.reportHash;
        out.proposer = p.proposer;
        out.bond = p.bond;
        out.disputer = p.disputer;
        out.disputeBond = p.disputeBond;
        out.disputeId = p.disputeId;
    }

    /// @inheritdoc IOracleCommittee
    function isPending(uint256 taskId) external view returns (bool) {
        Round storage p = _proposals[taskId];
        return p.challengeEnds != 0 && p.flags & DISPUTED == 0;
    }

    /// @inheritdoc IOracleCommittee
    function everPending(uint256 taskId) external view returns (bool) {
        return _proposals[taskId].flags & EVER_PENDING != 0;
    }

    /// @inheritdoc IOracleCommittee
    function votes(
        uint256 taskId,
        bytes32 root,
        uint128 total,
        bytes32 reportHash,
        bytes32 inputsHash
    ) external view returns (uint256) {
        (, uint24 rulesId,,,,) = _escrow.payoutWindow(taskId);
        Round storage p = _proposals[taskId];
        bytes28 key = _tallyKey(taskId, p.round, Payout(root, total, reportHash, inputsHash));
        bytes32 head = p.head;
        uint32 voters;
        if (p.challengeEnds == 0) {
            // Nothing pending: the lead's voters are in the head, the others in their tallies.
            voters = head != bytes32(0) && bytes28(head) == key
                ? uint32(uint256(head))
                : _tallies[key];
        } else if (
            p.proposer == address(0) && head == root && p.total == total
                && p.reportHash == reportHash && p.inputsTag == uint16(uint256(inputsHash))
        ) {
            // A pending committee payout's voters are in `voters` (see _vote).
            voters = p.voters;
        } else {
            voters = _tallies[key];
        }
        return _popcount(voters & ~_revoked[rulesId]);
    }

    /// @inheritdoc IOracleCommittee
    function hasVoted(uint256 taskId, address oracle) external view returns (bool) {
        (, uint24 rulesId,,,,) = _escrow.payoutWindow(taskId);
        uint256 slotPlusOne = _seats[rulesId][oracle].slotPlusOne;
        return slotPlusOne != 0 && _voters(_proposals[taskId]) & (1 << (slotPlusOne - 1)) != 0;
    }

    /// @inheritdoc IOracleCommittee
    function stake(IERC20 token) external view returns (uint256) {
        return _stake[token];
    }

    /// @inheritdoc IOracleCommittee
    function disputeTask(address arbitrator, uint256 disputeId) external view returns (uint256) {
        return _disputeTasks[_disputeKey(arbitrator, disputeId)];
    }

    /// @inheritdoc IOracleCommittee
    function escrow() external view returns (address) {
        return address(_escrow);
    }

    /// @inheritdoc IOracleCommittee
    function version() external pure returns (string memory) {
        return "2.0.0";
    }

    function _publish(Rules memory r) private returns (uint256 id) {
        uint256 n = r.oracles.length;
        if (n == 0 || n > MAX_ORACLES) revert InvalidRules("oracles: 1 to 32");
        if (r.threshold == 0 || r.threshold > n) revert InvalidRules("threshold: 1 to oracles");
        if (address(r.arbitrator) == address(0)) revert InvalidRules("arbitrator: zero");
        if (address(r.bondToken) == address(0)) revert InvalidRules("bondToken: zero");
        if (r.burnBps > MAX_BPS) revert InvalidRules("burnBps: above 10000");
        if (r.minClaimPeriod == 0) revert InvalidRules("minClaimPeriod: zero");
        if (r.minChallengePeriod == 0) revert InvalidRules("minChallengePeriod: zero");
        // Bonded proposals must have time to come in before the oracle deadline.
        if (r.committeeGrace >= r.minProposalWindow) {
            revert InvalidRules("committeeGrace: not below minProposalWindow");
        }
        id = ++_rulesCount;
        _rules[id] = r;
        mapping(address => Seat) storage seats = _seats[id];
        for (uint256 i; i < n; ++i) {
            address o = r.oracles[i];
            if (o == address(0)) revert InvalidRules("oracles: zero address");
            if (seats[o].slotPlusOne != 0) revert InvalidRules("oracles: duplicate");
            if (o == r.guardian) revert InvalidRules("guardian: also an oracle");
            // i < n <= 32
            seats[o] = Seat({
                slotPlusOne: uint8(i + 1),
                threshold: r.threshold,
                revoked: 0,
                bondToken: r.bondToken
            });
        }
        emit RulesPublished(id, r);
    }

    /// @dev Checks common to both kinds of proposal: the task is funded and past its reveal
    /// deadline, the payout is well formed, nothing is pending, and a first proposal is in time.
    function _checkProposal(uint256 taskId, Round storage p, Payout memory pay)
        private
        view
        returns (uint256 rulesId, uint64 revealDeadline, uint32 challengePeriod)
    {
        if (pay.root == bytes32(0)) revert EmptyRoot();
        if (pay.inputsHash == bytes32(0)) revert EmptyInputsHash();
        uint256 status;
        uint256 budget;
        uint256 oracleTimeout;
        (status, rulesId, budget, revealDeadline, challengePeriod, oracleTimeout) =
            _payoutWindow(taskId);
        if (status != uint256(ITaskEscrow.Status.Funded)) revert TaskNotFunded(taskId);
        if (block.timestamp <= revealDeadline) revert RevealWindowOpen(taskId, revealDeadline);
        if (pay.total > budget) revert PayoutExceedsBudget(taskId, pay.total, budget);
        (uint40 ends, uint8 flags) = (p.challengeEnds, p.flags);
        if (flags & DISPUTED != 0) revert UnderDispute(taskId, p.disputeId);
        if (ends != 0) revert ProposalAlreadyPending(taskId);
        // Until a proposal has been pending, the requester may take the budget back after the
        // oracle deadline; a first proposal must come before then. Afterwards there is no
        // deadline: the labels are out and the annotators must be paid.
        uint256 deadline = uint256(revealDeadline) + oracleTimeout;
        if (flags & EVER_PENDING == 0 && block.timestamp > deadline) {
            revert ProposalTooLate(taskId, deadline);
        }
    }

    /// @dev `_escrow.payoutWindow(taskId)` for the proposal checks, run on every vote: a plain
    /// staticcall whose answer is read without the generic decoder's range checks (the escrow
    /// is fixed at deployment and returns its own stored fields).
    function _payoutWindow(uint256 taskId)
        private
        view
        returns (
            uint256 status,
            uint256 rulesId,
            uint256 budget,
            uint64 revealDeadline,
            uint32 challengePeriod,
            uint256 oracleTimeout
        )
    {
        address escrow_ = address(_escrow);
        bytes4 selector = ITaskEscrow.payoutWindow.selector;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, selector)
            mstore(add(m, 0x04), taskId)
            if iszero(staticcall(gas(), escrow_, m, 0x24, m, 0xc0)) {
                returndatacopy(m, 0, returndatasize())
                revert(m, returndatasize())
            }
            if lt(returndatasize(), 0xc0) { revert(0, 0) }
            status := mload(m)
            rulesId := mload(add(m, 0x20))
            budget := mload(add(m, 0x40))
            revealDeadline := mload(add(m, 0x60))
            challengePeriod := mload(add(m, 0x80))
            oracleTimeout := mload(add(m, 0xa0))
        }
    }

    /// @dev Records the caller's vote; returns whether it decides the round (the payout reached
    /// the threshold of live votes) and the payout's voters. The first payout of a round is
    /// its lead, kept in the head; others are tallied in {_tallies}. The deciding vote writes
    /// no tally: the payout becomes pending and takes no more votes, so its voters go to
    /// `voters` (see {votes}), and a lead it displaces moves to its tally.
    function _vote(
        Round storage p,
        uint256 taskId,
        Seat memory seat,
        Payout memory pay
    ) private returns (bool decided, uint32 voters) {
        (uint256 slotPlusOne, uint32 revoked) = (seat.slotPlusOne, seat.revoked);
        if (slotPlusOne == 0) revert NotOracle(taskId, msg.sender);
        uint32 bit;
        // 1 <= slotPlusOne <= 32
        unchecked {
            bit = uint32(1 << (slotPlusOne - 1));
        }
        if (revoked & bit != 0) revert NotOracle(taskId, msg.sender);
        (uint32 round, uint32 others) = (p.round, p.voters);
        bytes32 head = p.head;
        if ((uint32(uint256(head)) | others) & bit != 0) {
            revert AlreadyVoted(taskId, round, msg.sender);
        }
        bytes28 key = _tallyKey(taskId, round, pay);
        bool lead = head == bytes32(0) || bytes28(head) == key;
        voters = (lead ? uint32(uint256(head)) : _tallies[key]) | bit;
        uint256 count = _popcount(voters & ~revoked);
        decided = count >= seat.threshold;
        if (decided) {
            if (!lead) _tallies[bytes28(head)] = uint32(uint256(head));
        } else if (lead) {
            p.head = bytes32(key) | bytes32(uint256(voters));
        } else {
            _tallies[key] = voters;
            p.voters = others | bit;
        }
        _emitProposed(taskId, round, pay, count);
    }

    function _emitProposed(uint256 taskId, uint32 round, Payout memory pay, uint256 count)
        private
    {
        emit Proposed(
            taskId,
            msg.sender,
            round,
            pay.root,
            pay.total,
            pay.reportHash,
            pay.inputsHash,
            count
        );
    }

    /// @dev Before a bonded proposal becomes pending: the round's lead moves to its tally, so
    /// its votes stay countable; returns every oracle that voted in the round, which `voters`
    /// keeps while the bonded proposal is pending.
    function _dropLead(Round storage p) private returns (uint32 voters) {
        voters = p.voters;
        bytes32 head = p.head;
        if (head != bytes32(0)) {
            uint32 leadVoters = uint32(uint256(head));
            _tallies[bytes28(head)] = leadVoters;
            voters |= leadVoters;
        }
    }

    /// @dev Locks the proposer bond of a committee proposal from the stake, as far as the stake
    /// goes; returns it. Without stake the bond is zero whatever the rules ask.
    function _lockStake(IERC20 bondToken, uint256 rulesId) private returns (uint96 bond) {
        uint256 available = _stake[bondToken];
        if (available == 0) return 0;
        bond = _rules[rulesId].proposerBond;
        if (available < bond) bond = uint96(available);
        if (bond != 0) _stake[bondToken] = available - bond;
    }

    function _makePending(
        Round storage p,
        uint256 taskId,
        Payout memory pay,
        uint32 challengePeriod,
        address proposer,
        uint96 bond,
        uint32 voters
    ) private {
        uint40 ends = uint40(block.timestamp + challengePeriod);
        (uint32 round, uint8 flags) = (p.round, p.flags);
        p.head = pay.root;
        p.total = pay.total;
        p.challengeEnds = ends;
        p.voters = voters;
        p.flags = flags | EVER_PENDING;
        p.inputsTag = uint16(uint256(pay.inputsHash));
        p.reportHash = pay.reportHash;
        // A new round leaves both zero, so an unbonded committee proposal writes nothing here.
        if (proposer != address(0) || bond != 0) {
            p.proposer = proposer;
            p.bond = bond;
        }
        emit ProposalPending(
            taskId,
            round,
            pay.root,
            pay.total,
            pay.reportHash,
            pay.inputsHash,
            ends,
            proposer,
            bond
        );
    }

    /// @dev Clears the round's proposal and votes; returns the new round number.
    function _newRound(Round storage p) private returns (uint32 round) {
        round = p.round + 1;
        p.round = round;
        p.head = bytes32(0);
        p.total = 0;
        p.challengeEnds = 0;
        p.voters = 0;
        p.inputsTag = 0;
        p.reportHash = bytes32(0);
        p.proposer = address(0);
        p.bond = 0;
    }

    function _requireNothingPending(uint256 taskId, Round storage p) private view {
        if (p.flags & DISPUTED != 0) revert UnderDispute(taskId, p.disputeId);
        if (p.challengeEnds != 0) revert ProposalAlreadyPending(taskId);
    }

    /// @dev The pending proposal, undisputed and inside its challenge window.
    function _requireChallengeable(uint256 taskId, Round storage p) private view {
        uint40 ends = p.challengeEnds;
        if (ends == 0) revert NoPendingProposal(taskId);
        if (p.flags & DISPUTED != 0) revert UnderDispute(taskId, p.disputeId);
        if (block.timestamp >= ends) revert ChallengeWindowClosed(taskId, ends);
    }

    /// @dev Gives the pending proposal's bond back: to the bonded proposer, or to the stake.
    function _returnProposerBond(uint256 taskId, Round storage p, IERC20 token) private {
        uint96 bond = p.bond;
        p.bond = 0;
        if (p.proposer == address(0)) {
            _stake[token] += bond;
        } else {
            _send(taskId, token, p.proposer, bond);
        }
    }

    /// @dev Where a winning proposal's share goes: its bonded proposer, or the committee's
    /// stake (address(this) marks the stake).
    function _proposerOrStake(Round storage p) private view returns (address) {
        address proposer = p.proposer;
        return proposer == address(0) ? address(this) : proposer;
    }

    /// @dev A losing bond: `burnBps` of it burned, the rest to `winner` (address(this) means the
    /// committee's stake). The winning proposal's own bond (if any) stays locked behind it.
    function _forfeit(
        uint256 taskId,
        IERC20 token,
        uint96 amount,
        uint16 burnBps,
        address winner
    ) private {
        // amount < 2^96 and burnBps <= 10^4: the product fits easily.
        uint256 burned = uint256(amount) * burnBps / MAX_BPS;
        _send(taskId, token, BURN, burned);
        uint256 rest = amount - burned;
        if (winner == address(this)) {
            _stake[token] += rest;
            emit BondSettled(taskId, address(token), address(this), rest);
        } else {
            _send(taskId, token, winner, rest);
        }
    }

    function _send(uint256 taskId, IERC20 token, address to, uint256 amount) private {
        if (amount == 0) return;
        token.safeTransfer(to, amount);
        emit BondSettled(taskId, address(token), to, amount);
    }

    /// @dev A payout's tally key in a task's round: 224 bits of hash, like the registry's
    /// commitments, so that a lead's key and voters share a word.
    function _tallyKey(uint256 taskId, uint32 round, Payout memory pay)
        private
        pure
        returns (bytes28 key)
    {
        // bytes28(keccak256(abi.encode(taskId, round, root, total, reportHash, inputsHash))),
        // encoded in the free memory without allocating it.
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, taskId)
            mstore(add(m, 0x20), and(round, 0xffffffff))
            mstore(add(m, 0x40), mload(pay))
            mstore(add(m, 0x60), and(mload(add(pay, 0x20)), 0xffffffffffffffffffffffffffffffff))
            mstore(add(m, 0x80), mload(add(pay, 0x40)))
            mstore(add(m, 0xa0), mload(add(pay, 0x60)))
            key := and(keccak256(m, 0xc0), not(0xffffffff))
        }
    }

    /// @dev The round's voters as {Proposal.voters} has them: before a payout is pending, the
    /// lead's and the other payouts' voters.
    function _voters(Round storage p) private view returns (uint32) {
        if (p.challengeEnds != 0) return p.voters;
        return uint32(uint256(p.head)) | p.voters;
    }

    function _disputeKey(address arbitrator, uint256 disputeId) private pure returns (bytes32) {
        return keccak256(abi.encode(arbitrator, disputeId));
    }

    function _popcount(uint32 x) private pure returns (uint256 n) {
        // x - 1 runs only while x != 0, and n counts at most 32 bits.
        unchecked {
            for (; x != 0; x &= x - 1) ++n;
        }
    }
}
