// A TRON node stand-in for tests and the devnet: the HTTP API calls wcheckout uses, in front of an
// anvil node that holds the state. See docs/chains.md, "The TRON node stand-in".
//
//   node tron-standin.mjs --anvil http://127.0.0.1:PORT [--port 0] [--max-log-blocks 5000]
//                         [--max-log-results 10000]
//
// Prints `listening http://127.0.0.1:PORT` once it serves. Serves, on loopback only:
//   POST /jsonrpc                     proxied to anvil (TRON's Ethereum-compatible JSON-RPC), with
//                                     java-tron's eth_getLogs limits: at most 5,000 blocks and
//                                     10,000 results (or --max-log-results) per query
//   POST /wallet/getnowblock          the head block, blockID = 8-byte height ‖ anvil hash[8..32]
//   POST /wallet/broadcasthex         decodes the Transaction with tronweb's protobuf classes,
//                                     refuses what a node refuses, replays it on anvil
//   POST /wallet/gettransactioninfobyid, /wallet/gettransactionbyid, /wallet/estimateenergy,
//        /wallet/triggerconstantcontract, /wallet/getaccount, /wallet/getaccountresource,
//        /wallet/getchainparameters
// TRX balances are anvil balances scaled: 1 sun = 10^12 wei, so 1 TRX reads as 1 ETH.
import http from 'node:http';
import dns from 'node:dns';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    anvil: { type: 'string' },
    port: { type: 'string', default: '0' },
    'max-log-blocks': { type: 'string', default: '5000' },
    'max-log-results': { type: 'string', default: '10000' },
  },
});
const anvil = new URL(args.anvil ?? '');
if (anvil.hostname !== '127.0.0.1') throw new Error(`--anvil must be http://127.0.0.1:PORT, not ${anvil}`);

// Nothing but the loopback anvil is ever reached: tronweb is used for its offline utilities only.
const anvilFetch = globalThis.fetch;
const offline = () => {
  throw new Error('the TRON stand-in runs offline');
};
const lookup = dns.lookup;
dns.lookup = (host, ...rest) => (host === '127.0.0.1' ? lookup(host, ...rest) : offline());
globalThis.fetch = offline;
const { TronWeb, utils } = await import('tronweb');
const proto = globalThis.TronWebProto;

const WEI_PER_SUN = 10n ** 12n;
const ENERGY_PRICE_SUN = 210n;
const BANDWIDTH_PRICE_SUN = 1000n;
const FREE_BANDWIDTH = 600;
const ACTIVATION_FEE_SUN = 1_000_000n;
// java-tron adds room for the result to every transaction's bandwidth.
const RESULT_BYTES = 64;
const DAY_MS = 86_400_000;
const BLOCK_GAS_LIMIT = 30_000_000n;
const TRIGGER = proto.Transaction.Contract.ContractType.TRIGGERSMARTCONTRACT;
const TRANSFER = proto.Transaction.Contract.ContractType.TRANSFERCONTRACT;
const TYPE_URL = 'type.googleapis.com/protocol.';

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const quantity = (value) => `0x${BigInt(value).toString(16)}`;
const evm = (address41) => `0x${address41.slice(2)}`;

let rpcId = 0;
async function rpc(method, params = []) {
  const body = JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params });
  const response = await anvilFetch(anvil, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const answer = await response.json();
  if (answer.error) throw new Error(answer.error.message);
  return answer.result;
}

// --- accounts -------------------------------------------------------------------------------

// Addresses (20-byte hex, lowercase) activated by a TRX transfer through the stand-in.
const activated = new Set();
// Free bandwidth used per owner: a window that resets 24 h after its first use.
const freeBandwidth = new Map();

async function balanceSun(address41) {
  return BigInt(await rpc('eth_getBalance', [evm(address41), 'latest'])) / WEI_PER_SUN;
}

async function hasCode(address41) {
  return (await rpc('eth_getCode', [evm(address41), 'latest'])) !== '0x';
}

// An account exists once it received TRX (here: holds or held coin) or is a contract.
async function exists(address41) {
  return activated.has(address41) || (await balanceSun(address41)) > 0n || (await hasCode(address41));
}

function freeUsed(address41, now) {
  const window = freeBandwidth.get(address41);
  if (!window || now - window.start >= DAY_MS) return 0;
  return window.used;
}

function useFree(address41, bytes, now) {
  const used = freeUsed(address41, now);
  const start = used === 0 ? now : freeBandwidth.get(address41).start;
  freeBandwidth.set(address41, { start, used: used + bytes });
}

// A node burns 1,000 sun a byte for the whole transaction when the free allowance cannot cover it.
function bandwidthCharge(address41, bytes, now) {
  if (freeUsed(address41, now) + bytes <= FREE_BANDWIDTH) return { free: true, fee: 0n };
  return { free: false, fee: BigInt(bytes) * BANDWIDTH_PRICE_SUN };
}

async function burn(address41, sun) {
  if (sun === 0n) return;
  const wei = BigInt(await rpc('eth_getBalance', [evm(address41), 'latest']));
  const left = wei > sun * WEI_PER_SUN ? wei - sun * WEI_PER_SUN : 0n;
  await rpc('anvil_setBalance', [evm(address41), quantity(left)]);
}

// --- blocks ---------------------------------------------------------------------------------

async function block(tag) {
  return rpc('eth_getBlockByNumber', [typeof tag === 'number' ? quantity(tag) : tag, false]);
}

// TRON's block id starts with the 8-byte height; the rest is anvil's block hash from byte 8, so
// ref_block_hash (bytes 8..16 of the id) is bytes 8..16 of the anvil hash.
function blockId(anvilBlock) {
  return BigInt(anvilBlock.number).toString(16).padStart(16, '0') + anvilBlock.hash.slice(18);
}

function nowBlock(anvilBlock) {
  return {
    blockID: blockId(anvilBlock),
    block_header: {
      raw_data: {
        number: Number(anvilBlock.number),
        timestamp: Number(anvilBlock.timestamp) * 1000,
        parentHash: anvilBlock.parentHash.slice(2),
      },
    },
  };
}

// TAPOS: the most recent block whose height ends in ref_block_bytes must have ref_block_hash.
async function refBlockKnown(raw, head) {
  const bytes = hex(raw.getRefBlockBytes_asU8());
  const hash = hex(raw.getRefBlockHash_asU8());
  if (bytes.length !== 4 || hash.length !== 16) return false;
  const number = head - ((((head - parseInt(bytes, 16)) % 65536) + 65536) % 65536);
  if (number < 0) return false;
  const candidate = await block(number);
  return candidate !== null && blockId(candidate).slice(16, 32) === hash;
}

// --- transactions ---------------------------------------------------------------------------

// The raw_data bytes as sent (field 1 of Transaction): the txID is their sha256, whatever a
// re-encoding would give.
function rawDataBytes(transaction) {
  let at = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = transaction[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < transaction.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 2) {
      const length = varint();
      if (tag >>> 3 === 1) return transaction.subarray(at, at + length);
      at += length;
    } else if (wire === 0) varint();
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new Error(`wire type ${wire}`);
  }
  return new Uint8Array();
}

// txID → { txid, owner, anvilHash, bandwidth, freeBandwidth, netFee, activationFee, intrinsic, gas, kind, info }
const records = new Map();
// anvil's hash of a replayed transaction → its txID: java-tron's JSON-RPC names a transaction
// by its txID (as 0x + 64 hex digits), so the logs the stand-in serves do too.
const txidOfAnvilHash = new Map();

function refusal(code, message, txid) {
  return { result: false, code, message, txid };
}

function intrinsicGas(data) {
  let gas = 21000n;
  for (const byte of Buffer.from(data.replace(/^0x/, ''), 'hex')) gas += byte === 0 ? 4n : 16n;
  return gas;
}

function decodeContract(raw) {
  const contracts = raw.getContractList();
  if (contracts.length !== 1) return { error: 'contract size should be exactly 1' };
  const contract = contracts[0];
  const parameter = contract.getParameter();
  const type = contract.getType();
  const names = { [TRIGGER]: 'TriggerSmartContract', [TRANSFER]: 'TransferContract' };
  const name = names[type];
  if (!name) return { error: `contract type ${type} is not served by the stand-in` };
  if (!parameter || parameter.getTypeUrl() !== TYPE_URL + name) return { error: `the parameter is not a ${name}` };
  const value = proto[name].deserializeBinary(parameter.getValue_asU8());
  return { type, value, owner: hex(value.getOwnerAddress_asU8()) };
}

function signer(txid, signature) {
  try {
    return TronWeb.address.toHex(TronWeb.address.fromHex(utils.crypto.ecRecover(txid, hex(signature)))).toLowerCase();
  } catch {
    return null;
  }
}

// Broadcasts are checked and replayed one at a time, so that balances are read and burned in order.
let queue = Promise.resolve();
function serially(task) {
  const run = queue.then(task);
  queue = run.catch(() => {});
  return run;
}

async function broadcastHex({ transaction }) {
  let bytes;
  let tx;
  try {
    bytes = Buffer.from(transaction ?? '', 'hex');
    tx = proto.Transaction.deserializeBinary(bytes);
  } catch (error) {
    return { Error: `class com.google.protobuf.InvalidProtocolBufferException : ${error.message}` };
  }
  const rawBytes = rawDataBytes(bytes);
  const txid = createHash('sha256').update(rawBytes).digest('hex');
  const raw = tx.getRawData();
  if (!raw) return refusal('CONTRACT_VALIDATE_ERROR', 'Contract validate error : No contract!', txid);
  return serially(() => admit(tx, raw, bytes, txid));
}

async function admit(tx, raw, bytes, txid) {
  if (records.has(txid)) return refusal('DUP_TRANSACTION_ERROR', 'dup transaction', txid);
  const head = await block('latest');
  const headNumber = Number(head.number);
  if (!(await refBlockKnown(raw, headNumber))) return refusal('TAPOS_ERROR', 'Tapos check error', txid);
  const now = Math.max(Date.now(), Number(head.timestamp) * 1000);
  const expiration = raw.getExpiration();
  if (expiration <= now || expiration > now + DAY_MS) {
    return refusal('TRANSACTION_EXPIRATION_ERROR', 'transaction expired', txid);
  }
  const contract = decodeContract(raw);
  if (contract.error) return refusal('CONTRACT_VALIDATE_ERROR', `Contract validate error : ${contract.error}`, txid);
  const signatures = tx.getSignatureList_asU8();
  const size = signatures[0]?.length ?? 0;
  if (signatures.length !== 1 || size < 65 || size > 68) {
    return refusal('SIGERROR', `validate signature error Signature size is ${size}`, txid);
  }
  if (signer(txid, signatures[0]) !== contract.owner) {
    return refusal('SIGERROR', 'validate signature error: the signature does not recover owner_address', txid);
  }
  if (!(await exists(contract.owner))) {
    return refusal('CONTRACT_VALIDATE_ERROR', `Contract validate error : account ${contract.owner} does not exist`, txid);
  }
  const bandwidth = bytes.length + RESULT_BYTES;
  const charge = bandwidthCharge(contract.owner, bandwidth, now);
  const balance = await balanceSun(contract.owner);
  if (balance < charge.fee) return refusal('BANDWITH_ERROR', 'AccountResourceInsufficient error', txid);
  const replay = contract.type === TRIGGER ? trigger : transfer;
  const record = { txid, owner: contract.owner, bandwidth, charge, activationFee: 0n, rawDataHex: hex(rawDataBytes(bytes)) };
  const refused = await replay(contract.value, raw, balance - charge.fee, record);
  if (refused) return refusal('CONTRACT_VALIDATE_ERROR', `Contract validate error : ${refused}`, txid);
  if (charge.free) useFree(contract.owner, bandwidth, now);
  records.set(txid, record);
  settle(record).catch((error) => console.error(`settling ${txid}: ${error.message}`));
  return { result: true, code: 'SUCCESS', message: '', txid };
}

async function send(record, request) {
  // Gas is free on anvil here: the TRON fee is burned from the owner's balance once mined.
  await rpc('anvil_setNextBlockBaseFeePerGas', ['0x0']);
  record.anvilHash = await rpc('eth_sendTransaction', [{ ...request, gasPrice: '0x0' }]);
  txidOfAnvilHash.set(record.anvilHash, record.txid);
}

// A contract call: the owner's energy limit is what fee_limit and its balance can buy.
async function trigger(value, raw, spendable, record) {
  const contract = hex(value.getContractAddress_asU8());
  if (!(await hasCode(contract))) return 'No contract or not a smart contract';
  const callValue = BigInt(value.getCallValue());
  const data = `0x${hex(value.getData_asU8())}`;
  const budget = BigInt(raw.getFeeLimit()) < spendable - callValue ? BigInt(raw.getFeeLimit()) : spendable - callValue;
  if (budget < 0n) return 'balance is not sufficient';
  record.kind = 'trigger';
  record.contract = contract;
  record.intrinsic = intrinsicGas(data);
  const gas = record.intrinsic + budget / ENERGY_PRICE_SUN;
  record.gas = gas < BLOCK_GAS_LIMIT ? gas : BLOCK_GAS_LIMIT;
  const request = { from: evm(record.owner), to: evm(contract), data, gas: quantity(record.gas), value: quantity(callValue * WEI_PER_SUN) };
  await send(record, request);
  return null;
}

async function transfer(value, raw, spendable, record) {
  const to = hex(value.getToAddress_asU8());
  const amount = BigInt(value.getAmount());
  if (amount <= 0n) return 'Validate TransferContract error, amount must be greater than 0.';
  if (to === record.owner) return 'Validate TransferContract error, Cannot transfer TRX to yourself.';
  if (!(await exists(to))) record.activationFee = ACTIVATION_FEE_SUN;
  if (spendable < amount + record.activationFee) return 'Validate TransferContract error, balance is not sufficient.';
  record.kind = 'transfer';
  record.intrinsic = 21000n;
  record.gas = 21000n;
  await send(record, { from: evm(record.owner), to: evm(to), value: quantity(amount * WEI_PER_SUN), gas: '0x5208' });
  activated.add(to);
  return null;
}

async function receipt(hash) {
  for (;;) {
    const found = await rpc('eth_getTransactionReceipt', [hash]);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// Once anvil mined the replay: the energy it used, the TRX burned, the info a node would report.
async function settle(record) {
  const mined = await receipt(record.anvilHash);
  const minedBlock = await block(Number(mined.blockNumber));
  const gasUsed = BigInt(mined.gasUsed);
  const energy = record.kind === 'trigger' ? gasUsed - record.intrinsic : 0n;
  const energyFee = energy * ENERGY_PRICE_SUN;
  const netFee = record.charge.fee;
  const fee = energyFee + netFee + record.activationFee;
  await serially(() => burn(record.owner, fee));
  const ok = mined.status === '0x1';
  const outcome = record.kind !== 'trigger' ? undefined : ok ? 'SUCCESS' : gasUsed >= record.gas ? 'OUT_OF_ENERGY' : 'REVERT';
  record.info = compact({
    id: record.txid,
    fee: Number(fee),
    blockNumber: Number(mined.blockNumber),
    blockTimeStamp: Number(minedBlock.timestamp) * 1000,
    contract_address: record.contract,
    receipt: compact({
      energy_usage_total: Number(energy),
      energy_fee: Number(energyFee),
      net_usage: record.charge.free ? record.bandwidth : 0,
      net_fee: Number(netFee),
      result: outcome,
    }),
    log: mined.logs.map((log) => ({ address: log.address.slice(2).toLowerCase(), topics: log.topics.map((t) => t.slice(2)), data: log.data.slice(2) })),
    result: ok ? undefined : 'FAILED',
    resMessage: ok ? undefined : hex(Buffer.from(outcome === 'REVERT' ? 'REVERT opcode executed' : 'Not enough energy')),
  });
}

// Protobuf's JSON leaves out fields at their default (0, empty, the first enum value).
function compact(object) {
  const out = {};
  for (const [key, value] of Object.entries(object)) {
    if (value === undefined || value === 0 || value === '' || (Array.isArray(value) && value.length === 0)) continue;
    out[key] = value;
  }
  return out;
}

// --- queries --------------------------------------------------------------------------------

function address41(text, visible) {
  const hexForm = visible ? TronWeb.address.toHex(text ?? '') : String(text ?? '');
  const lower = hexForm.toLowerCase();
  if (!/^41[0-9a-f]{40}$/.test(lower)) throw new Error(`class java.lang.IllegalArgumentException : invalid address ${text}`);
  return lower;
}

function callData(body) {
  if (body.data) return `0x${body.data}`;
  const selector = TronWeb.sha3(body.function_selector ?? '').slice(2, 10);
  return `0x${selector}${body.parameter ?? ''}`;
}

async function estimate(body) {
  const contract = address41(body.contract_address, body.visible);
  if (!(await hasCode(contract))) return { code: 'CONTRACT_VALIDATE_ERROR', message: 'Smart contract is not exist.' };
  const data = callData(body);
  const request = { from: evm(address41(body.owner_address, body.visible)), to: evm(contract), data, value: quantity(BigInt(body.call_value ?? 0) * WEI_PER_SUN) };
  try {
    const gas = BigInt(await rpc('eth_estimateGas', [request]));
    return { energy: Number(gas - intrinsicGas(data)), request };
  } catch (error) {
    return { code: 'OTHER_ERROR', message: error.message };
  }
}

const routes = {
  '/wallet/getnowblock': async () => nowBlock(await block('latest')),
  '/wallet/broadcasthex': broadcastHex,
  '/wallet/gettransactioninfobyid': async ({ value }) => records.get(String(value ?? '').toLowerCase())?.info ?? {},
  // A transaction the node has (here: every one it admitted, which anvil mines at once or keeps in
  // its pool), as its id and raw_data; {} when unknown.
  '/wallet/gettransactionbyid': async ({ value }) => {
    const record = records.get(String(value ?? '').toLowerCase());
    return record ? { txID: record.txid, raw_data_hex: record.rawDataHex } : {};
  },
  // The prices the stand-in charges, as chain parameters (mainnet's names; a parameter at 0 is
  // left out, as protobuf's JSON does).
  '/wallet/getchainparameters': async () => ({
    chainParameter: [
      { key: 'getTransactionFee', value: Number(BANDWIDTH_PRICE_SUN) },
      { key: 'getEnergyFee', value: Number(ENERGY_PRICE_SUN) },
      { key: 'getCreateAccountFee', value: 100_000 },
      { key: 'getCreateNewAccountFeeInSystemContract', value: Number(ACTIVATION_FEE_SUN) },
    ],
  }),
  '/wallet/estimateenergy': async (body) => {
    const estimated = await estimate(body);
    if (estimated.code) return { result: { result: false, code: estimated.code, message: estimated.message } };
    return { result: { result: true }, energy_required: estimated.energy };
  },
  '/wallet/triggerconstantcontract': async (body) => {
    const estimated = await estimate(body);
    if (estimated.code) return { result: { result: false, code: estimated.code, message: estimated.message } };
    const output = await rpc('eth_call', [estimated.request, 'latest']);
    return { result: { result: true }, energy_used: estimated.energy, constant_result: [output.slice(2)] };
  },
  '/wallet/getaccount': async ({ address, visible }) => {
    const account = address41(address, visible);
    if (!(await exists(account))) return {};
    return compact({ address: account, balance: Number(await balanceSun(account)) });
  },
  '/wallet/getaccountresource': async ({ address, visible }) => {
    const account = address41(address, visible);
    if (!(await exists(account))) return {};
    return compact({ freeNetUsed: freeUsed(account, Date.now()), freeNetLimit: FREE_BANDWIDTH });
  },
};

// TRON's JSON-RPC has no way to send a transaction: neither has the stand-in's.
const NOT_SERVED = new Set(['eth_sendRawTransaction', 'eth_sendTransaction']);
// java-tron's defaults: `node.jsonrpc.maxBlockRange` and LogBlockQuery.MAX_RESULT.
const MAX_LOG_BLOCKS = BigInt(args['max-log-blocks']);
const MAX_LOG_RESULTS = Number(args['max-log-results']);

const failure = (call, code, message) => ({ jsonrpc: '2.0', id: call?.id ?? null, error: { code, message } });

async function forward(call) {
  const body = JSON.stringify(call);
  const response = await anvilFetch(anvil, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return response.json();
}

async function blockOf(tag) {
  if (tag === undefined || ['latest', 'safe', 'finalized', 'pending'].includes(tag)) {
    return BigInt(await rpc('eth_blockNumber'));
  }
  return tag === 'earliest' ? 0n : BigInt(tag);
}

// eth_getLogs as java-tron answers it: a range wider than 5,000 blocks is refused before the
// query, more than 10,000 matching logs after it.
async function getLogs(call) {
  const filter = call.params?.[0] ?? {};
  if (filter.blockHash === undefined) {
    const [from, to, head] = [await blockOf(filter.fromBlock), await blockOf(filter.toBlock), await blockOf()];
    const last = to < head ? to : head;
    if (last - from > MAX_LOG_BLOCKS) return failure(call, -32602, `exceed max block range: ${MAX_LOG_BLOCKS}`);
  }
  const answer = await forward(call);
  if (!Array.isArray(answer.result)) return answer;
  if (answer.result.length > MAX_LOG_RESULTS) {
    return failure(call, -32005, `query returned more than ${MAX_LOG_RESULTS} results`);
  }
  for (const log of answer.result) {
    const txid = txidOfAnvilHash.get(log.transactionHash);
    if (txid) log.transactionHash = `0x${txid}`;
  }
  return answer;
}

async function one(call) {
  if (NOT_SERVED.has(call?.method)) {
    return failure(call, -32601, `the method ${call.method} does not exist/is not available`);
  }
  return call?.method === 'eth_getLogs' ? getLogs(call) : forward(call);
}

async function proxy(body) {
  let parsed;
  try {
    parsed = JSON.parse(body);
  } catch {
    return JSON.stringify(failure(null, -32700, 'parse error'));
  }
  const answer = Array.isArray(parsed) ? await Promise.all(parsed.map(one)) : await one(parsed);
  return JSON.stringify(answer);
}

async function handle(request, response) {
  let body = '';
  for await (const chunk of request) body += chunk;
  const reply = (status, text) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(text);
  };
  const path = new URL(request.url, 'http://stand-in').pathname;
  if (path === '/jsonrpc') return reply(200, await proxy(body));
  const route = routes[path];
  if (!route) return reply(404, JSON.stringify({ Error: `no such endpoint ${path}` }));
  let parsed;
  try {
    parsed = body.trim() === '' ? {} : JSON.parse(body);
  } catch (error) {
    return reply(200, JSON.stringify({ Error: `class org.tron.json.JSONException : ${error.message}` }));
  }
  try {
    reply(200, JSON.stringify(await route(parsed)));
  } catch (error) {
    reply(200, JSON.stringify({ Error: error.message }));
  }
}

await rpc('anvil_autoImpersonateAccount', [true]);
const server = http.createServer((request, response) => {
  handle(request, response).catch((error) => {
    response.writeHead(500);
    response.end(String(error.message));
  });
});
server.listen(Number(args.port), '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
