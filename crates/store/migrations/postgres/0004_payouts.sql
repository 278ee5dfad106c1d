-- Money out: the double-entry ledger, refunds, settlements, payouts and their transactions.

-- Account totals, kept in step with the entries in the same transaction.
create table ledger_accounts (
    account    text primary key,
    debits     numeric(78, 0) not null default 0 check (debits >= 0),
    credits    numeric(78, 0) not null default 0 check (credits >= 0),
    updated_at bigint not null
);

-- Every movement: one debit, one credit, the same amount. Never updated, never deleted.
create table ledger_entries (
    id             bigserial primary key,
    debit_account  text not null references ledger_accounts (account),
    credit_account text not null references ledger_accounts (account),
    amount         numeric(78, 0) not null check (amount > 0),
    kind           text not null,
    reference      text not null,
    created_at     bigint not null
);
create index ledger_entries_reference on ledger_entries (reference);

create table refunds (
    sysid               text primary key,
    app_id              text not null references apps (id),
    refund_order_no     text not null,
    order_sysid         text not null references orders (sysid),
    order_no            text not null,
    merchant_id         text not null,
    abnormal_payment_no text references abnormal_payments (abnormal_payment_no),
    token               text not null,
    amount              numeric(78, 0) not null check (amount > 0),
    address             text not null,
    remark              text,
    status              text not null check (status in ('PENDING_REFUND', 'REFUNDING', 'REFUNDED',
                                                         'CANCELLED', 'FAILED')),
    tx_hash             text,
    failure_reason      text,
    request_fingerprint text not null,
    created_at          bigint not null,
    updated_at          bigint not null,
    version             bigint not null,
    constraint refunds_app_refund_order_no_key unique (app_id, refund_order_no)
);
create index refunds_app_created_at on refunds (app_id, created_at desc);
create index refunds_order on refunds (order_sysid);

create table settlements (
    sysid               text primary key,
    app_id              text not null references apps (id),
    settlement_order_no text not null,
    merchant_id         text not null,
    token               text not null,
    amount              numeric(78, 0) not null check (amount > 0),
    address             text,
    fiat                text,
    bank_account        text,
    order_nos           text not null,
    status              text not null check (status in ('PENDING_SETTLEMENT', 'SETTLING', 'SETTLED',
                                                         'FAILED', 'REJECTED', 'CANCELLED')),
    approved            bigint not null,
    tx_hash             text,
    bank_reference      text,
    failure_reason      text,
    request_fingerprint text not null,
    created_at          bigint not null,
    updated_at          bigint not null,
    version             bigint not null,
    constraint settlements_app_settlement_order_no_key unique (app_id, settlement_order_no)
);
create index settlements_app_created_at on settlements (app_id, created_at desc);

create table payouts (
    id           text primary key,
    chain        text not null,
    kind         text not null check (kind in ('REFUND', 'SETTLEMENT', 'SWEEP', 'GAS_TOP_UP')),
    reference    text not null,
    signer       text not null,
    from_address text not null,
    to_address   text not null,
    asset        text not null,
    amount       numeric(78, 0) not null check (amount > 0),
    status       text not null check (status in ('QUEUED', 'SIGNED', 'BROADCAST', 'CONFIRMED',
                                                 'FAILED')),
    nonce        bigint,
    tx_hash      text,
    fee          numeric(78, 0),
    note         text,
    not_before   bigint not null,
    created_at   bigint not null,
    updated_at   bigint not null,
    version      bigint not null,
    -- The same refund, settlement or sweep is never paid twice.
    constraint payouts_kind_reference_key unique (kind, reference),
    -- A nonce of an address belongs to one payout.
    constraint payouts_chain_from_nonce_key unique (chain, from_address, nonce)
);
create index payouts_open on payouts (chain, status) where status in ('QUEUED', 'SIGNED', 'BROADCAST');

-- Every signed transaction of a payout (the first and any fee-bumped replacement), stored
-- before it is broadcast.
create table payout_txs (
    tx_hash                  text primary key,
    payout_id                text not null references payouts (id),
    raw                      text not null,
    nonce                    bigint not null,
    max_fee_per_gas          numeric(78, 0) not null,
    max_priority_fee_per_gas numeric(78, 0) not null,
    signed_at                bigint not null
);
create index payout_txs_payout on payout_txs (payout_id, signed_at);

-- The next nonce of each sending address of ours.
create table nonces (
    chain      text not null,
    address    text not null,
    next_nonce bigint not null check (next_nonce >= 0),
    primary key (chain, address)
);
