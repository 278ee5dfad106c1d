// A local Solana cluster for the devnet and the tests: surfpool's Surfnet (npm module
// @solana/surfpool-linux-x64-gnu: a JSON-RPC server over the real SVM with the real Token and
// associated token account programs), offline on loopback, set up and driven with Solana's own
// JavaScript libraries, as a payer's wallet would.
//
// Setup, JSON in WCHECKOUT_SURFNET_SETUP:
//   {mints: [{decimals, key?, token_2022?}], payers: n, payer_keys?: [hex], balance: "base units",
//    fund: [hex 32-byte ed25519 secrets]}
// makes the mints (at the address of `key`, a hex secret, when given; the first funded key, else
// a generated one, is their authority), the payers (`payer_keys`, else `n` generated ones) and
// each `fund` key with 100 SOL and `balance` of every mint in their associated accounts, then
// prints one JSON line {rpc_url, ws_url, mints: [...], payers: [...]}.
//
// Then, one JSON command per line on stdin, one JSON answer per line on stdout:
//   {pay: {payer, mint, to, amount, fail}}: a `transferChecked` of `amount` from payer number
//     `payer` to the associated account of the owner `to` (created first, idempotently, in
//     the same transaction). With `fail`, the transfer asks for more than the payer holds and
//     is sent without preflight: it lands as a failed transaction. Answers {signature}, once
//     the transaction is confirmed.
//   {slot: "finalized" | "confirmed"}: answers {slot}.
// The node stops when stdin closes.
import { createRequire } from 'node:module';
import readline from 'node:readline';

const require = createRequire(`${process.cwd()}/`);
const { Surfnet } = require('@solana/surfpool-linux-x64-gnu');
const web3 = require('@solana/web3.js');
const spl = require('@solana/spl-token');

const setup = JSON.parse(process.env.WCHECKOUT_SURFNET_SETUP ?? '{}');
const surfnet = Surfnet.startWithConfig({ offline: true });
const connection = new web3.Connection(surfnet.rpcUrl, { commitment: 'confirmed', wsEndpoint: surfnet.wsUrl });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Under load Surfnet may refuse a transaction whose blockhash it has not caught up with
// ("Blockhash not found", at simulation: nothing landed). Such a step is tried again, a few
// times; any other failure stops it.
async function retried(step) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= 10 || !String(error?.message ?? error).includes('Blockhash not found')) throw error;
      await sleep(100 * attempt);
    }
  }
}

// The status of `signature` once confirmed, polled (a websocket notification can be missed under
// load); null once the chain is past `lastValidBlockHeight` without it: it can no longer land.
async function landed(signature, lastValidBlockHeight) {
  const status = async () => {
    const { value } = await connection.getSignatureStatuses([signature], { searchTransactionHistory: true });
    const found = value[0];
    return found && ['confirmed', 'finalized'].includes(found.confirmationStatus) ? found : null;
  };
  for (;;) {
    const found = await status();
    if (found) return found;
    if ((await connection.getBlockHeight('confirmed')) > lastValidBlockHeight) return status();
    await sleep(50);
  }
}

// Sends `instructions` signed by `signers` (the first pays) and waits until the transaction is
// confirmed; one that expired without landing is signed anew with a fresh blockhash (the old one
// can no longer land, so nothing happens twice). Its status (`err` set when it failed).
async function send(instructions, signers, { skipPreflight = false } = {}) {
  for (let attempt = 1; attempt <= 5; attempt += 1) {
    const tx = new web3.Transaction().add(...instructions);
    const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash();
    tx.recentBlockhash = blockhash;
    tx.feePayer = signers[0].publicKey;
    tx.sign(...signers);
    const signature = await retried(() => connection.sendRawTransaction(tx.serialize(), { skipPreflight }));
    const status = await landed(signature, lastValidBlockHeight);
    if (status) return { signature, err: status.err };
  }
  throw new Error('a transaction expired five times without landing');
}

async function sent(instructions, signers) {
  const { signature, err } = await send(instructions, signers);
  if (err) throw new Error(`${signature}: ${JSON.stringify(err)}`);
  return signature;
}

async function airdrop(key, sol) {
  const signature = await connection.requestAirdrop(key, sol * web3.LAMPORTS_PER_SOL);
  const { lastValidBlockHeight } = await connection.getLatestBlockhash();
  if (!(await landed(signature, lastValidBlockHeight + 150))) throw new Error(`airdrop ${signature} did not land`);
}

const fromHex = (hex) => web3.Keypair.fromSeed(Buffer.from(hex, 'hex'));
const funded = (setup.fund ?? []).map(fromHex);
const payers = setup.payer_keys
  ? setup.payer_keys.map(fromHex)
  : Array.from({ length: setup.payers ?? 0 }, () => web3.Keypair.generate());
const authority = funded[0] ?? web3.Keypair.generate();
const decimals = new Map();
const programs = new Map();
const holders = [...new Set([authority, ...funded, ...payers])];
for (const holder of holders) {
  await airdrop(holder.publicKey, 100);
}
const mintRent = await connection.getMinimumBalanceForRentExemption(spl.MINT_SIZE);
const mints = [];
for (const spec of setup.mints ?? []) {
  const mintKey = spec.key ? fromHex(spec.key) : web3.Keypair.generate();
  const mint = mintKey.publicKey;
  const program = spec.token_2022 ? spl.TOKEN_2022_PROGRAM_ID : spl.TOKEN_PROGRAM_ID;
  await sent([
    web3.SystemProgram.createAccount({
      fromPubkey: authority.publicKey, newAccountPubkey: mint, space: spl.MINT_SIZE, lamports: mintRent, programId: program,
    }),
    spl.createInitializeMint2Instruction(mint, spec.decimals, authority.publicKey, null, program),
  ], [authority, mintKey]);
  decimals.set(mint.toBase58(), spec.decimals);
  programs.set(mint.toBase58(), program);
  mints.push(mint);
  for (const holder of [...funded, ...payers]) {
    const account = spl.getAssociatedTokenAddressSync(mint, holder.publicKey, false, program);
    await sent([
      spl.createAssociatedTokenAccountIdempotentInstruction(authority.publicKey, account, holder.publicKey, mint, program),
      spl.createMintToInstruction(mint, account, authority.publicKey, BigInt(setup.balance ?? '0'), [], program),
    ], [authority]);
  }
}

// Surfnet reports as finalized the slot 32 below the confirmed one but keeps no block below its
// first slot: the cluster is ready once its finalized slot has a block.
async function finalizedBlockExists() {
  for (let i = 0; i < 600; i += 1) {
    try {
      await connection.getBlock(await connection.getSlot('finalized'), {
        commitment: 'finalized', transactionDetails: 'none', rewards: false, maxSupportedTransactionVersion: 0,
      });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error('no finalized block in 30 s');
}
await finalizedBlockExists();

async function pay({ payer, mint, to, amount, fail }) {
  const from = payers[payer];
  const mintKey = new web3.PublicKey(mint);
  const owner = new web3.PublicKey(to);
  const program = programs.get(mint);
  const source = spl.getAssociatedTokenAddressSync(mintKey, from.publicKey, false, program);
  const destination = spl.getAssociatedTokenAddressSync(mintKey, owner, true, program);
  const held = (await connection.getTokenAccountBalance(source)).value.amount;
  const units = fail ? BigInt(held) + 1n : BigInt(amount);
  const { signature, err } = await send([
    spl.createAssociatedTokenAccountIdempotentInstruction(from.publicKey, destination, owner, mintKey, program),
    spl.createTransferCheckedInstruction(source, mintKey, destination, from.publicKey, units, decimals.get(mint), [], program),
  ], [from], { skipPreflight: Boolean(fail) });
  if (Boolean(err) !== Boolean(fail)) {
    throw new Error(`${signature}: ${JSON.stringify(err)}`);
  }
  return { signature };
}

async function answer(command) {
  if (command.pay) return pay(command.pay);
  if (command.slot) return { slot: await connection.getSlot(command.slot) };
  throw new Error(`unknown command ${JSON.stringify(command)}`);
}

try {
  const ready = {
    rpc_url: surfnet.rpcUrl,
    ws_url: surfnet.wsUrl,
    mints: mints.map((mint) => mint.toBase58()),
    payers: payers.map((payer) => payer.publicKey.toBase58()),
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    let reply;
    try {
      reply = await answer(JSON.parse(line));
    } catch (error) {
      reply = { error: String(error?.message ?? error) };
    }
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  }
} finally {
  surfnet.stop();
}
process.exit(0);
