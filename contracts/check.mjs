// Recompiles TestStablecoin.sol and fails when the committed artifact differs from the result.
// Usage: node contracts/check.mjs  (scripts/test runs it after npm ci).
import { existsSync, readFileSync } from "node:fs";
import { relative } from "node:path";
import { ARTIFACT_PATH, compileArtifact } from "./compile.mjs";

const shown = relative(process.cwd(), ARTIFACT_PATH);
const fresh = compileArtifact();
const committed = existsSync(ARTIFACT_PATH) ? readFileSync(ARTIFACT_PATH, "utf8") : null;
if (committed !== fresh) {
  console.error(`${shown} is out of date with TestStablecoin.sol: run node contracts/build.mjs and commit it`);
  process.exit(1);
}
console.log(`${shown} matches its source`);
