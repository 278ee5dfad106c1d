// TRON's own client library, tronweb, as the second opinion on what crates/tron builds.
// Reads a JSON array of requests on stdin and prints a JSON array of answers, one per request:
//   {op: "address", private_key}                     -> {address}
//   {op: "mnemonic", mnemonic, path}                  -> {address}
//   {op: "valid", address}                            -> {valid}
//   {op: "trc20" | "trx", owner, to, token?, amount, block_number, block_id, expiration,
//    timestamp, fee_limit, private_key, ours: {raw_data_hex, transaction_hex}}
//     -> {ref_block_bytes, ref_block_hash}: tronweb's reference to that block;
//        {raw_data_hex, txID, signature}: tronweb's encoding of the same fields and its signature;
//        decoded: our raw_data decoded by tronweb; transaction: our whole Transaction decoded;
//        recovered: the address our signature recovers.
// Only tronweb's offline utilities are used; every outgoing connection is refused, so nothing
// can reach TronGrid.
import net from 'node:net';
import dns from 'node:dns';

const offline = () => {
  throw new Error('tronweb-check runs offline: no network');
};
net.Socket.prototype.connect = offline;
dns.lookup = offline;
globalThis.fetch = offline;

const { TronWeb, utils } = await import('tronweb');
const { Transaction } = globalThis.TronWebProto;

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const lower = (text) => text.replace(/^0x/, '').toLowerCase();

function address({ private_key }) {
  return { address: TronWeb.address.fromPrivateKey(private_key) };
}

function mnemonic({ mnemonic, path }) {
  return { address: TronWeb.fromMnemonic(mnemonic, path).address };
}

function valid({ address }) {
  return { valid: TronWeb.isAddress(address) };
}

// The contract value as /wallet/triggersmartcontract or /wallet/createtransaction would return
// it, with tronweb's own ABI encoding of the transfer.
function contractOf(request) {
  const owner_address = TronWeb.address.toHex(request.owner);
  if (request.op === 'trx') {
    const value = { owner_address, to_address: TronWeb.address.toHex(request.to), amount: request.amount };
    return { type: 'TransferContract', value };
  }
  const parameter = utils.abi
    .encodeParams(['address', 'uint256'], [request.to, request.amount])
    .replace(/^0x/, '');
  const data = TronWeb.sha3('transfer(address,uint256)').slice(2, 10) + parameter;
  const value = { owner_address, contract_address: TronWeb.address.toHex(request.token), data };
  return { type: 'TriggerSmartContract', value };
}

// tronweb's own derivation of the reference-block fields, fed the block instead of a node.
async function refBlock({ block_number, block_id }) {
  const tronWeb = new TronWeb({ fullHost: 'http://127.0.0.1:9' });
  tronWeb.fullNode.request = async () => ({
    blockID: block_id,
    block_header: { raw_data: { number: block_number, timestamp: 0 } },
  });
  const { ref_block_bytes, ref_block_hash } = await tronWeb.trx.getCurrentRefBlockParams();
  return { ref_block_bytes, ref_block_hash };
}

async function transaction(request) {
  const { type, value } = contractOf(request);
  const { ref_block_bytes, ref_block_hash } = await refBlock(request);
  const json = {
    visible: false,
    raw_data: {
      contract: [{ parameter: { value, type_url: `type.googleapis.com/protocol.${type}` }, type }],
      ref_block_bytes,
      ref_block_hash,
      expiration: request.expiration,
      timestamp: request.timestamp,
      fee_limit: request.fee_limit,
    },
  };
  const pb = utils.transaction.txJsonToPb(json);
  json.txID = lower(utils.transaction.txPbToTxID(pb));
  const raw_data_hex = lower(utils.transaction.txPbToRawDataHex(pb));
  const signature = lower(utils.crypto.signTransaction(request.private_key, json).signature[0]);
  const answer = { ref_block_bytes, ref_block_hash, raw_data_hex, txID: json.txID, signature };
  return { ...answer, ...ours(type, request.ours) };
}

// What tronweb reads in the transaction we built.
function ours(type, { raw_data_hex, transaction_hex }) {
  const decoded = utils.deserializeTx.deserializeTransaction(type, raw_data_hex);
  const contract = decoded.contract[0];
  for (const key of Object.keys(contract.parameter.value)) {
    const field = contract.parameter.value[key];
    if (typeof field === 'string') contract.parameter.value[key] = field.toLowerCase();
  }
  decoded.ref_block_bytes = lower(decoded.ref_block_bytes);
  decoded.ref_block_hash = lower(decoded.ref_block_hash);
  const whole = Transaction.deserializeBinary(Buffer.from(transaction_hex, 'hex'));
  const signatures = whole.getSignatureList_asU8().map(hex);
  const rawData = hex(whole.getRawData().serializeBinary());
  const txID = lower(utils.transaction.txPbToTxID(whole));
  const recovered = signatures.map((signature) => TronWeb.address.fromHex(utils.crypto.ecRecover(txID, signature)));
  return { decoded, transaction: { raw_data_hex: rawData, txID, signatures }, recovered };
}

const ops = { address, mnemonic, valid, trc20: transaction, trx: transaction };

let input = '';
for await (const chunk of process.stdin) input += chunk;
const answers = [];
for (const request of JSON.parse(input)) {
  const op = ops[request.op];
  if (!op) throw new Error(`unknown op ${request.op}`);
  answers.push(await op(request));
}
process.stdout.write(JSON.stringify(answers));
