// Solana's own client libraries, @solana/web3.js and @solana/spl-token, as the second opinion on
// what crates/solana builds. Reads a JSON array of requests on stdin and prints a JSON array of
// answers, one per request:
//   {op: "seed_key", mnemonic, path}            -> {address}: SLIP-0010 over node:crypto's
//                                                   PBKDF2 and HMAC, the key read by web3.js
//   {op: "keypair", secret}                     -> {address}: Keypair.fromSeed
//   {op: "valid", address}                      -> {valid, on_curve}
//   {op: "ata", owner, mint, program}           -> {address}: getAssociatedTokenAddressSync
//   {op: "pda", seeds: [hex], program}          -> {address, bump}: findProgramAddressSync
//   {op: "transaction", payer, blockhash, instructions: [...], secrets: [hex], ours: base64}
//     -> {message, transaction}: web3.js's compile of the same instructions (built by
//        spl-token and web3.js) and its signed transaction, both base64;
//        decoded: our transaction read back by web3.js (signatures verified, instructions).
//   {op: "unsigned", ours}                      -> an unsigned transaction (a payer's wallet signs
//        it) read by web3.js: decoded as above, whether its signatures are empty, and its
//        token transfer read by spl-token's decodeTransferCheckedInstruction.
//   {op: "pay_url", url}                        -> the fields URL and URLSearchParams read.
// Only offline utilities are used; every outgoing connection is refused.
import net from 'node:net';
import dns from 'node:dns';
import crypto from 'node:crypto';

const offline = () => {
  throw new Error('web3js-check runs offline: no network');
};
net.Socket.prototype.connect = offline;
dns.lookup = offline;
globalThis.fetch = offline;

const web3 = await import('@solana/web3.js');
const spl = await import('@solana/spl-token');
const { Keypair, PublicKey, SystemProgram, ComputeBudgetProgram, TransactionMessage, VersionedTransaction, Transaction } = web3;

const hex = (text) => Buffer.from(text, 'hex');
const key = (text) => new PublicKey(text);

function slip10(seed, path) {
  let node = crypto.createHmac('sha512', 'ed25519 seed').update(seed).digest();
  for (const step of path.split('/').slice(1)) {
    if (!step.endsWith("'")) throw new Error(`not hardened: ${path}`);
    const index = Buffer.alloc(4);
    index.writeUInt32BE((Number(step.slice(0, -1)) | 0x80000000) >>> 0);
    const data = Buffer.concat([Buffer.alloc(1), node.subarray(0, 32), index]);
    node = crypto.createHmac('sha512', node.subarray(32)).update(data).digest();
  }
  return node.subarray(0, 32);
}

function seed_key({ mnemonic, path }) {
  const seed = crypto.pbkdf2Sync(mnemonic.normalize('NFKD'), 'mnemonic', 2048, 64, 'sha512');
  return { address: Keypair.fromSeed(slip10(seed, path)).publicKey.toBase58() };
}

function keypair({ secret }) {
  return { address: Keypair.fromSeed(hex(secret)).publicKey.toBase58() };
}

function valid({ address }) {
  try {
    const parsed = new PublicKey(address);
    return { valid: parsed.toBase58() === address, on_curve: PublicKey.isOnCurve(parsed.toBytes()) };
  } catch {
    return { valid: false, on_curve: false };
  }
}

function ata({ owner, mint, program }) {
  return { address: spl.getAssociatedTokenAddressSync(key(mint), key(owner), true, key(program)).toBase58() };
}

function pda({ seeds, program }) {
  const [address, bump] = PublicKey.findProgramAddressSync(seeds.map(hex), key(program));
  return { address: address.toBase58(), bump };
}

// The same instruction built by Solana's libraries.
function instruction(ix) {
  switch (ix.kind) {
    case 'price':
      return ComputeBudgetProgram.setComputeUnitPrice({ microLamports: BigInt(ix.micro_lamports) });
    case 'limit':
      return ComputeBudgetProgram.setComputeUnitLimit({ units: ix.units });
    case 'create':
      return spl.createAssociatedTokenAccountIdempotentInstruction(
        key(ix.payer), spl.getAssociatedTokenAddressSync(key(ix.mint), key(ix.owner), true, key(ix.program)),
        key(ix.owner), key(ix.mint), key(ix.program));
    case 'transfer_checked': {
      const transfer = spl.createTransferCheckedInstruction(
        key(ix.source), key(ix.mint), key(ix.destination), key(ix.authority),
        BigInt(ix.amount), ix.decimals, [], key(ix.program));
      // Solana Pay's reference: a read-only non-signer account after the transfer's own.
      if (ix.reference) transfer.keys.push({ pubkey: key(ix.reference), isSigner: false, isWritable: false });
      return transfer;
    }
    case 'close':
      return spl.createCloseAccountInstruction(key(ix.account), key(ix.destination), key(ix.owner), [], key(ix.program));
    case 'system_transfer':
      return SystemProgram.transfer({ fromPubkey: key(ix.from), toPubkey: key(ix.to), lamports: BigInt(ix.lamports) });
    default:
      throw new Error(`unknown instruction ${ix.kind}`);
  }
}

function transaction({ payer, blockhash, instructions, secrets, ours }) {
  const message = new TransactionMessage({
    payerKey: key(payer),
    recentBlockhash: blockhash,
    instructions: instructions.map(instruction),
  }).compileToLegacyMessage();
  const signed = new VersionedTransaction(message);
  signed.sign(secrets.map((secret) => Keypair.fromSeed(hex(secret))));
  const theirs = {
    message: Buffer.from(message.serialize()).toString('base64'),
    transaction: Buffer.from(signed.serialize()).toString('base64'),
  };
  return { ...theirs, decoded: decode(ours) };
}

// What web3.js reads in the transaction we built.
function decode(ours) {
  const tx = Transaction.from(Buffer.from(ours, 'base64'));
  return {
    verified: tx.verifySignatures(true),
    fee_payer: tx.feePayer.toBase58(),
    blockhash: tx.recentBlockhash,
    signers: tx.signatures.map(({ publicKey }) => publicKey.toBase58()),
    instructions: tx.instructions.map((ix) => ({
      program: ix.programId.toBase58(),
      accounts: ix.keys.map((meta) => [meta.pubkey.toBase58(), meta.isSigner, meta.isWritable]),
      data: ix.data.toString('hex'),
    })),
  };
}

function unsigned({ ours }) {
  const tx = Transaction.from(Buffer.from(ours, 'base64'));
  const transfers = tx.instructions
    .filter((ix) => ix.data[0] === 12 && [spl.TOKEN_PROGRAM_ID, spl.TOKEN_2022_PROGRAM_ID].some((p) => p.equals(ix.programId)))
    .map((ix) => {
      const { keys, data } = spl.decodeTransferCheckedInstruction(ix, ix.programId);
      return {
        source: keys.source.pubkey.toBase58(),
        mint: keys.mint.pubkey.toBase58(),
        destination: keys.destination.pubkey.toBase58(),
        owner: keys.owner.pubkey.toBase58(),
        owner_signs: keys.owner.isSigner,
        extra: keys.multiSigners.map((meta) => [meta.pubkey.toBase58(), meta.isSigner, meta.isWritable]),
        amount: data.amount.toString(),
        decimals: data.decimals,
      };
    });
  return {
    decoded: decode(ours),
    unsigned: tx.signatures.every(({ signature }) => signature === null),
    transfers,
  };
}

function pay_url({ url }) {
  const parsed = new URL(url);
  const params = parsed.searchParams;
  return {
    protocol: parsed.protocol,
    recipient: parsed.pathname,
    amount: params.get('amount'),
    spl_token: params.get('spl-token'),
    references: params.getAll('reference'),
    label: params.get('label'),
    message: params.get('message'),
    label_uri: decodeURIComponent(url.match(/[?&]label=([^&]*)/)?.[1] ?? ''),
  };
}

const ops = { seed_key, keypair, valid, ata, pda, transaction, unsigned, pay_url };

let input = '';
for await (const chunk of process.stdin) input += chunk;
const answers = [];
for (const request of JSON.parse(input)) {
  const op = ops[request.op];
  if (!op) throw new Error(`unknown op ${request.op}`);
  answers.push(op(request));
}
process.stdout.write(JSON.stringify(answers));
