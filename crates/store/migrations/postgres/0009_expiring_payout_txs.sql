-- Chains whose transactions carry no nonce and expire instead (TRON): a payout's transaction has
-- no nonce there, and each signed transaction keeps its expiration, after which, if it is not in
-- a block, a fresh one may be signed.
alter table payout_txs alter column nonce drop not null;
alter table payout_txs add column expires_at bigint;
