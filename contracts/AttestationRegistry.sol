// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {IAttestationRegistry} from "./interfaces/IAttestationRegistry.sol";

/// @title AttestationRegistry
/// @notice Records what each annotator committed to label, per task, directly or through a
/// relayer. Deadlines come from the escrow when it opens a task.
contract AttestationRegistry is IAttestationRegistry, EIP712 {
    /// @dev The EIP-712 struct an annotator signs; chain, contract and registry version come from
    /// the domain, the task from the struct, so a signature is valid in exactly one place.
    bytes32 public constant ATTESTATION_TYPEHASH = keccak256(
        "Attestation(uint256 taskId,address annotator,bytes32 root,uint32 itemCount,uint32 version)"
    );

    struct Window {
        uint64 annotationDeadline;
        bool open;
        bool attested;
    }

    // One word per commitment keeps an attestation to a single fresh storage write.
    struct Commitment {
        bytes28 digest;
        uint32 version;
    }

    address private immutable _escrow;
    mapping(uint256 taskId => Window) private _windows;
    mapping(uint256 taskId => mapping(address annotator => Commitment)) private _commitments;

    /// @param escrow_ the TaskEscrow that opens and closes tasks.
    constructor(address escrow_) EIP712("labelproof AttestationRegistry", "1") {
        _escrow = escrow_;
    }

    modifier onlyEscrow() {
        if (msg.sender != _escrow) revert NotEscrow(msg.sender);
        _;
    }

    /// @inheritdoc IAttestationRegistry
    function openTask(uint256 taskId, uint64 annotationDeadline) external onlyEscrow {
        _windows[taskId] = Window({annotationDeadline: annotationDeadline, open: true, attested: false});
        emit TaskOpened(taskId, annotationDeadline);
    }

    /// @inheritdoc IAttestationRegistry
    function closeTask(uint256 taskId) external onlyEscrow {
        _windows[taskId].open = false;
        emit TaskClosed(taskId);
    }

    /// @inheritdoc IAttestationRegistry
    function closeAnnotation(uint256 taskId) external onlyEscrow {
        _windows[taskId].annotationDeadline = uint64(block.timestamp);
        emit AnnotationClosed(taskId, uint64(block.timestamp));
    }

    /// @inheritdoc IAttestationRegistry
    function attest(uint256 taskId, bytes32 root, uint32 itemCount) external {
        uint32 current = _commitments[taskId][msg.sender].version;
        // At the top version the next one cannot exist: _check then reports StaleVersion.
        uint32 next = current == type(uint32).max ? current : current + 1;
        Window storage w = _windows[taskId];
        bytes4 problem = _check(w, root, itemCount, next, current);
        if (problem != bytes4(0)) _revertWith(problem, taskId, msg.sender, w, next, current);
        _record(w, taskId, msg.sender, root, itemCount, next);
    }

    /// @inheritdoc IAttestationRegistry
    function attestBySig(SignedAttestation[] calldata attestations)
        external
        returns (uint256 recorded)
    {
        uint256 n = attestations.length;
        if (n == 0) revert EmptyBatch();
        for (uint256 i; i < n; ++i) {
            SignedAttestation calldata a = attestations[i];
            bytes32 digest = _hashAttestation(a.taskId, a.annotator, a.root, a.itemCount, a.version);
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, a.v, a.r, a.s);
            bytes4 problem;
            if (err != ECDSA.RecoverError.NoError || signer != a.annotator || signer == address(0)) {
                problem = InvalidSignature.selector;
            }
            Window storage w = _windows[a.taskId];
            if (problem == bytes4(0)) {
                uint32 current = _commitments[a.taskId][a.annotator].version;
                problem = _check(w, a.root, a.itemCount, a.version, current);
            }
            if (problem != bytes4(0)) {
                emit AttestationSkipped(i, a.taskId, a.annotator, problem);
                continue;
            }
            _record(w, a.taskId, a.annotator, a.root, a.itemCount, a.version);
            ++recorded;
        }
    }

    /// @inheritdoc IAttestationRegistry
    function attestation(uint256 taskId, address annotator)
        external
        view
        returns (bytes28 digest, uint32 version_)
    {
        Commitment memory c = _commitments[taskId][annotator];
        return (c.digest, c.version);
    }

    /// @inheritdoc IAttestationRegistry
    function isAttested(uint256 taskId, address annotator, bytes32 root, uint32 itemCount)
        external
        view
        returns (bool)
    {
        Commitment memory c = _commitments[taskId][annotator];
        return c.version != 0 && c.digest == _digest(root, itemCount);
    }

    /// @inheritdoc IAttestationRegistry
    function hasAttestations(uint256 taskId) external view returns (bool) {
        return _windows[taskId].attested;
    }

    /// @inheritdoc IAttestationRegistry
    function window(uint256 taskId) external view returns (uint64 annotationDeadline, bool open) {
        Window memory w = _windows[taskId];
        return (w.annotationDeadline, w.open);
    }

    /// @inheritdoc IAttestationRegistry
    function annotationLeaf(
        uint256 taskId,
        string calldata item,
        address annotator,
        string calldata label,
        bytes32 salt
    ) external view returns (bytes32) {
        return keccak256(
            abi.encode(
                block.chainid,
                _escrow,
                taskId,
                keccak256(bytes(item)),
                annotator,
                keccak256(abi.encode(label, salt))
            )
        );
    }

    /// @inheritdoc IAttestationRegistry
    function verifyAnnotation(
        uint256 taskId,
        address annotator,
        bytes32 root,
        uint32 itemCount,
        bytes32 leaf,
        bytes32[] calldata proof
    ) external view returns (bool) {
        Commitment memory c = _commitments[taskId][annotator];
        if (c.version == 0 || c.digest != _digest(root, itemCount)) return false;
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @inheritdoc IAttestationRegistry
    function hashAttestation(
        uint256 taskId,
        address annotator,
        bytes32 root,
        uint32 itemCount,
        uint32 version_
    ) external view returns (bytes32) {
        return _hashAttestation(taskId, annotator, root, itemCount, version_);
    }

    /// @inheritdoc IAttestationRegistry
    function escrow() external view returns (address) {
        return _escrow;
    }

    /// @inheritdoc IAttestationRegistry
    function version() external pure returns (string memory) {
        return "2.0.0";
    }

    /// @dev Why an attestation cannot be recorded (an error selector), or zero if it can.
    function _check(
        Window storage w,
        bytes32 root,
        uint32 itemCount,
        uint32 newVersion,
        uint32 current
    ) private view returns (bytes4) {
        if (!w.open) return TaskNotOpen.selector;
        if (block.timestamp > w.annotationDeadline) return AnnotationWindowClosed.selector;
        if (root == bytes32(0)) return EmptyRoot.selector;
        if (itemCount == 0) return ZeroItems.selector;
        if (newVersion <= current) return StaleVersion.selector;
        return bytes4(0);
    }

    /// @dev Raises the error `_check` found, with its arguments.
    function _revertWith(
        bytes4 problem,
        uint256 taskId,
        address annotator,
        Window storage w,
        uint32 newVersion,
        uint32 current
    ) private view {
        if (problem == TaskNotOpen.selector) revert TaskNotOpen(taskId);
        if (problem == AnnotationWindowClosed.selector) {
            revert AnnotationWindowClosed(taskId, w.annotationDeadline);
        }
        if (problem == EmptyRoot.selector) revert EmptyRoot();
        if (problem == ZeroItems.selector) revert ZeroItems();
        revert StaleVersion(taskId, annotator, newVersion, current);
    }

    function _record(
        Window storage w,
        uint256 taskId,
        address annotator,
        bytes32 root,
        uint32 itemCount,
        uint32 newVersion
    ) private {
        if (!w.attested) w.attested = true;
        _commitments[taskId][annotator] =
            Commitment({digest: _digest(root, itemCount), version: newVersion});
        emit Attested(taskId, annotator, root, itemCount, newVersion);
    }

    function _hashAttestation(
        uint256 taskId,
        address annotator,
        bytes32 root,
        uint32 itemCount,
        uint32 version_
    ) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(ATTESTATION_TYPEHASH, taskId, annotator, root, itemCount, version_))
        );
    }

    function _digest(bytes32 root, uint32 itemCount) private pure returns (bytes28) {
        return bytes28(keccak256(abi.encode(root, itemCount)));
    }
}
