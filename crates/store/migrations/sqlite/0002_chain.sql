-- Chain watching: cursors, reorg checkpoints, watcher leases, transfers, abnormal payments.

alter table orders add column alert text;

create table chain_cursors (
    chain        text primary key,
    block_number bigint not null check (block_number >= 0),
    block_hash   text not null,
    head_number  bigint not null default 0,
    head_time    bigint not null default 0,
    -- Start of the last round that ended with every block up to the head recorded: a transfer
    -- made before that moment is known.
    caught_up_at bigint not null default 0,
    updated_at   bigint not null
);

-- Heights and hashes of processed blocks, to find where a reorganised chain forked.
create table chain_checkpoints (
    chain        text not null,
    block_number bigint not null,
    block_hash   text not null,
    primary key (chain, block_number)
);

-- One watcher per chain at a time among processes sharing the database.
create table chain_leases (
    chain      text primary key,
    holder     text not null,
    expires_at bigint not null
);

create table chain_transfers (
    chain        text not null,
    tx_hash      text not null,
    log_index    bigint not null,
    block_number bigint not null,
    block_hash   text not null,
    block_time   bigint not null,
    token        text not null,
    from_address text not null,
    to_address   text not null,
    amount       text not null,
    order_sysid  text not null references orders (sysid),
    state        text not null check (state in ('PENDING', 'CREDITED', 'REVERSED')),
    observed_at  bigint not null,
    constraint chain_transfers_pkey primary key (chain, tx_hash, log_index)
);
create index chain_transfers_pending on chain_transfers (chain, block_number) where state = 'PENDING';
create index chain_transfers_block on chain_transfers (chain, block_number);
create index chain_transfers_order on chain_transfers (order_sysid);

create table abnormal_payments (
    abnormal_payment_no text primary key,
    app_id              text not null references apps (id),
    order_sysid         text not null references orders (sysid),
    order_no            text not null,
    token               text not null,
    kind                text not null check (kind in ('OVER_PAID', 'UNDER_PAID', 'LATE_PAYMENT')),
    amount              text not null,
    pending_amount      text not null,
    tx_hash             text,
    payer_address       text,
    status              text not null check (status in ('PENDING', 'HANDLED')),
    created_at          bigint not null,
    updated_at          bigint not null,
    version             bigint not null
);
create index abnormal_payments_app_created on abnormal_payments (app_id, created_at desc);
create index abnormal_payments_order on abnormal_payments (order_sysid);
