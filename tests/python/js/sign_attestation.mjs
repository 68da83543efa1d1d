// Signs a labelproof attestation with ethers v6 (Wallet.signTypedData), as a browser wallet
// would, so the tests can check that the registry accepts signatures not made by eth-account.
// Usage: node sign_attestation.mjs '<json {privateKey, domain, message}>'
import { Wallet, Signature } from "ethers";

const { privateKey, domain, message } = JSON.parse(process.argv[2]);
const types = {
  Attestation: [
    { name: "taskId", type: "uint256" },
    { name: "annotator", type: "address" },
    { name: "root", type: "bytes32" },
    { name: "itemCount", type: "uint32" },
    { name: "version", type: "uint32" },
  ],
};
const wallet = new Wallet(privateKey);
const signature = await wallet.signTypedData(domain, types, message);
const { v, r, s } = Signature.from(signature);
console.log(JSON.stringify({ address: wallet.address, signature, v, r, s }));
