// A local Solana node for crates/solana's end-to-end test: surfpool's Surfnet (the npm module
// @solana/surfpool-linux-x64-gnu, a JSON-RPC server over the real SVM with the real Token and
// associated token account programs), started offline on loopback ports.
//
// Argument: JSON {hot_secret: hex of the 32-byte ed25519 secret, decimals, balance}. The
// launcher funds that hot wallet with SOL, creates a Token mint with `decimals` and the hot
// wallet's associated token account holding `balance` base units (through @solana/web3.js and
// @solana/spl-token against the node, as a payer's wallet would), then prints one JSON line
// {rpc_url, ws_url, mint} and runs until its standard input closes, then stops the node.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Surfnet } = require('@solana/surfpool-linux-x64-gnu');
const { Connection, Keypair, LAMPORTS_PER_SOL } = await import('@solana/web3.js');
const spl = await import('@solana/spl-token');

const config = JSON.parse(process.argv[2]);
const surfnet = Surfnet.startWithConfig({ offline: true });
try {
  const connection = new Connection(surfnet.rpcUrl, { commitment: 'confirmed', wsEndpoint: surfnet.wsUrl });
  const hot = Keypair.fromSeed(Buffer.from(config.hot_secret, 'hex'));
  const airdrop = await connection.requestAirdrop(hot.publicKey, 10 * LAMPORTS_PER_SOL);
  await connection.confirmTransaction({ signature: airdrop, ...(await connection.getLatestBlockhash()) });
  const mint = await spl.createMint(connection, hot, hot.publicKey, null, config.decimals);
  const account = await spl.getOrCreateAssociatedTokenAccount(connection, hot, mint, hot.publicKey);
  await spl.mintTo(connection, hot, mint, account.address, hot, BigInt(config.balance));
  const ready = { rpc_url: surfnet.rpcUrl, ws_url: surfnet.wsUrl, mint: mint.toBase58() };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on('end', resolve));
} finally {
  surfnet.stop();
}
process.exit(0);
