-- Chains whose transactions carry no nonce and expire instead (TRON): a payout's transaction has
-- no nonce there, and each signed transaction keeps its expiration, after which, if it is not in
-- a block, a fresh one may be signed. SQLite cannot drop a NOT NULL constraint: the table is
-- rebuilt (nothing refers to it).
create table payout_txs_new (
    tx_hash                  text primary key,
    payout_id                text not null references payouts (id),
    raw                      text not null,
    nonce                    bigint,
    max_fee_per_gas          text not null,
    max_priority_fee_per_gas text not null,
    signed_at                bigint not null,
    expires_at               bigint
);
insert into payout_txs_new (tx_hash, payout_id, raw, nonce, max_fee_per_gas,
                            max_priority_fee_per_gas, signed_at)
    select tx_hash, payout_id, raw, nonce, max_fee_per_gas, max_priority_fee_per_gas, signed_at
    from payout_txs;
drop table payout_txs;
alter table payout_txs_new rename to payout_txs;
create index payout_txs_payout on payout_txs (payout_id, signed_at);
