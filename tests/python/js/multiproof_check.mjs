// Reference oracle for labelproof/multiproof.py: runs the real @openzeppelin/merkle-tree library.
//
//   node multiproof_check.mjs INPUT.json
//       INPUT = {"dump": <standard-v1 dump>, "selections": [[value index, ...], ...]};
//       prints [{"leaves", "proof", "proofFlags", "verified"}, ...], one per selection, from
//       StandardMerkleTree.load(dump).getMultiProof(selection) and verifyMultiProof.
//
// The bare import resolves through the node_modules of the repository root, so it uses exactly
// the pinned library version from package-lock.json.
import { readFileSync } from 'node:fs';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';

const args = process.argv.slice(2);
if (args.length !== 1) {
  console.error('usage: multiproof_check.mjs INPUT.json');
  process.exit(2);
}
const input = JSON.parse(readFileSync(args[0], 'utf8'));
const tree = StandardMerkleTree.load(input.dump);
const out = input.selections.map((indices) => {
  const mp = tree.getMultiProof(indices);
  return { ...mp, verified: tree.verifyMultiProof(mp) };
});
process.stdout.write(JSON.stringify(out));
