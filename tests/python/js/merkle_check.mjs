// Reference oracle for labelproof/merkle.py: runs the real @openzeppelin/merkle-tree library.
//
//   node merkle_check.mjs DUMP.json
//       StandardMerkleTree.load(dump) -> prints {"root", "proofs", "render"} (proofs[i] = getProof(i)).
//   node merkle_check.mjs --of INPUT.json
//       INPUT = {"leafEncoding": [...], "values": [[...], ...], "options"?: {"sortLeaves": false}};
//       StandardMerkleTree.of(values, leafEncoding) -> prints {"root", "proofs", "dump", "render"}.
//
// The bare import resolves through the node_modules of the repository root (Node walks up from
// this file's directory), so it uses exactly the pinned library version from package-lock.json.
import { readFileSync } from 'node:fs';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';

function allProofs(tree) {
  const proofs = [];
  for (let i = 0; i < tree.length; i++) proofs.push(tree.getProof(i));
  return proofs;
}

const args = process.argv.slice(2);
let out;
if (args[0] === '--of' && args.length === 2) {
  const input = JSON.parse(readFileSync(args[1], 'utf8'));
  const tree = StandardMerkleTree.of(input.values, input.leafEncoding, input.options ?? {});
  out = { root: tree.root, proofs: allProofs(tree), dump: tree.dump(), render: tree.render() };
} else if (args.length === 1) {
  const tree = StandardMerkleTree.load(JSON.parse(readFileSync(args[0], 'utf8')));
  out = { root: tree.root, proofs: allProofs(tree), render: tree.render() };
} else {
  console.error('usage: merkle_check.mjs DUMP.json | merkle_check.mjs --of INPUT.json');
  process.exit(2);
}
process.stdout.write(JSON.stringify(out));
