// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

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
        _record(w, _commitments[taskId][msg.sender], taskId, msg.sender, root, itemCount, next);
    }

    /// @inheritdoc IAttestationRegistry
    function attestBySig(SignedAttestation[] calldata attestations)
        external
        returns (uint256 recorded)
    {
        if (attestations.length == 0) revert EmptyBatch();
        return _attestBatch(attestations);
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

    /// @dev The entries of {attestBySig}, in one assembly loop: per entry it costs the
    /// commitment's storage word, the signature recovery and the event, and little else. Entry
    /// by entry it does what {attest} does for the signer (with {_check}'s reasons for skipping,
    /// the signature checked first) and what the compiler's calldata decoder and
    /// ECDSA.tryRecover would do:
    /// - a field out of its type's range (address, uint32, uint8) reverts the call without data;
    /// - the digest is _hashAttestation's (EIP-712, this contract's domain);
    /// - the signature is invalid if s is in the upper half order or nothing is recovered, or
    ///   the signer is not the annotator.
    /// Storage words as the compiler lays them out: Window = annotationDeadline (bits 0-63),
    /// open (64-71), attested (72-79); Commitment = digest (bits 0-223), version (224-255).
    function _attestBatch(SignedAttestation[] calldata list) private returns (uint256 recorded) {
        // What the loop needs besides the entry, in memory to spare the stack. The domain is
        // fixed for the whole call (it only changes with the chain id). The reasons for
        // skipping are packed four bytes each, InvalidSignature lowest.
        bytes32[5] memory k = [
            ATTESTATION_TYPEHASH,
            _domainSeparatorV4(),
            Attested.selector,
            AttestationSkipped.selector,
            bytes32(
                uint256(uint32(InvalidSignature.selector))
                    | uint256(uint32(TaskNotOpen.selector)) << 32
                    | uint256(uint32(AnnotationWindowClosed.selector)) << 64
                    | uint256(uint32(EmptyRoot.selector)) << 96
                    | uint256(uint32(ZeroItems.selector)) << 128
                    | uint256(uint32(StaleVersion.selector)) << 160
            )
        ];
        assembly ("memory-safe") {
            let m := mload(0x40) // scratch: nothing is allocated
            let reasons := mload(add(k, 0x80))
            for { let i := 0 } lt(i, list.length) { i := add(i, 1) } {
                let a := add(list.offset, shl(8, i)) // 8 words per entry
                // the calldata decoder's range checks (address, uint32, uint32, uint8)
                if or(
                    or(shr(160, calldataload(add(a, 0x20))), shr(32, calldataload(add(a, 0x60)))),
                    or(shr(32, calldataload(add(a, 0x80))), shr(8, calldataload(add(a, 0xa0))))
                ) { revert(0x00, 0x00) }
                let signer := 0
                {
                    // keccak256(abi.encode(ATTESTATION_TYPEHASH, taskId, annotator, root,
                    // itemCount, version)): the five fields as they stand in calldata; then
                    // MessageHashUtils.toTypedDataHash(domain, structHash)
                    mstore(m, mload(k))
                    calldatacopy(add(m, 0x20), a, 0xa0)
                    mstore(add(m, 0x40), keccak256(m, 0xc0))
                    mstore(add(m, 0x20), mload(add(k, 0x20)))
                    mstore(m, 0x1901)
                    let digest := keccak256(add(m, 0x1e), 0x42)
                    let s := calldataload(add(a, 0xe0))
                    if iszero(gt(s, 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0)) {
                        mstore(m, digest)
                        mstore(add(m, 0x20), calldataload(add(a, 0xa0)))
                        mstore(add(m, 0x40), calldataload(add(a, 0xc0)))
                        mstore(add(m, 0x60), s)
                        mstore(0x00, 0)
                        if iszero(staticcall(gas(), 0x01, m, 0x80, 0x00, 0x20)) { revert(0x00, 0x00) }
                        signer := mload(0x00)
                    }
                }
                let annotator := calldataload(add(a, 0x20))
                let problem := 1 // InvalidSignature
                if and(iszero(iszero(signer)), eq(signer, annotator)) {
                    // _windows[taskId] and _commitments[taskId][annotator]
                    mstore(0x00, calldataload(a))
                    mstore(0x20, _windows.slot)
                    let wSlot := keccak256(0x00, 0x40)
                    mstore(0x20, _commitments.slot)
                    mstore(0x20, keccak256(0x00, 0x40))
                    mstore(0x00, annotator)
                    let cSlot := keccak256(0x00, 0x40)
                    let w := sload(wSlot)
                    // _check's reasons, in its order
                    problem := 0
                    switch and(shr(64, w), 0xff)
                    case 0 { problem := 2 }
                    default {
                        switch gt(timestamp(), and(w, 0xffffffffffffffff))
                        case 1 { problem := 3 }
                        default {
                            switch iszero(calldataload(add(a, 0x40)))
                            case 1 { problem := 4 }
                            default {
                                switch iszero(calldataload(add(a, 0x60)))
                                case 1 { problem := 5 }
                                default {
                                    if iszero(gt(calldataload(add(a, 0x80)), shr(224, sload(cSlot)))) {
                                        problem := 6
                                    }
                                }
                            }
                        }
                    }
                    if iszero(problem) {
                        // _record
                        if iszero(and(shr(72, w), 0xff)) { sstore(wSlot, or(w, shl(72, 1))) }
                        calldatacopy(m, add(a, 0x40), 0x60) // root, itemCount, version
                        mstore(0x00, mload(m))
                        mstore(0x20, mload(add(m, 0x20)))
                        sstore(cSlot, or(shl(224, mload(add(m, 0x40))), shr(32, keccak256(0x00, 0x40))))
                        log3(m, 0x60, mload(add(k, 0x40)), calldataload(a), annotator)
                        recorded := add(recorded, 1)
                    }
                }
                if problem {
                    mstore(m, shl(224, and(shr(shl(5, sub(problem, 1)), reasons), 0xffffffff)))
                    log4(m, 0x20, mload(add(k, 0x60)), i, calldataload(a), annotator)
                }
            }
        }
    }

    /// @dev Why an attestation cannot be recorded (an error selector), or zero if it can.
    function _check(
        Window storage w,
        bytes32 root,
        uint32 itemCount,
        uint32 newVersion,
        uint32 current
    ) private view returns (bytes4) {
        (bool open, uint64 deadline) = (w.open, w.annotationDeadline);
        if (!open) return TaskNotOpen.selector;
        if (block.timestamp > deadline) return AnnotationWindowClosed.selector;
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
        Commitment storage c,
        uint256 taskId,
        address annotator,
        bytes32 root,
        uint32 itemCount,
        uint32 newVersion
    ) private {
        if (!w.attested) w.attested = true;
        (c.digest, c.version) = (_digest(root, itemCount), newVersion);
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
