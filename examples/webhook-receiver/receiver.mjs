// A W Checkout / wcheckout webhook receiver for Node.js, without dependencies (node:http,
// node:crypto). It does what every receiver must, in this order:
//
//   1. refuse a TIMESTAMP header more than 2 minutes from our clock (HTTP 401);
//   2. compute Base64(HMAC-SHA512(signKey, TIMESTAMP + raw body)) over the RAW bytes received and
//      compare it with the SIGNATURE header in constant time (HTTP 401 on mismatch);
//   3. only then parse the JSON, skip an eventId already processed (deliveries are at least
//      once), process the event, and answer {"retcode":200,"retmsg":"SUCCESS"}.
//
// Run it:   WCHECKOUT_SIGN_KEY=... PORT=3000 node receiver.mjs
// (or pass the signKey as the first argument). It prints one JSON line per delivery.
// Use it as a module: import { createHandler } from './receiver.mjs' and plug your own
// onEvent (and a persistent `seen` store: this one forgets on restart).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

/** Largest accepted distance between TIMESTAMP and our clock, in milliseconds. */
export const WINDOW_MS = 120_000;
/** Largest body read; webhook bodies are a few KiB. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** The acknowledgement W Checkout expects (retcode is a number here). */
export const ACK = JSON.stringify({ retcode: 200, retmsg: 'SUCCESS' });

/** Base64(HMAC-SHA512(signKey, timestamp + rawBody)); rawBody is a Buffer or string. */
export function sign(signKey, timestamp, rawBody) {
  return createHmac('sha512', signKey)
    .update(String(timestamp))
    .update(rawBody)
    .digest('base64');
}

/**
 * Checks one delivery before anything is parsed. Returns { ok: true } or { ok: false, reason }.
 * `timestamp` and `signature` are the header values (undefined when absent).
 */
export function verify({ signKey, timestamp, signature, rawBody, nowMs }) {
  if (typeof timestamp !== 'string' || !/^\d{1,16}$/.test(timestamp)) {
    return { ok: false, reason: 'TIMESTAMP missing or not epoch milliseconds' };
  }
  if (Math.abs(nowMs - Number(timestamp)) > WINDOW_MS) {
    return { ok: false, reason: 'TIMESTAMP outside the 2-minute window' };
  }
  if (typeof signature !== 'string' || signature.length === 0) {
    return { ok: false, reason: 'SIGNATURE missing' };
  }
  const expected = Buffer.from(sign(signKey, timestamp, rawBody), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  // timingSafeEqual needs equal lengths; a length difference reveals nothing secret.
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, reason: 'SIGNATURE does not match' };
  }
  return { ok: true };
}

function answer(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body);
}

function readRawBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        reject(Object.assign(new Error('body too large'), { tooLarge: true }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * An http request handler.
 *   signKey   the app's signKey (string)
 *   now       () => epoch milliseconds (injectable for tests)
 *   onEvent   async (event) => void; throw to have W Checkout retry later
 *   seen      a Set-like store of processed eventIds (has/add); use a database in production
 *   log       (kind, details) => void, kind one of accepted, duplicate, rejected, failed
 */
export function createHandler({
  signKey,
  now = Date.now,
  onEvent = async () => {},
  seen = new Set(),
  log = () => {},
}) {
  if (!signKey) throw new Error('signKey is required');
  const inProgress = new Map();
  return async (req, res) => {
    if (req.method !== 'POST') {
      answer(res, 405, JSON.stringify({ retcode: 405, retmsg: 'POST only' }));
      return;
    }
    let rawBody;
    try {
      rawBody = await readRawBody(req, MAX_BODY_BYTES);
    } catch (error) {
      if (!res.headersSent && !res.destroyed) {
        answer(res, error.tooLarge ? 413 : 400, JSON.stringify({ retcode: 400, retmsg: 'bad body' }));
      }
      return;
    }
    const check = verify({
      signKey,
      timestamp: req.headers['timestamp'],
      signature: req.headers['signature'],
      rawBody,
      nowMs: now(),
    });
    if (!check.ok) {
      log('rejected', { reason: check.reason });
      answer(res, 401, JSON.stringify({ retcode: 401, retmsg: check.reason }));
      return;
    }
    // Verified: now the body may be parsed.
    let event;
    try {
      event = JSON.parse(rawBody.toString('utf8'));
    } catch {
      event = undefined;
    }
    const eventId = event && typeof event.eventId === 'string' ? event.eventId : undefined;
    if (!eventId) {
      log('rejected', { reason: 'not an event' });
      answer(res, 400, JSON.stringify({ retcode: 400, retmsg: 'not an event' }));
      return;
    }
    try {
      // A second delivery of an event being processed waits for the first one.
      if (inProgress.has(eventId)) await inProgress.get(eventId);
      if (await seen.has(eventId)) {
        log('duplicate', { eventId, eventType: event.eventType });
        answer(res, 200, ACK);
        return;
      }
      const work = (async () => {
        await onEvent(event);
        await seen.add(eventId);
      })();
      inProgress.set(eventId, work.catch(() => {}));
      try {
        await work;
      } finally {
        inProgress.delete(eventId);
      }
      log('accepted', { eventId, eventType: event.eventType, data: event.data });
      answer(res, 200, ACK);
    } catch (error) {
      log('failed', { eventId, error: String(error && error.message ? error.message : error) });
      answer(res, 500, JSON.stringify({ retcode: 500, retmsg: 'processing failed' }));
    }
  };
}

/** Starts a receiver; resolves to the listening http.Server. */
export function startReceiver({ port = 0, host = '127.0.0.1', ...options }) {
  const server = createServer(createHandler(options));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

async function main() {
  const signKey = process.env.WCHECKOUT_SIGN_KEY || process.argv[2];
  if (!signKey) {
    console.error('usage: WCHECKOUT_SIGN_KEY=KEY [PORT=3000] [HOST=127.0.0.1] node receiver.mjs');
    process.exit(2);
  }
  const host = process.env.HOST || '127.0.0.1';
  const port = Number(process.env.PORT ?? 3000);
  const print = (kind, details) => console.log(JSON.stringify({ [kind]: true, ...details }));
  const server = await startReceiver({
    port,
    host,
    signKey,
    log: print,
    onEvent: async () => {
      // Your business logic: e.g. mark the order paid when data.orderStatus is PAID.
    },
  });
  console.log(`listening on http://${host}:${server.address().port}`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
