// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title IAttestationRegistry
/// @notice One commitment per (task, annotator): the Merkle root of the annotator's annotation
/// leaves and the number of items. Replaceable until the task's annotation deadline, submitted by
/// the annotator or relayed as EIP-712 signatures (annotators then need no ETH).
/// @dev Storage keeps one word per (task, annotator): a 224-bit digest of (root, itemCount) and a
/// version counter. The root and count themselves are in the {Attested} events; {isAttested}
/// checks a claimed (root, itemCount) against the digest.
interface IAttestationRegistry {
    /// @notice An attestation signed by `annotator` for a relayer to submit.
    /// @param version must exceed the stored version, so an older signature cannot be replayed
    /// once the annotator has replaced it.
    struct SignedAttestation {
        uint256 taskId;
        address annotator;
        bytes32 root;
        uint32 itemCount;
        uint32 version;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice Emitted when the escrow opens a task for attestations.
    event TaskOpened(uint256 indexed taskId, uint64 annotationDeadline);

    /// @notice Emitted when the escrow closes a task's annotation window early.
    event AnnotationClosed(uint256 indexed taskId, uint64 annotationDeadline);

    /// @notice Emitted when the escrow closes a cancelled task.
    event TaskClosed(uint256 indexed taskId);

    /// @notice Emitted for every commitment, first or replacing an earlier one.
    event Attested(
        uint256 indexed taskId,
        address indexed annotator,
        bytes32 root,
        uint32 itemCount,
        uint32 version
    );

    /// @notice Emitted for a batch entry that was not recorded, so one bad or outdated signature
    /// cannot sink the rest of a relayed batch. `reason` is the selector of the error a direct
    /// submission would have raised (for instance {StaleVersion} when the annotator attested
    /// directly meanwhile, or {InvalidSignature}).
    event AttestationSkipped(
        uint256 indexed index, uint256 indexed taskId, address indexed annotator, bytes4 reason
    );

    error NotEscrow(address caller);
    error TaskNotOpen(uint256 taskId);
    error AnnotationWindowClosed(uint256 taskId, uint64 annotationDeadline);
    error EmptyRoot();
    error ZeroItems();
    error StaleVersion(uint256 taskId, address annotator, uint32 version, uint32 current);
    error InvalidSignature(uint256 index, address annotator);
    error EmptyBatch();

    /// @notice Opens `taskId` for attestations until `annotationDeadline`. Only the escrow.
    function openTask(uint256 taskId, uint64 annotationDeadline) external;

    /// @notice Closes a cancelled task so nobody attests to it any more. Only the escrow.
    function closeTask(uint256 taskId) external;

    /// @notice Moves the annotation deadline of `taskId` to now (a task closed early). Only the
    /// escrow.
    function closeAnnotation(uint256 taskId) external;

    /// @notice Commits the caller's annotation root and item count for `taskId`.
    function attest(uint256 taskId, bytes32 root, uint32 itemCount) external;

    /// @notice Submits signed attestations in one batch; anyone may relay them. Each entry is
    /// recorded or skipped on its own (see {AttestationSkipped}); only an empty batch reverts.
    /// @return recorded how many entries were recorded.
    function attestBySig(SignedAttestation[] calldata attestations)
        external
        returns (uint256 recorded);

    /// @notice The stored digest and version of (taskId, annotator); zero if none.
    function attestation(uint256 taskId, address annotator)
        external
        view
        returns (bytes28 digest, uint32 version);

    /// @notice Whether (root, itemCount) is `annotator`'s current commitment for `taskId`.
    function isAttested(uint256 taskId, address annotator, bytes32 root, uint32 itemCount)
        external
        view
        returns (bool);

    /// @notice Whether anyone has attested to `taskId` (a task can only be cancelled before).
    function hasAttestations(uint256 taskId) external view returns (bool);

    /// @notice The task's annotation deadline, and whether it is open (created and not cancelled).
    function window(uint256 taskId) external view returns (uint64 annotationDeadline, bool open);

    /// @notice The leaf committing `annotator` to `label` for `item` of `taskId` on this chain and
    /// escrow: keccak256(abi.encode(chainId, escrow, taskId, keccak256(item), annotator,
    /// keccak256(abi.encode(label, salt)))). Off-chain code builds the same leaves.
    function annotationLeaf(
        uint256 taskId,
        string calldata item,
        address annotator,
        string calldata label,
        bytes32 salt
    ) external view returns (bytes32);

    /// @notice Whether `leaf` (see {annotationLeaf}) is under `annotator`'s current commitment
    /// (root, itemCount) for `taskId`, given its Merkle proof (sorted-pair hashing).
    function verifyAnnotation(
        uint256 taskId,
        address annotator,
        bytes32 root,
        uint32 itemCount,
        bytes32 leaf,
        bytes32[] calldata proof
    ) external view returns (bool);

    /// @notice The EIP-712 digest an annotator signs for a relayed attestation.
    function hashAttestation(
        uint256 taskId,
        address annotator,
        bytes32 root,
        uint32 itemCount,
        uint32 version
    ) external view returns (bytes32);

    /// @notice The escrow this registry serves.
    function escrow() external view returns (address);

    /// @notice Semantic version of this immutable deployment.
    function version() external pure returns (string memory);
}
