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

    ITaskEscrow private immutable _escrow;

    uint256 private _rulesCount;
    mapping(uint256 rulesId => Rules) private _rules;
    // slot + 1 of each oracle of a rule set, zero for a non-oracle
    mapping(uint256 rulesId => mapping(address oracle => uint256 slotPlusOne)) private _slots;
    mapping(uint256 rulesId => uint32 slots) private _revoked;
    mapping(uint256 taskId => Proposal) private _proposals;
    // Voters (bitmap) of each payout, keyed by (taskId, round, payout). A new round makes the
    // earlier tallies unreachable without deleting them.
    mapping(bytes32 tallyKey => uint32 voters) private _tallies;
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
    function propose(
        uint256 taskId,
        bytes32 root,
        uint128 total,
        bytes32 reportHash,
        bytes32 inputsHash
    ) external nonReentrant {
        Payout memory pay = Payout(root, total, reportHash, inputsHash);
        (Rules storage r, uint256 rulesId,, uint32 challengePeriod) = _checkProposal(taskId, pay);
        Proposal storage p = _proposals[taskId];
        uint256 threshold = r.threshold;
        if (_vote(p, taskId, rulesId, threshold, pay) >= threshold) {
            // The committee's proposal is backed by its stake, as far as the stake goes.
            IERC20 bondToken = r.bondToken;
            uint96 bond = r.proposerBond;
            if (bond != 0) {
                uint256 available = _stake[bondToken];
                if (available < bond) bond = uint96(available);
                if (bond != 0) _stake[bondToken] = available - bond;
            }
            _makePending(p, taskId, pay, challengePeriod, address(0), bond);
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
        (Rules storage r,, uint64 revealDeadline, uint32 challengePeriod) =
            _checkProposal(taskId, pay);
        uint256 opensAt = uint256(revealDeadline) + r.committeeGrace;
        if (block.timestamp <= opensAt) revert CommitteeGrace(taskId, opensAt);

        uint96 bond = r.proposerBond;
        _makePending(_proposals[taskId], taskId, pay, challengePeriod, msg.sender, bond);
        if (bond != 0) r.bondToken.safeTransferFrom(msg.sender, address(this), bond);
    }

    /// @inheritdoc IOracleCommittee
    function restartRound(uint256 taskId) external {
        Proposal storage p = _proposals[taskId];
        _requireNothingPending(taskId, p);
        (ITaskEscrow.Status status, uint24 rulesId,,,,) = _escrow.payoutWindow(taskId);
        if (status != ITaskEscrow.Status.Funded) revert TaskNotFunded(taskId);
        Rules storage r = _rules[rulesId];
        uint32 all = uint32((uint256(1) << r.oracles.length) - 1);
        uint32 live = all & ~_revoked[rulesId];
        uint256 liveCount = _popcount(live);
        uint256 liveVoted = _popcount(p.voters & live);
        // Every live oracle has spoken and no payout got enough votes, or too few are left.
        if (liveVoted < liveCount && liveCount >= r.threshold) {
            revert RoundCanProceed(taskId, liveVoted, liveCount);
        }
        uint32 round = _newRound(p);
        emit RoundRestarted(taskId, round, msg.sender);
    }

    /// @inheritdoc IOracleCommittee
    function veto(uint256 taskId, string calldata reason) external nonReentrant {
        Proposal storage p = _proposals[taskId];
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
        Proposal storage p = _proposals[taskId];
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
        Proposal storage p = _proposals[taskId];
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
        Proposal storage p = _proposals[taskId];
        uint40 ends = p.challengeEnds;
        if (ends == 0) revert NoPendingProposal(taskId);
        if (p.flags & DISPUTED != 0) revert UnderDispute(taskId, p.disputeId);
        if (block.timestamp < ends) revert ChallengeWindowOpen(taskId, ends);

        (bytes32 root, uint128 total, bytes32 reportHash) = (p.root, p.total, p.reportHash);
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
        uint256 slotPlusOne = _slots[rulesId][oracle];
        if (slotPlusOne == 0) revert NotOracle(0, oracle);
        _revoked[rulesId] |= uint32(1 << (slotPlusOne - 1));
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
        uint256 slotPlusOne = _slots[rulesId][oracle];
        return slotPlusOne != 0 && _revoked[rulesId] & (1 << (slotPlusOne - 1)) != 0;
    }

    /// @inheritdoc IOracleCommittee
    function pending(uint256 taskId) external view returns (Proposal memory) {
        return _proposals[taskId];
    }

    /// @inheritdoc IOracleCommittee
    function isPending(uint256 taskId) external view returns (bool) {
        Proposal storage p = _proposals[taskId];
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
        Proposal storage p = _proposals[taskId];
        uint32 voters;
        // A pending committee payout's voters are in the round's bitmap (see _vote).
        if (
            p.challengeEnds != 0 && p.proposer == address(0) && p.root == root && p.total == total
                && p.reportHash == reportHash && p.inputsHash == inputsHash
        ) {
            voters = p.voters;
        } else {
            voters = _tallies[
                _tallyKey(taskId, p.round, Payout(root, total, reportHash, inputsHash))
            ];
        }
        return _popcount(voters & ~_revoked[rulesId]);
    }

    /// @inheritdoc IOracleCommittee
    function hasVoted(uint256 taskId, address oracle) external view returns (bool) {
        (, uint24 rulesId,,,,) = _escrow.payoutWindow(taskId);
        uint256 slotPlusOne = _slots[rulesId][oracle];
        return slotPlusOne != 0 && _proposals[taskId].voters & (1 << (slotPlusOne - 1)) != 0;
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
        mapping(address => uint256) storage slots = _slots[id];
        for (uint256 i; i < n; ++i) {
            address o = r.oracles[i];
            if (o == address(0)) revert InvalidRules("oracles: zero address");
            if (slots[o] != 0) revert InvalidRules("oracles: duplicate");
            if (o == r.guardian) revert InvalidRules("guardian: also an oracle");
            slots[o] = i + 1;
        }
        emit RulesPublished(id, r);
    }

    /// @dev Checks common to both kinds of proposal: the task is funded and past its reveal
    /// deadline, the payout is well formed, nothing is pending, and a first proposal is in time.
    function _checkProposal(uint256 taskId, Payout memory pay)
        private
        view
        returns (Rules storage r, uint256 rulesId, uint64 revealDeadline, uint32 challengePeriod)
    {
        if (pay.root == bytes32(0)) revert EmptyRoot();
        if (pay.inputsHash == bytes32(0)) revert EmptyInputsHash();
        ITaskEscrow.Status status;
        uint128 budget;
        uint32 oracleTimeout;
        (status, rulesId, budget, revealDeadline, challengePeriod, oracleTimeout) =
            _escrow.payoutWindow(taskId);
        if (status != ITaskEscrow.Status.Funded) revert TaskNotFunded(taskId);
        if (block.timestamp <= revealDeadline) revert RevealWindowOpen(taskId, revealDeadline);
        if (pay.total > budget) revert PayoutExceedsBudget(taskId, pay.total, budget);
        Proposal storage p = _proposals[taskId];
        _requireNothingPending(taskId, p);
        // Until a proposal has been pending, the requester may take the budget back after the
        // oracle deadline; a first proposal must come before then. Afterwards there is no
        // deadline: the labels are out and the annotators must be paid.
        uint256 deadline = uint256(revealDeadline) + oracleTimeout;
        if (p.flags & EVER_PENDING == 0 && block.timestamp > deadline) {
            revert ProposalTooLate(taskId, deadline);
        }
        r = _rules[rulesId];
    }

    /// @dev Records the caller's vote for the payout whose tally is `key`; returns the payout's
    /// live votes. The vote that reaches the threshold is not written to the tally: the payout
    /// becomes pending and takes no more votes, so the round's voter bitmap holds its voters
    /// from then on (see {votes}); that saves a 22,100-gas write.
    function _vote(
        Proposal storage p,
        uint256 taskId,
        uint256 rulesId,
        uint256 threshold,
        Payout memory pay
    ) private returns (uint256 count) {
        uint256 slotPlusOne = _slots[rulesId][msg.sender];
        uint32 revoked = _revoked[rulesId];
        if (slotPlusOne == 0 || revoked & (1 << (slotPlusOne - 1)) != 0) {
            revert NotOracle(taskId, msg.sender);
        }
        uint32 round = p.round;
        uint32 bit = uint32(1 << (slotPlusOne - 1));
        if (p.voters & bit != 0) revert AlreadyVoted(taskId, round, msg.sender);
        bytes32 key = _tallyKey(taskId, round, pay);
        uint32 voters = _tallies[key] | bit;
        count = _popcount(voters & ~revoked);
        if (count < threshold) {
            _tallies[key] = voters;
            p.voters |= bit;
        } else {
            p.voters = voters;
        }
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

    function _makePending(
        Proposal storage p,
        uint256 taskId,
        Payout memory pay,
        uint32 challengePeriod,
        address proposer,
        uint96 bond
    ) private {
        uint40 ends = uint40(block.timestamp + challengePeriod);
        p.root = pay.root;
        p.total = pay.total;
        p.reportHash = pay.reportHash;
        p.inputsHash = pay.inputsHash;
        p.challengeEnds = ends;
        p.flags |= EVER_PENDING;
        // A new round leaves both zero, so an unbonded committee proposal writes nothing here.
        if (proposer != address(0) || bond != 0) {
            p.proposer = proposer;
            p.bond = bond;
        }
        emit ProposalPending(
            taskId,
            p.round,
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
    function _newRound(Proposal storage p) private returns (uint32 round) {
        round = p.round + 1;
        p.round = round;
        p.root = bytes32(0);
        p.total = 0;
        p.challengeEnds = 0;
        p.voters = 0;
        p.reportHash = bytes32(0);
        p.inputsHash = bytes32(0);
        p.proposer = address(0);
        p.bond = 0;
    }

    function _requireNothingPending(uint256 taskId, Proposal storage p) private view {
        if (p.flags & DISPUTED != 0) revert UnderDispute(taskId, p.disputeId);
        if (p.challengeEnds != 0) revert ProposalAlreadyPending(taskId);
    }

    /// @dev The pending proposal, undisputed and inside its challenge window.
    function _requireChallengeable(uint256 taskId, Proposal storage p) private view {
        uint40 ends = p.challengeEnds;
        if (ends == 0) revert NoPendingProposal(taskId);
        if (p.flags & DISPUTED != 0) revert UnderDispute(taskId, p.disputeId);
        if (block.timestamp >= ends) revert ChallengeWindowClosed(taskId, ends);
    }

    /// @dev Gives the pending proposal's bond back: to the bonded proposer, or to the stake.
    function _returnProposerBond(uint256 taskId, Proposal storage p, IERC20 token) private {
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
    function _proposerOrStake(Proposal storage p) private view returns (address) {
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

    function _tallyKey(uint256 taskId, uint32 round, Payout memory pay)
        private
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encode(taskId, round, pay.root, pay.total, pay.reportHash, pay.inputsHash)
        );
    }

    function _disputeKey(address arbitrator, uint256 disputeId) private pure returns (bytes32) {
        return keccak256(abi.encode(arbitrator, disputeId));
    }

    function _popcount(uint32 x) private pure returns (uint256 n) {
        for (; x != 0; x &= x - 1) ++n;
    }
}
