// Compiles contracts/src/*.sol with the pinned solc-js (package.json) into committed artifacts:
// one JSON per contract (ABI, creation and runtime bytecode) plus build-info.json with the
// compiler version and settings. `node build.mjs [OUT_DIR]` (default: artifacts/).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const here = path.dirname(fileURLToPath(import.meta.url));
const srcDir = path.join(here, "src");
const outDir = path.resolve(process.argv[2] ?? path.join(here, "artifacts"));

// Only these become artifacts; interfaces and the LP token base are compiled but not emitted.
const CONTRACTS = [
  "WETH9", "TestERC20", "UniswapV2Factory", "UniswapV2Pair", "UniswapV2Router02", "SearcherExecutor",
  "LendingPool", "PriceOracle", "FlashLiquidator",
];

const settings = {
  optimizer: { enabled: true, runs: 1000000 }, viaIR: true,
  evmVersion: "cancun",
  metadata: { bytecodeHash: "none", appendCBOR: false },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

const sources = {};
for (const f of fs.readdirSync(srcDir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[f] = { content: fs.readFileSync(path.join(srcDir, f), "utf8") };
}
const output = JSON.parse(solc.compile(JSON.stringify({ language: "Solidity", sources, settings })));
const errors = (output.errors ?? []).filter((e) => e.severity === "error");
for (const e of output.errors ?? []) console.error(e.formattedMessage);
if (errors.length > 0) process.exit(1);

fs.mkdirSync(outDir, { recursive: true });
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!CONTRACTS.includes(name)) continue;
    const artifact = {
      contractName: name,
      sourceName: `contracts/src/${file}`,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    };
    fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + "\n");
  }
}
const info = { solcVersion: solc.version(), settings, sources: Object.keys(sources) };
fs.writeFileSync(path.join(outDir, "build-info.json"), JSON.stringify(info, null, 2) + "\n");
console.log(`compiled ${Object.keys(sources).length} sources with solc ${solc.version()} into ${outDir}`);
