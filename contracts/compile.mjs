// Compiles TestStablecoin.sol with the pinned solc-js into the artifact text, deterministically.
// Shared by build.mjs (writes the artifact) and check.mjs (compares it with the committed one).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

export const CONTRACTS_DIR = dirname(fileURLToPath(import.meta.url));
export const SOURCE_NAME = "TestStablecoin.sol";
export const CONTRACT_NAME = "TestStablecoin";
export const ARTIFACT_PATH = join(CONTRACTS_DIR, "out", `${CONTRACT_NAME}.json`);
const SOLC_VERSION = "0.8.37+commit.f401782d";

function standardInput(source) {
  return {
    language: "Solidity",
    sources: { [SOURCE_NAME]: { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      outputSelection: { [SOURCE_NAME]: { [CONTRACT_NAME]: ["abi", "evm.bytecode.object"] } },
    },
  };
}

/** Compiles the contract and returns the artifact as the exact text to store. */
export function compileArtifact() {
  const version = solc.version();
  if (!version.startsWith(SOLC_VERSION)) {
    throw new Error(`expected solc ${SOLC_VERSION}, found ${version}: run npm ci`);
  }
  const source = readFileSync(join(CONTRACTS_DIR, SOURCE_NAME), "utf8");
  const output = JSON.parse(solc.compile(JSON.stringify(standardInput(source))));
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  for (const diagnostic of output.errors ?? []) {
    console.error(diagnostic.formattedMessage);
  }
  if (errors.length > 0) {
    throw new Error(`${SOURCE_NAME} does not compile`);
  }
  const contract = output.contracts[SOURCE_NAME][CONTRACT_NAME];
  const artifact = {
    contractName: CONTRACT_NAME,
    compiler: `solc ${version}`,
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
  };
  return `${JSON.stringify(artifact, null, 2)}\n`;
}
