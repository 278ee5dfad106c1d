// Tests of receiver.mjs: `node --test examples/webhook-receiver/`.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';

import { ACK, WINDOW_MS, sign, startReceiver, verify } from './receiver.mjs';

// The spec's test vector (wcheckout-api.md §4.2): the §4.4 ABNORMAL_PAYMENT example, minified.
const SIGN_KEY = 'aR2822Y6XbehWMclnB0Y2NJK';
const TIMESTAMP = '1758701681000';
const BODY =
  '{"eventId":"evt_0a4fee0f8882","eventType":"ABNORMAL_PAYMENT","timestamp":1758701681,' +
  '"data":{"abnormalPaymentNo":"xxxxxxxx","orderNo":"xxxxxxx","token":"ETH_USDT","amount":"818.89",' +
  '"hash":"0xxxxxxxxxx","pendingAmount":"739.00","createdTime":"2025-12-23 12:56:47",' +
  '"updatedTime":"2025-12-23 12:56:47"}}';
const SIGNATURE =
  '2cLkiqniDbuoh2rBWd4b4/RLupRQ8FRTF97NRS7nit+vN21mzswahXhloVtWPEYyZ3w8DG1nEBHaCkoJp5Hveg==';

describe('verify', () => {
  test('the spec test vector', () => {
    assert.equal(sign(SIGN_KEY, TIMESTAMP, BODY), SIGNATURE);
    assert.equal(sign(SIGN_KEY, TIMESTAMP, Buffer.from(BODY)), SIGNATURE);
    const check = verify({
      signKey: SIGN_KEY,
      timestamp: TIMESTAMP,
      signature: SIGNATURE,
      rawBody: Buffer.from(BODY),
      nowMs: Number(TIMESTAMP),
    });
    assert.deepEqual(check, { ok: true });
  });

  test('the window is two minutes either way, inclusive', () => {
    const at = (nowMs) =>
      verify({ signKey: SIGN_KEY, timestamp: TIMESTAMP, signature: SIGNATURE, rawBody: BODY, nowMs }).ok;
    const ts = Number(TIMESTAMP);
    assert.equal(at(ts + WINDOW_MS), true);
    assert.equal(at(ts - WINDOW_MS), true);
    assert.equal(at(ts + WINDOW_MS + 1), false);
    assert.equal(at(ts - WINDOW_MS - 1), false);
  });

  test('malformed headers', () => {
    const base = { signKey: SIGN_KEY, rawBody: BODY, nowMs: Number(TIMESTAMP) };
    assert.equal(verify({ ...base, timestamp: undefined, signature: SIGNATURE }).ok, false);
    assert.equal(verify({ ...base, timestamp: '1758701681000x', signature: SIGNATURE }).ok, false);
    assert.equal(verify({ ...base, timestamp: '1758701681', signature: SIGNATURE }).ok, false);
    assert.equal(verify({ ...base, timestamp: TIMESTAMP, signature: undefined }).ok, false);
    assert.equal(verify({ ...base, timestamp: TIMESTAMP, signature: SIGNATURE.slice(1) }).ok, false);
    assert.equal(verify({ ...base, timestamp: TIMESTAMP, signature: `${SIGNATURE}=` }).ok, false);
  });
});

describe('receiver', () => {
  let server;
  let url;
  let clock;
  const processed = [];
  const logged = [];
  let failNext = false;

  before(async () => {
    server = await startReceiver({
      signKey: SIGN_KEY,
      now: () => clock,
      onEvent: async (event) => {
        if (failNext) {
          failNext = false;
          throw new Error('database down');
        }
        processed.push(event);
      },
      log: (kind, details) => logged.push({ kind, ...details }),
    });
    url = `http://127.0.0.1:${server.address().port}/webhooks/wcheckout`;
  });

  after(() => new Promise((resolve) => server.close(resolve)));

  beforeEach(() => {
    clock = Number(TIMESTAMP) + 30_000;
    processed.length = 0;
    logged.length = 0;
  });

  const post = async (body, { timestamp = TIMESTAMP, signature = SIGNATURE, method = 'POST' } = {}) => {
    const headers = { 'content-type': 'application/json' };
    if (timestamp !== null) headers.TIMESTAMP = timestamp;
    if (signature !== null) headers.SIGNATURE = signature;
    const response = await fetch(url, { method, headers, body: method === 'POST' ? body : undefined });
    return { status: response.status, text: await response.text() };
  };

  test('accepts the spec test vector and acknowledges it', async () => {
    const { status, text } = await post(BODY);
    assert.equal(status, 200);
    assert.equal(text, ACK);
    assert.deepEqual(JSON.parse(text), { retcode: 200, retmsg: 'SUCCESS' });
    assert.equal(processed.length, 1);
    assert.equal(processed[0].eventId, 'evt_0a4fee0f8882');
    assert.equal(processed[0].eventType, 'ABNORMAL_PAYMENT');
    assert.equal(processed[0].data.amount, '818.89');
  });

  test('acknowledges a duplicate eventId without processing it twice', async () => {
    const event = BODY.replace('evt_0a4fee0f8882', 'evt_duplicate_1');
    const timestamp = String(clock);
    const signature = sign(SIGN_KEY, timestamp, event);
    const first = await post(event, { timestamp, signature });
    // A later attempt of the same event: fresh TIMESTAMP and SIGNATURE, same body.
    clock += 15_000;
    const retryTimestamp = String(clock);
    const second = await post(event, { timestamp: retryTimestamp, signature: sign(SIGN_KEY, retryTimestamp, event) });
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.equal(second.text, ACK);
    assert.equal(processed.length, 1, 'processed once');
    assert.deepEqual(
      logged.map((l) => l.kind),
      ['accepted', 'duplicate'],
    );
    // Two deliveries at once are processed once too.
    const concurrent = BODY.replace('evt_0a4fee0f8882', 'evt_duplicate_2');
    const sig = sign(SIGN_KEY, String(clock), concurrent);
    const both = await Promise.all([
      post(concurrent, { timestamp: String(clock), signature: sig }),
      post(concurrent, { timestamp: String(clock), signature: sig }),
    ]);
    assert.deepEqual(both.map((r) => r.status), [200, 200]);
    assert.equal(processed.length, 2);
  });

  test('rejects a tampered body', async () => {
    const tampered = BODY.replace('"amount":"818.89"', '"amount":"918.89"');
    const { status } = await post(tampered);
    assert.equal(status, 401);
    assert.equal(processed.length, 0);
    assert.equal(logged[0].reason, 'SIGNATURE does not match');
  });

  test('verifies the raw bytes, not a re-serialised object', async () => {
    const pretty = JSON.stringify(JSON.parse(BODY.replace('evt_0a4fee0f8882', 'evt_pretty')), null, 2);
    const timestamp = String(clock);
    const accepted = await post(pretty, { timestamp, signature: sign(SIGN_KEY, timestamp, pretty) });
    assert.equal(accepted.status, 200);
    assert.equal(processed.length, 1);
    // The same object minified does not carry the pretty body's signature.
    const minified = JSON.stringify(JSON.parse(pretty)).replace('evt_pretty', 'evt_pretty_2');
    const refused = await post(minified, { timestamp, signature: sign(SIGN_KEY, timestamp, pretty) });
    assert.equal(refused.status, 401);
    assert.equal(processed.length, 1);
  });

  test('rejects a stale or future timestamp, even with a valid signature', async () => {
    clock = Number(TIMESTAMP) + WINDOW_MS + 1;
    const stale = await post(BODY);
    assert.equal(stale.status, 401);
    clock = Number(TIMESTAMP) - WINDOW_MS - 1;
    const future = await post(BODY);
    assert.equal(future.status, 401);
    assert.equal(processed.length, 0);
    assert.match(logged[0].reason, /window/);
  });

  test('rejects a bad or missing signature', async () => {
    const flipped = (SIGNATURE[0] === 'A' ? 'B' : 'A') + SIGNATURE.slice(1);
    assert.equal((await post(BODY, { signature: flipped })).status, 401);
    assert.equal((await post(BODY, { signature: sign('another key', TIMESTAMP, BODY) })).status, 401);
    assert.equal((await post(BODY, { signature: null })).status, 401);
    assert.equal((await post(BODY, { timestamp: null })).status, 401);
    // A valid signature for another timestamp.
    assert.equal((await post(BODY, { timestamp: String(Number(TIMESTAMP) + 1) })).status, 401);
    assert.equal(processed.length, 0);
  });

  test('a failure while processing is answered 500 so that it is delivered again', async () => {
    const event = BODY.replace('evt_0a4fee0f8882', 'evt_retry_me');
    const timestamp = String(clock);
    const signature = sign(SIGN_KEY, timestamp, event);
    failNext = true;
    const failed = await post(event, { timestamp, signature });
    assert.equal(failed.status, 500);
    assert.notEqual(failed.text, ACK);
    assert.equal(processed.length, 0);
    const retried = await post(event, { timestamp, signature });
    assert.equal(retried.status, 200);
    assert.equal(processed.length, 1, 'not marked as seen after the failure');
  });

  test('only POST', async () => {
    const { status } = await post('', { method: 'GET' });
    assert.equal(status, 405);
  });
});
