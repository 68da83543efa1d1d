// Runs the web app's commitment functions (labelproof/app/src/commitments.mjs, the module the
// bundle is built from) on the cases given as JSON on stdin; prints their results as JSON.
import { readFileSync } from "node:fs";
import * as C from "../../../labelproof/app/src/commitments.mjs";

const cases = JSON.parse(readFileSync(0, "utf8"));
const out = cases.map((c) => {
  const seed = C.seedFromSignature(c.signature);
  const salts = Object.fromEntries(Object.keys(c.labels).map((i) => [i, C.deriveSalt(seed, i)]));
  const { root, leaves } = C.commitment(c.chainId, c.escrow, c.taskId, c.annotator, c.labels, salts);
  return {
    message: C.saltMessage(c.chainId, c.registry, c.escrow, c.taskId, c.annotator),
    seed,
    salts,
    leaves,
    root,
    digest: C.attestationDigest(c.chainId, c.registry, c.taskId, c.annotator, root, leaves.length, c.version),
  };
});
console.log(JSON.stringify(out));
