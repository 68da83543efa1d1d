// Annotation leaves, roots, the EIP-712 attestation and wallet-derived salts: byte for byte what
// labelproof/commitments.py and labelproof/salts.py compute. tests/python/test_app_parity.py
// runs this module in node and tests/browser/test_app.py runs the built bundle in chromium, and
// both compare with Python. Chain and task ids may be given as decimal strings (ids past 2^53
// lose digits as JSON numbers in JS).
import {
  AbiCoder,
  TypedDataEncoder,
  concat,
  getAddress,
  getBytes,
  hexlify,
  keccak256,
  toUtf8Bytes,
} from "ethers";

const abi = AbiCoder.defaultAbiCoder();

export const REGISTRY_DOMAIN_NAME = "labelproof AttestationRegistry";
export const REGISTRY_DOMAIN_VERSION = "1";
export const ATTESTATION_TYPES = {
  Attestation: [
    { name: "taskId", type: "uint256" },
    { name: "annotator", type: "address" },
    { name: "root", type: "bytes32" },
    { name: "itemCount", type: "uint32" },
    { name: "version", type: "uint32" },
  ],
};
export const SALT_MESSAGE_FORMAT = "labelproof salt seed v1";

export function itemKey(item) {
  return keccak256(toUtf8Bytes(item));
}

export function labelHash(label, salt) {
  if (getBytes(salt).length !== 32) throw new Error("salt must be 32 bytes");
  return keccak256(abi.encode(["string", "bytes32"], [label, salt]));
}

export function annotationLeaf(chainId, escrow, taskId, item, annotator, label, salt) {
  return keccak256(
    abi.encode(
      ["uint256", "address", "uint256", "bytes32", "address", "bytes32"],
      [
        BigInt(chainId),
        getAddress(escrow),
        BigInt(taskId),
        itemKey(item),
        getAddress(annotator),
        labelHash(label, salt),
      ],
    ),
  );
}

function hashPair(a, b) {
  return a < b ? keccak256(concat([a, b])) : keccak256(concat([b, a]));
}

// Leaves are lower-case 0x hex strings of equal length, so string order is byte order.
export function annotationRoot(leaves) {
  if (!leaves.length) throw new Error("an annotator's root needs at least one leaf");
  let level = leaves.map((l) => l.toLowerCase()).sort();
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(hashPair(level[i], level[i + 1]));
    if (level.length % 2) next.push(level[level.length - 1]);
    level = next;
  }
  return level[0];
}

export function attestationDomain(chainId, registry) {
  return {
    name: REGISTRY_DOMAIN_NAME,
    version: REGISTRY_DOMAIN_VERSION,
    chainId: BigInt(chainId),
    verifyingContract: getAddress(registry),
  };
}

export function attestationMessage(taskId, annotator, root, itemCount, version) {
  return {
    taskId: BigInt(taskId),
    annotator: getAddress(annotator),
    root,
    itemCount,
    version,
  };
}

// What eth_signTypedData_v4 takes (a JSON string: numbers as decimal strings).
export function attestationTypedDataJson(chainId, registry, taskId, annotator, root, count, version) {
  return JSON.stringify({
    types: {
      EIP712Domain: [
        { name: "name", type: "string" },
        { name: "version", type: "string" },
        { name: "chainId", type: "uint256" },
        { name: "verifyingContract", type: "address" },
      ],
      ...ATTESTATION_TYPES,
    },
    primaryType: "Attestation",
    domain: {
      name: REGISTRY_DOMAIN_NAME,
      version: REGISTRY_DOMAIN_VERSION,
      chainId: String(chainId),
      verifyingContract: getAddress(registry),
    },
    message: {
      taskId: String(taskId),
      annotator: getAddress(annotator),
      root,
      itemCount: count,
      version,
    },
  });
}

export function attestationDigest(chainId, registry, taskId, annotator, root, itemCount, version) {
  return TypedDataEncoder.hash(
    attestationDomain(chainId, registry),
    ATTESTATION_TYPES,
    attestationMessage(taskId, annotator, root, itemCount, version),
  );
}

export function saltMessage(chainId, registry, escrow, taskId, annotator) {
  return (
    `${SALT_MESSAGE_FORMAT}\n` +
    `chain: ${BigInt(chainId)}\n` +
    `registry: ${getAddress(registry)}\n` +
    `escrow: ${getAddress(escrow)}\n` +
    `task: ${BigInt(taskId)}\n` +
    `annotator: ${getAddress(annotator)}\n` +
    "Signing derives the secret salts of your labels for this task. Anyone holding this " +
    "signature can read your labels before the reveal: sign it only in a labelproof app."
  );
}

export function seedFromSignature(signature) {
  const bytes = getBytes(signature);
  if (bytes.length !== 65) throw new Error(`a wallet signature is 65 bytes, got ${bytes.length}`);
  return keccak256(bytes);
}

export function deriveSalt(seed, item) {
  return keccak256(concat([seed, itemKey(item)]));
}

// labels: {item: label}; salts: {item: salt}. Returns {root, count, leaves}.
export function commitment(chainId, escrow, taskId, annotator, labels, salts) {
  const items = Object.keys(labels);
  const leaves = items.map((item) =>
    annotationLeaf(chainId, escrow, taskId, item, annotator, labels[item], salts[item]),
  );
  return { root: annotationRoot(leaves), count: items.length, leaves };
}

export { hexlify };
