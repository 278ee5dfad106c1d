// Compiles contracts/TestStablecoin.sol into contracts/out/TestStablecoin.json ({abi, bytecode}).
// Usage: node contracts/build.mjs  (after npm ci). Commit the artifact it writes.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import { ARTIFACT_PATH, compileArtifact } from "./compile.mjs";

const artifact = compileArtifact();
mkdirSync(dirname(ARTIFACT_PATH), { recursive: true });
writeFileSync(ARTIFACT_PATH, artifact);
console.log(`wrote ${relative(process.cwd(), ARTIFACT_PATH)}`);
