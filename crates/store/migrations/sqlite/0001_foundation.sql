-- Foundation: apps and their grants, checkout orders, the webhook outbox.
-- Times are microseconds since the Unix epoch (UTC). Token amounts are base units as decimal
-- integer text (SQLite has no exact 128-bit type); the store never does arithmetic in SQL.

create table apps (
    id                text primary key,
    name              text not null,
    api_key           text not null,
    api_secret_hash   text not null,
    sign_key_sealed   text not null,
    webhook_url       text,
    ip_allow          text not null default '',
    tolerance_percent text not null default '0',
    tolerance_amount  text not null default '0',
    display_name      text,
    logo_url          text,
    theme_color       text,
    secrets_version   bigint not null default 1,
    enabled           bigint not null default 1,
    created_at        bigint not null,
    updated_at        bigint not null,
    constraint apps_api_key_key unique (api_key)
);

create table grants (
    token_hash      text primary key,
    app_id          text not null references apps (id),
    kind            text not null check (kind in ('access', 'refresh')),
    secrets_version bigint not null,
    expires_at      bigint not null
);
create index grants_expires_at on grants (expires_at);

-- Signatures accepted within the last two minutes, to refuse replays.
create table seen_signatures (
    app_id         text not null,
    signature_hash text not null,
    expires_at     bigint not null,
    primary key (app_id, signature_hash)
);
create index seen_signatures_expires_at on seen_signatures (expires_at);

create table counters (
    name  text primary key,
    value bigint not null check (value >= 0)
);
insert into counters (name, value) values ('evm_address_index', 0);

create table orders (
    sysid               text primary key,
    app_id              text not null references apps (id),
    order_no            text not null,
    merchant_id         text not null,
    customer_id         text not null,
    token               text not null,
    fiat                text not null,
    order_amount        text not null,
    exchange_rate       text not null,
    paying_amount       text not null check (paying_amount <> '0'),
    min_accepted_amount text not null,
    paid_amount         text not null,
    refunded_amount     text not null,
    deposit_address     text not null,
    address_index       bigint not null check (address_index >= 0),
    status              text not null check (status in ('PAYING', 'PAID', 'CANCELLED', 'REFUNDING',
                                                         'PARTIAL_REFUNDED', 'REFUNDED', 'TIMEOUT')),
    tx_hash             text,
    expires_at          bigint not null,
    pc_callback_url     text,
    app_callback_url    text,
    page_token          text not null,
    request_fingerprint text not null,
    created_at          bigint not null,
    updated_at          bigint not null,
    version             bigint not null,
    constraint orders_app_order_no_key unique (app_id, order_no),
    constraint orders_deposit_address_key unique (deposit_address),
    constraint orders_address_index_key unique (address_index),
    constraint orders_page_token_key unique (page_token)
);
create index orders_paying_expires_at on orders (expires_at) where status = 'PAYING';
create index orders_app_created_at on orders (app_id, created_at desc);

create table webhook_events (
    seq        integer primary key autoincrement,
    event_id   text not null,
    app_id     text not null references apps (id),
    event_type text not null,
    object_key text not null,
    body       text not null,
    created_at bigint not null,
    constraint webhook_events_event_id_key unique (event_id)
);
create index webhook_events_object on webhook_events (object_key, seq);
