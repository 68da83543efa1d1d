"""Python port of OpenZeppelin's ``StandardMerkleTree`` (``@openzeppelin/merkle-tree`` v1.0.8).

The on-chain claim contract verifies proofs with OpenZeppelin's ``MerkleProof``, and operators may
inspect or regenerate a distribution with the JavaScript library, so every byte this module
produces (root, proofs, the ``standard-v1`` dump) must be identical to what the JS library would
produce for the same values.  The JS semantics being mirrored:

* leaf = ``keccak256(keccak256(abi.encode(values)))`` -- the double hash keeps a 64-byte leaf
  preimage from ever being mistaken for an internal node (second-preimage protection);
* leaves are sorted by hash (stable sort, so duplicate values keep insertion order);
* the tree is a flat array holding a complete binary tree: root at index 0, children of ``i`` at
  ``2i+1``/``2i+2``, and the sorted leaves stored *in reverse* at the end of the array;
* an internal node is ``keccak256`` of its two children in ascending order (commutative hash),
  which is what lets ``MerkleProof.verify`` work without left/right flags;
* the dump keeps values in insertion order, each with the array index of its leaf.

The ``(address, uint256)`` encoding used for payouts gets a hand-written encoder because
``eth_abi`` costs tens of microseconds per leaf, which dominates building a large tree; any other
list of ABI types goes through ``eth_abi`` and is checked against the same JS behaviour in tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypedDict, cast

__all__ = [
    "MerkleError",
    "StandardMerkleTree",
    "StandardMerkleTreeData",
    "StandardMerkleValue",
    "keccak256",
    "payout_tree",
    "to_checksum_address",
]


def _abi_normalize(type_str: str) -> str:
    # eth_abi is imported on first use: it costs ~0.2 s of start-up, and the (address, uint256)
    # payout trees that `labelproof merkle build` makes never need it.
    from eth_abi.grammar import normalize

    return cast(Callable[[str], str], normalize)(type_str)


def _abi_parse(type_str: str) -> Any:
    from eth_abi.grammar import parse

    return parse(type_str)


def _abi_encode(types: list[str], values: tuple[Any, ...]) -> bytes:
    from eth_abi.abi import encode

    return encode(types, values)


FORMAT = "standard-v1"
PAYOUT_ENCODING: tuple[str, str] = ("address", "uint256")
UINT256_LIMIT = 1 << 256


class MerkleError(ValueError):
    """Any invalid input, dump or proof.

    A single ``ValueError`` subclass lets callers (CLI, tests) catch everything this module
    rejects without also swallowing programming errors such as ``TypeError`` from their own code.
    """


class StandardMerkleValue(TypedDict):
    """One entry of ``values`` in a ``standard-v1`` dump (key order matches the JS output)."""

    value: list[Any]
    treeIndex: int


class StandardMerkleTreeData(TypedDict):
    """The ``standard-v1`` dump; key order matches JS so ``json.dumps`` output is identical."""

    format: str
    leafEncoding: list[str]
    tree: list[str]
    values: list[StandardMerkleValue]


# --------------------------------------------------------------------------------------------
# keccak
# --------------------------------------------------------------------------------------------


class _Hash(Protocol):
    def digest(self) -> bytes: ...


def _pycryptodome_keccak(data: bytes) -> _Hash:
    from Crypto.Hash import keccak  # only without safe-pysha3; ~10 ms of start-up otherwise

    return keccak.new(digest_bits=256, data=data)


# Prefer safe-pysha3: it is a thin C binding, ~4x faster per call than pycryptodome (whose
# ``keccak.new`` parses keyword arguments in Python on every call) or eth_hash: ~1.9 us against
# 7-8 us for a 64-byte input, measured in a tight loop -- the biggest cost for the 4 hashes per
# leaf of a large tree.  pycryptodome stays as the fallback so the module still works
# (just slower) where the pysha3 wheel is unavailable.
try:
    import sha3 as _sha3  # type: ignore[import-not-found, unused-ignore]

    _keccak_new = cast(Callable[[bytes], _Hash], _sha3.keccak_256)
except ImportError:  # pragma: no cover - exercised only without safe-pysha3
    _keccak_new = _pycryptodome_keccak


def keccak256(data: bytes) -> bytes:
    """Ethereum's keccak256 (the pre-standard padding, not ``hashlib.sha3_256``)."""
    return _keccak_new(data).digest()


# --------------------------------------------------------------------------------------------
# hex / address helpers
# --------------------------------------------------------------------------------------------

_DEC_INT = re.compile(r"-?[0-9]+")
_HEX_INT = re.compile(r"0x[0-9a-fA-F]+")
_HEX_BYTES = re.compile(r"0x((?:[0-9a-fA-F]{2})*)")
# Byte-wise lookup tables for the vectorised EIP-55 checksum below.
_HIGH_NIBBLE_TO_0X20 = bytes.maketrans(b"0123456789abcdef", b"\0" * 8 + b"\x20" * 8)
_LETTER_TO_0XFF = bytes.maketrans(b"0123456789abcdef", b"\0" * 10 + b"\xff" * 6)
_ZERO12 = bytes(12)


def checksum_lower_hex(lower: bytes) -> str:
    """EIP-55 checksum of 40 lowercase ASCII hex digits, without a per-character Python loop.

    Each byte of ``mask`` is 0x20 where the digit is a letter and the matching hash nibble is
    >= 8; subtracting it upper-cases exactly those letters (no borrow: each such byte is an ASCII
    letter >= 0x61).  About 10x faster than ``eth_utils.to_checksum_address``, which matters
    when checksumming 100k payout addresses.
    """
    digest_hex = _keccak_new(lower).digest()[:20].hex().encode("ascii")
    mask = int.from_bytes(digest_hex.translate(_HIGH_NIBBLE_TO_0X20), "big") & int.from_bytes(
        lower.translate(_LETTER_TO_0XFF), "big"
    )
    return "0x" + (int.from_bytes(lower, "big") - mask).to_bytes(40, "big").decode("ascii")


def _payout_leaf(raw: bytes, amount: int) -> bytes:
    """The leaf of an ``(address, uint256)`` value: 20 address bytes and an in-range amount."""
    new = _keccak_new
    return new(new(_ZERO12 + raw + amount.to_bytes(32, "big")).digest()).digest()


def _checksum_bodies(lower_bodies: str) -> str:
    """``checksum_lower_hex`` of many addresses at once: ``lower_bodies`` is their 40 lowercase hex
    digits each, concatenated, and so is the result (checksummed, without ``0x``). One keccak
    call per address is unavoidable; the case flipping is ``checksum_lower_hex``'s mask arithmetic
    done once on integers spanning all of them (linear-time big-int operations in C, and no
    numpy import, which alone costs ~0.15 s of start-up)."""
    blob = lower_bodies.encode("ascii")
    new = _keccak_new
    digest_hex = (
        b"".join([new(blob[i : i + 40]).digest()[:20] for i in range(0, len(blob), 40)])
        .hex()
        .encode("ascii")
    )
    mask = int.from_bytes(digest_hex.translate(_HIGH_NIBBLE_TO_0X20), "big") & int.from_bytes(
        blob.translate(_LETTER_TO_0XFF), "big"
    )
    return (int.from_bytes(blob, "big") - mask).to_bytes(len(blob), "big").decode("ascii")


def _parse_address(value: Any) -> tuple[bytes, str]:
    """Return ``(20 raw bytes, checksummed string)``, enforcing eth_abi's address rules.

    The JS encoder is laxer (it left-pads any hex string of up to 20 bytes and ignores case), but
    a short or mis-checksummed address in a payout list is almost certainly a typo that would send
    funds nowhere, so we follow eth_abi: exactly 20 bytes, and mixed case must be a valid EIP-55
    checksum.  Canonicalising to the checksummed form is what the JS library loads unchanged.
    """
    if isinstance(value, str):
        if len(value) == 42 and value.startswith("0x"):
            body = value[2:]
            lower = body.lower()
            try:
                raw = bytes.fromhex(lower)
            except ValueError:
                raw = b""
            # fromhex skips whitespace, so a full-length result is the real "all hex" check.
            if len(raw) == 20:
                checksummed = checksum_lower_hex(lower.encode("ascii"))
                if body == lower or checksummed[2:] == body or body == body.upper():
                    return raw, checksummed
                raise MerkleError(
                    f"invalid address {value!r}: mixed-case address with a bad EIP-55 checksum "
                    f"(expected {checksummed})"
                )
        raise MerkleError(f"invalid address {value!r}: expected 0x followed by 40 hex digits")
    if isinstance(value, (bytes, bytearray)) and len(value) == 20:
        raw = bytes(value)
        return raw, checksum_lower_hex(raw.hex().encode("ascii"))
    raise MerkleError(f"invalid address {value!r}: expected a 0x-prefixed hex string")


def to_checksum_address(address: str) -> str:
    """EIP-55 checksum an address, rejecting malformed or mis-checksummed input."""
    return _parse_address(address)[1]


def _parse_int(value: Any, what: str) -> int:
    """Accept what the JS encoder's ``createBigInt`` accepts from JSON, minus its odd corners.

    JSON dumps carry uint256 values as decimal strings (JS cannot ``JSON.stringify`` a bigint),
    so strings must round-trip; ``bool`` is refused because ``True`` silently encoding as 1 hides
    bugs (JS refuses it too).  Unlike JS ``BigInt`` we do not take ``""`` as 0 or allow spaces.
    """
    if isinstance(value, bool):
        raise MerkleError(f"invalid {what} {value!r}: expected an integer, not a bool")
    if isinstance(value, int):
        return int(value)  # plain int: an IntEnum would dump as its name, not its number
    if isinstance(value, str):
        if _DEC_INT.fullmatch(value):
            return int(value, 10)
        if _HEX_INT.fullmatch(value):
            return int(value[2:], 16)
    raise MerkleError(
        f"invalid {what} {value!r}: expected an int, a decimal string or a 0x hex string"
    )


def _parse_node(node: Any, where: str) -> bytes:
    """Parse a 32-byte tree node as the JS ``toBytes`` does (``0x`` optional, any case)."""
    if isinstance(node, str) and len(node) in (64, 66):
        try:
            raw = bytes.fromhex(node[2:] if node.startswith("0x") else node)
        except ValueError:
            raw = b""
        if len(raw) == 32:  # shorter means fromhex skipped whitespace: not a valid node
            return raw
    elif isinstance(node, (bytes, bytearray)) and len(node) == 32:
        return bytes(node)
    raise MerkleError(f"{where}: Merkle tree nodes must be 32-byte hex strings, got {node!r}")


def _hex(node: bytes) -> str:
    return "0x" + node.hex()


# --------------------------------------------------------------------------------------------
# leaf encoding
# --------------------------------------------------------------------------------------------


def _is_payout_encoding(leaf_encoding: Sequence[str]) -> bool:
    return (
        len(leaf_encoding) == 2
        and leaf_encoding[0] == "address"
        and (leaf_encoding[1] in ("uint256", "uint"))
    )


def _as_sequence(value: Any, what: str) -> Sequence[Any]:
    """Leaf values and ABI arrays/tuples must be lists or tuples, never strings or bytes."""
    if isinstance(value, (list, tuple)):
        return value
    raise MerkleError(f"invalid {what} {value!r}: expected a list or tuple")


class _Encoder:
    """Normalises leaf values and hashes them for one ``leafEncoding``.

    Normalising (checksummed addresses, ``int`` numbers, ``bytes`` for byte types) happens once,
    on the way in, so dumping is a pure formatting step and equal values always compare equal.
    """

    def __init__(self, leaf_encoding: Sequence[str]) -> None:
        if isinstance(leaf_encoding, str) or not all(isinstance(t, str) for t in leaf_encoding):
            raise MerkleError(
                f"leaf encoding must be a list of ABI type strings: {leaf_encoding!r}"
            )
        if len(leaf_encoding) == 0:
            raise MerkleError("leaf encoding must name at least one ABI type")
        self.leaf_encoding: tuple[str, ...] = tuple(leaf_encoding)
        self.fast = _is_payout_encoding(self.leaf_encoding)
        self._types: list[Any] = []
        self._type_strs: list[str] = []
        if not self.fast:
            try:
                self._type_strs = [_abi_normalize(t) for t in self.leaf_encoding]
                self._types = [_abi_parse(t) for t in self._type_strs]
            except Exception as exc:  # eth_abi raises parsimonious/ABI errors of several kinds
                raise MerkleError(f"invalid leaf encoding {leaf_encoding!r}: {exc}") from exc

    # -- normalise + hash -------------------------------------------------------------------

    def prepare(self, value: Any) -> tuple[tuple[Any, ...], bytes]:
        """Return ``(normalised value, leaf hash)``; the hot path for ``(address, uint256)``."""
        seq = _as_sequence(value, "leaf value")
        if len(seq) != len(self.leaf_encoding):
            raise MerkleError(
                f"leaf value {value!r} has {len(seq)} fields, leaf encoding "
                f"{list(self.leaf_encoding)} needs {len(self.leaf_encoding)}"
            )
        if self.fast:
            raw, checksummed = _parse_address(seq[0])
            amount = seq[1]
            if type(amount) is not int:
                amount = _parse_int(amount, "uint256")
            if not 0 <= amount < UINT256_LIMIT:
                raise MerkleError(f"uint256 value {amount} out of range [0, 2**256)")
            return (checksummed, amount), _payout_leaf(raw, amount)
        normalised = tuple(self._normalise(t, v) for t, v in zip(self._types, seq, strict=True))
        try:
            encoded = _abi_encode(self._type_strs, normalised)
        except Exception as exc:  # eth_abi raises EncodingError subclasses and OverflowError
            raise MerkleError(
                f"cannot ABI-encode {value!r} as {list(self.leaf_encoding)}: {exc}"
            ) from exc
        return normalised, _keccak_new(_keccak_new(encoded).digest()).digest()

    def _normalise(self, abi_type: Any, value: Any) -> Any:
        if abi_type.is_array:
            items = _as_sequence(value, f"{abi_type.to_type_str()} value")
            size = abi_type.arrlist[-1]
            if size and len(items) != size[0]:
                raise MerkleError(
                    f"{abi_type.to_type_str()} value {value!r} must have {size[0]} items"
                )
            return tuple(self._normalise(abi_type.item_type, v) for v in items)
        components = getattr(abi_type, "components", None)
        if components is not None:
            items = _as_sequence(value, f"{abi_type.to_type_str()} value")
            if len(items) != len(components):
                raise MerkleError(
                    f"{abi_type.to_type_str()} value {value!r} must have {len(components)} fields"
                )
            return tuple(self._normalise(c, v) for c, v in zip(components, items, strict=True))
        base = abi_type.base
        if base == "address":
            return _parse_address(value)[1]
        if base in ("uint", "int"):
            return _parse_int(value, abi_type.to_type_str())
        if base == "bytes":
            if isinstance(value, (bytes, bytearray)):
                return bytes(value)
            if isinstance(value, str):
                match = _HEX_BYTES.fullmatch(value)
                if match is not None:
                    return bytes.fromhex(match.group(1))
            raise MerkleError(f"invalid {abi_type.to_type_str()} {value!r}: expected 0x hex")
        return value  # bool, string, fixed types: eth_abi validates them itself

    # -- JSON formatting --------------------------------------------------------------------

    def to_json(self, value: tuple[Any, ...]) -> list[Any]:
        """Format a normalised value the way a JS dump of string-valued input looks.

        JS dumps values exactly as it was given them, and bigints are not JSON-serialisable, so
        the only JS dumps that exist in practice carry numbers as decimal strings; bytes become
        lowercase 0x hex, which the JS encoder also accepts.
        """
        if self.fast:
            return [value[0], str(value[1])]
        return [self._json_item(t, v) for t, v in zip(self._types, value, strict=True)]

    def _json_item(self, abi_type: Any, value: Any) -> Any:
        if abi_type.is_array:
            return [self._json_item(abi_type.item_type, v) for v in value]
        components = getattr(abi_type, "components", None)
        if components is not None:
            return [self._json_item(c, v) for c, v in zip(components, value, strict=True)]
        if abi_type.base in ("uint", "int"):
            return str(value)
        if isinstance(value, bytes):
            return _hex(value)
        return value


# --------------------------------------------------------------------------------------------
# tree core (array layout identical to OZ core.js)
# --------------------------------------------------------------------------------------------


def _build_tree(sorted_leaves: list[bytes]) -> list[bytes]:
    """OZ ``makeMerkleTree``: leaves reversed at the tail, parents filled right to left.

    Filled one depth at a time, deepest first: the parents at one depth are a contiguous index
    range whose children (a contiguous range below them) are all known, so each depth is one list
    comprehension over paired slices rather than a Python loop doing index arithmetic per node.
    """
    count = len(sorted_leaves)
    tree: list[bytes] = [b""] * (count - 1) + sorted_leaves[::-1]
    new = _keccak_new
    last_parent = count - 2
    depth_start = 1
    while depth_start - 1 <= last_parent:
        depth_start *= 2
    while depth_start > 1:  # parents at this depth: [depth_start // 2 - 1, depth_start - 1)
        lo = depth_start // 2 - 1
        hi = min(depth_start - 2, last_parent)
        tree[lo : hi + 1] = [
            new(left + right if left <= right else right + left).digest()
            for left, right in zip(
                tree[2 * lo + 1 : 2 * hi + 2 : 2], tree[2 * lo + 2 : 2 * hi + 3 : 2], strict=True
            )
        ]
        depth_start //= 2
    return tree


def _node_hash(a: bytes, b: bytes) -> bytes:
    return _keccak_new(a + b if a <= b else b + a).digest()


def _check_tree(tree: Sequence[bytes]) -> None:
    """OZ ``isValidMerkleTree``: every parent must hash its children; no half-filled parent."""
    size = len(tree)
    if size == 0:
        raise MerkleError("Merkle tree is invalid: it has no nodes")
    if size % 2 == 0:
        raise MerkleError(f"Merkle tree is invalid: node {size // 2 - 1} has only one child")
    new = _keccak_new
    for i in range(size // 2):
        left = tree[2 * i + 1]
        right = tree[2 * i + 2]
        if new(left + right if left <= right else right + left).digest() != tree[i]:
            raise MerkleError(f"Merkle tree is invalid: node {i} is not the hash of its children")


def _render(hexes: Sequence[str]) -> str:
    """OZ ``renderMerkleTree``: depth-first, left child first, box-drawing prefixes."""
    size = len(hexes)
    stack: list[tuple[int, list[int]]] = [(0, [])]
    lines: list[str] = []
    while stack:
        i, path = stack.pop()
        prefix = "".join(("   ", "│  ")[p] for p in path[:-1])
        prefix += "".join(("└─ ", "├─ ")[p] for p in path[-1:])
        lines.append(f"{prefix}{i}) {hexes[i]}")
        if 2 * i + 2 < size:
            stack.append((2 * i + 2, [*path, 0]))
            stack.append((2 * i + 1, [*path, 1]))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


class StandardMerkleTree:
    """A ``StandardMerkleTree`` whose root, proofs and dump match the OZ JS library exactly.

    Instances are immutable after construction; that (plus validation in ``of``/``load``) is why
    proofs are read straight from the node array instead of being re-verified per call the way
    the JS ``getProof`` does -- re-hashing an unchanged, already-checked tree proves nothing and
    would make producing every proof of a large tree several times slower.
    """

    __slots__ = ("_encoder", "_hex_list", "_lookup", "_tree", "_tree_index", "_values")

    def __init__(
        self,
        encoder: _Encoder,
        tree: list[bytes],
        values: list[tuple[Any, ...]],
        tree_index: list[int],
    ) -> None:
        """Internal: use :meth:`of` or :meth:`load`, which validate what they pass in."""
        self._encoder = encoder
        self._tree = tree
        self._hex_list: list[str] | None = None
        self._values = values
        self._tree_index = tree_index
        self._lookup: dict[bytes, int] | None = None

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def of(
        cls,
        values: Iterable[Sequence[Any]],
        leaf_encoding: Sequence[str],
        *,
        sort_leaves: bool = True,
    ) -> StandardMerkleTree:
        """Build a tree; ``sort_leaves=False`` exists only for parity with the JS option.

        Sorting is the default because OZ multiproof verification requires sorted leaves.
        """
        encoder = _Encoder(leaf_encoding)
        normalised: list[tuple[Any, ...]] = []
        hashes: list[bytes] = []
        for position, value in enumerate(values):
            try:
                norm, leaf = encoder.prepare(value)
            except MerkleError as exc:
                raise MerkleError(f"value #{position}: {exc}") from None
            normalised.append(norm)
            hashes.append(leaf)
        count = len(hashes)
        if count == 0:
            raise MerkleError("Expected non-zero number of leaves")
        order = sorted(range(count), key=hashes.__getitem__) if sort_leaves else range(count)
        tree = _build_tree([hashes[i] for i in order])
        last = len(tree) - 1
        tree_index = [0] * count
        for leaf_position, value_index in enumerate(order):
            tree_index[value_index] = last - leaf_position
        return cls(encoder, tree, normalised, tree_index)

    @classmethod
    def of_payouts(cls, accounts: Sequence[str], amounts: Sequence[int]) -> StandardMerkleTree:
        """``of(zip(accounts, amounts), ["address", "uint256"])`` for many payouts, faster.

        ``accounts`` must each be ``0x`` and 40 hex digits (any one case, or mixed case with a
        valid EIP-55 checksum, as ``of`` requires); ``amounts`` plain ints in uint256 range. The
        checksums of all addresses are computed in one vectorised pass (``_checksum_bodies``) and
        the leaves without ``of``'s per-value type dispatch; the tree and its array layout are
        ``of``'s. Errors name the value as ``value #k`` like ``of``.
        """
        count = len(accounts)
        if count != len(amounts):
            raise MerkleError(f"{count} accounts but {len(amounts)} amounts")
        if count == 0:
            raise MerkleError("Expected non-zero number of leaves")
        # Whole-list checks in C (no per-row Python) for the common all-valid case; on failure a
        # per-row loop finds the first culprit so the message names it.
        joined = "".join(accounts) if set(map(len, accounts)) == {42} else ""
        if joined[0::42] != "0" * count or joined[1::42] != "x" * count:
            joined = ""
        # Each account starts with "0x"; any other "0x" (not hex) shortens bodies and is caught.
        bodies = joined.replace("0x", "")
        lower = bodies.lower()
        try:
            raw_all = bytes.fromhex(lower)
        except ValueError:
            raw_all = b""
        # fromhex skips whitespace: a full-length result means exactly 0x + 40 hex digits each.
        if len(raw_all) != 20 * count or len(bodies) != 40 * count:
            for position, account in enumerate(accounts):
                try:
                    _parse_address(account)
                except MerkleError as exc:
                    raise MerkleError(f"value #{position}: {exc}") from None
            raise MerkleError("invalid address")  # pragma: no cover - the loop names it
        good = _checksum_bodies(lower)
        if good == bodies:  # every address given checksummed: keep the caller's strings
            checksummed = list(accounts)
        else:
            checksummed = ["0x" + good[i : i + 40] for i in range(0, len(good), 40)]
            for position, (account, expected) in enumerate(zip(accounts, checksummed, strict=True)):
                body = account[2:]
                if body != expected[2:] and body != body.lower() and body != body.upper():
                    raise MerkleError(
                        f"value #{position}: invalid address {account!r}: mixed-case address "
                        f"with a bad EIP-55 checksum (expected {expected})"
                    )
        if set(map(type, amounts)) != {int} or min(amounts) < 0 or max(amounts) >= UINT256_LIMIT:
            for position, amount in enumerate(amounts):
                if type(amount) is not int or not 0 <= amount < UINT256_LIMIT:
                    raise MerkleError(f"value #{position}: uint256 value {amount!r} out of range")
        new = _keccak_new
        zero12 = _ZERO12
        hashes = [  # _payout_leaf, inlined: a Python call per leaf is a fifth of the work
            new(new(zero12 + raw_all[i : i + 20] + amount.to_bytes(32, "big")).digest()).digest()
            for i, amount in zip(range(0, 20 * count, 20), amounts, strict=True)
        ]
        order = sorted(range(count), key=hashes.__getitem__)
        tree = _build_tree([hashes[i] for i in order])
        last = len(tree) - 1
        tree_index = [0] * count
        for leaf_position, value_index in enumerate(order):
            tree_index[value_index] = last - leaf_position
        values: list[tuple[Any, ...]] = list(zip(checksummed, amounts, strict=True))
        return cls(_Encoder(list(PAYOUT_ENCODING)), tree, values, tree_index)

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StandardMerkleTree:
        """Rebuild from a ``standard-v1`` dump (ours or the JS library's), validating it fully.

        Like JS ``load`` this re-hashes every value and every internal node, so a tampered dump
        is rejected instead of yielding proofs that fail on chain.  We are stricter than JS in
        one respect: each ``treeIndex`` must point at a leaf (JS only notices at ``getProof``).
        Node hex case is normalised to lowercase, whereas JS would reject upper-case leaves.
        """
        if not isinstance(data, Mapping):
            raise MerkleError(
                f"a standard-v1 dump must be a JSON object, got {type(data).__name__}"
            )
        if data.get("format") != FORMAT:
            raise MerkleError(f"Unknown format {data.get('format')!r}")
        if data.get("leafEncoding") is None:
            raise MerkleError("Expected leaf encoding")
        encoder = _Encoder(data["leafEncoding"])
        raw_tree = data.get("tree")
        raw_values = data.get("values")
        if not isinstance(raw_tree, list) or not isinstance(raw_values, list):
            raise MerkleError("a standard-v1 dump needs 'tree' and 'values' lists")
        tree = [_parse_node(node, f"tree[{i}]") for i, node in enumerate(raw_tree)]
        _check_tree(tree)
        first_leaf = len(tree) // 2
        values: list[tuple[Any, ...]] = []
        tree_index: list[int] = []
        for i, entry in enumerate(raw_values):
            if not isinstance(entry, Mapping) or "value" not in entry:
                raise MerkleError(f"values[{i}] must be an object with 'value' and 'treeIndex'")
            index = entry.get("treeIndex")
            if isinstance(index, bool) or not isinstance(index, int):
                raise MerkleError(f"values[{i}].treeIndex must be an integer, got {index!r}")
            if not first_leaf <= index < len(tree):
                raise MerkleError(f"values[{i}].treeIndex {index} is not a leaf of the tree")
            try:
                norm, leaf = encoder.prepare(entry["value"])
            except MerkleError as exc:
                raise MerkleError(f"values[{i}]: {exc}") from None
            if tree[index] != leaf:
                raise MerkleError(
                    f"values[{i}]: Merkle tree does not contain the expected value at "
                    f"treeIndex {index}"
                )
            values.append(norm)
            tree_index.append(index)
        return cls(encoder, tree, values, tree_index)

    # -- inspection --------------------------------------------------------------------------

    @property
    def _hexes(self) -> list[str]:
        """The nodes as 0x hex strings, made on first use: writing a dump never needs them."""
        if self._hex_list is None:
            self._hex_list = ("0x" + self._nodes_hex("|0x")).split("|")
        return self._hex_list

    def _nodes_hex(self, between: str) -> str:
        """Every node's hex digits, in array order, with ``between`` between two nodes: one
        C-level conversion of the whole array, cut every 32 bytes, not a Python call a node."""
        return b"".join(self._tree).hex("|", 32).replace("|", between)

    @property
    def root(self) -> str:
        """The root as lowercase 0x hex, the form the claim contract is deployed with."""
        return "0x" + self._tree[0].hex()

    @property
    def leaf_encoding(self) -> list[str]:
        return list(self._encoder.leaf_encoding)

    def __len__(self) -> int:
        return len(self._values)

    def at(self, index: int) -> tuple[Any, ...] | None:
        """Value at ``index`` (negative counts from the end, like JS ``Array.prototype.at``)."""
        if -len(self._values) <= index < len(self._values):
            return self._values[index]
        return None

    def entries(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """``(value index, normalised value)`` in insertion order, as JS ``entries()``."""
        return iter(enumerate(self._values))

    def leaf_hash(self, value: Sequence[Any]) -> str:
        """The double-hashed leaf for ``value``, e.g. to look it up in an exported tree."""
        return _hex(self._encoder.prepare(value)[1])

    def tree_index(self, value_index: int) -> int:
        """Array position of a value's leaf, for callers that work with ``dump()['tree']``."""
        return self._tree_index[self._value_index(value_index)]

    def dump(self) -> StandardMerkleTreeData:
        """The ``standard-v1`` object; ``json.dumps(..., separators=(",", ":"))`` equals JS's
        ``JSON.stringify`` of the JS dump built from the same (string-valued) input."""
        to_json = self._encoder.to_json
        return {
            "format": FORMAT,
            "leafEncoding": list(self._encoder.leaf_encoding),
            "tree": list(self._hexes),
            "values": [
                {"value": to_json(value), "treeIndex": index}
                for value, index in zip(self._values, self._tree_index, strict=True)
            ],
        }

    def dump_text(self) -> str:
        """``json.dumps(self.dump(), indent=2) + "\\n"`` (what ``labelproof merkle build``
        writes), byte for byte. Equals JS ``JSON.stringify(tree.dump(), null, 2) + "\\n"``."""
        return "".join(self.dump_chunks())

    def dump_chunks(self) -> Iterator[str]:
        """``dump_text()`` in a few pieces, made one at a time, for writing a large dump without
        holding it whole.

        Payout trees skip the generic JSON encoder: their nodes, checksummed addresses and
        decimal amounts never need JSON escaping, so the nodes are one hex conversion and the
        values one %-format (C loops), not Python work per node or value.
        """
        if not self._encoder.fast:
            yield json.dumps(self.dump(), indent=2) + "\n"
            return
        encoding = ",\n".join(f'    "{t}"' for t in self._encoder.leaf_encoding)
        template = "\n    },\n    {\n".join(
            ['      "value": [\n        "%s",\n        "%s"\n      ],\n      "treeIndex": %d']
            * len(self._values)
        )
        fields: list[Any] = [None] * (3 * len(self._values))
        fields[0::3] = [value[0] for value in self._values]
        fields[1::3] = [value[1] for value in self._values]
        fields[2::3] = self._tree_index
        yield (
            f'{{\n  "format": "{FORMAT}",\n  "leafEncoding": [\n{encoding}\n  ],\n'
            '  "tree": [\n    "0x'
        )
        yield self._nodes_hex('",\n    "0x')
        yield '"\n  ],\n  "values": [\n    {\n'
        yield template % tuple(fields)
        yield "\n    }\n  ]\n}\n"

    def render(self) -> str:
        """Text drawing of the tree, byte-identical to JS ``render()``, for debugging dumps."""
        return _render(self._hexes)

    # -- proofs ------------------------------------------------------------------------------

    def _value_index(self, index_or_value: int | Sequence[Any]) -> int:
        """Resolve like JS ``getProof``: an int is a value index, anything else a leaf value.

        Negative ints are refused rather than wrapped: JS treats them as out of bounds, and a
        silent wrap would hand out the proof of a different account.
        """
        if isinstance(index_or_value, int) and not isinstance(index_or_value, bool):
            if not 0 <= index_or_value < len(self._values):
                raise MerkleError(f"Index out of bounds: {index_or_value}")
            return index_or_value
        leaf = self._encoder.prepare(index_or_value)[1]
        if self._lookup is None:
            # Later duplicates win, as with the JS Object.fromEntries lookup table.
            self._lookup = {self._tree[t]: i for i, t in enumerate(self._tree_index)}
        found = self._lookup.get(leaf)
        if found is None:
            raise MerkleError(f"Leaf is not in tree: {index_or_value!r}")
        return found

    def get_proof(self, index_or_value: int | Sequence[Any]) -> list[str]:
        """Sibling hashes from the leaf up to (excluding) the root, as JS ``getProof``."""
        node = self._tree_index[self._value_index(index_or_value)]
        hexes = self._hexes
        proof: list[str] = []
        while node > 0:
            proof.append(hexes[node + 1 if node & 1 else node - 1])
            node = (node - 1) >> 1
        return proof

    def proofs(self) -> list[list[str]]:
        """Every value's proof, in value order, in one pass over the tree.

        A node's proof is its sibling followed by its parent's proof, so walking the tree top-down
        level by level builds each proof with one C-level list concatenation instead of a
        ``log2(n)``-step Python loop per leaf; for 100k leaves that is several times faster than
        calling :meth:`get_proof` for each index.  Apart from the leaves' proofs, only one
        level's proofs are alive at a time.
        """
        hexes = self._hexes
        size = len(hexes)
        if size == 1:
            return [[] for _ in self._values]
        first_leaf = size // 2
        leaf_proofs: list[list[str]] = [[]] * (size - first_leaf)  # every slot is overwritten
        level: list[list[str]] = [[]]  # proofs of the nodes at the current depth
        start = 0
        while (child_start := 2 * start + 1) < size:
            child_end = min(2 * child_start + 1, size)
            children: list[list[str]] = []
            append = children.append
            for node in range(child_start, child_end):
                append([hexes[node + 1 if node & 1 else node - 1], *level[(node - 1) // 2 - start]])
            for node in range(max(child_start, first_leaf), child_end):
                leaf_proofs[node - first_leaf] = children[node - child_start]
            level = children
            start = child_start
        result = [leaf_proofs[t - first_leaf] for t in self._tree_index]
        # A loaded dump may point two values at one leaf; then give each value its own list.
        if len(set(self._tree_index)) != len(self._tree_index):
            result = [list(p) for p in result]
        return result

    # -- verification ------------------------------------------------------------------------

    @staticmethod
    def verify(
        root: str | bytes,
        leaf_encoding: Sequence[str],
        value: Sequence[Any],
        proof: Sequence[str | bytes],
    ) -> bool:
        """Check a proof exactly as ``MerkleProof.verify`` would on chain.

        Malformed input (a node that is not 32 bytes, a value that cannot be encoded) raises
        ``MerkleError`` like the JS version throws, so a caller cannot mistake garbage for a
        merely non-matching proof.  Unlike JS, ``root`` is compared case-insensitively (JS
        compares the hex string as given, so an upper-case root never verifies there).
        """
        expected = _parse_node(root, "root")
        computed = _Encoder(leaf_encoding).prepare(value)[1]
        for i, sibling in enumerate(proof):
            computed = _node_hash(computed, _parse_node(sibling, f"proof[{i}]"))
        return computed == expected


# --------------------------------------------------------------------------------------------
# payouts
# --------------------------------------------------------------------------------------------


def payout_tree(payouts: Mapping[str, int]) -> StandardMerkleTree:
    """Build the ``(address, uint256)`` claim tree, rejecting anything that could lose funds.

    Stricter than :meth:`StandardMerkleTree.of` because a payout list is hand-assembled: the same
    account written in two cases would get two leaves (and could claim twice), and a float or
    string amount usually means a unit-conversion mistake.  Each message names the offending
    entry so the operator can fix the source file.
    """
    if len(payouts) == 0:
        raise MerkleError("payouts is empty: a Merkle tree needs at least one (account, amount)")
    seen: dict[bytes, tuple[int, str]] = {}
    values: list[tuple[str, int]] = []
    for position, (account, amount) in enumerate(payouts.items()):
        entry = f"payout #{position} ({account!r}: {amount!r})"
        try:
            raw, checksummed = _parse_address(account)
        except MerkleError as exc:
            raise MerkleError(f"{entry}: {exc}") from None
        if raw in seen:
            first_position, first_account = seen[raw]
            raise MerkleError(
                f"{entry}: duplicate account {checksummed}, already listed as payout "
                f"#{first_position} ({first_account!r}); addresses are compared case-insensitively"
            )
        seen[raw] = (position, account)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise MerkleError(f"{entry}: amount must be an int, got {type(amount).__name__}")
        if not 0 <= amount < UINT256_LIMIT:
            raise MerkleError(f"{entry}: amount must be in [0, 2**256)")
        values.append((checksummed, amount))
    return StandardMerkleTree.of(values, list(PAYOUT_ENCODING))
