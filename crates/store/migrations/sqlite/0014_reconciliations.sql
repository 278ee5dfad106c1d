-- Each reconciliation's result per chain and asset: what the ledger said our addresses hold and
-- what the chain said, summed over the addresses compared, and when. Rows are only added, so the
-- console shows the last one and its age, and earlier ones stay for audit. Amounts are base
-- units as text (the ledger's may be negative, both may exceed 64 bits).
create table reconciliations (
    chain      text not null,
    asset      text not null,
    at         bigint not null,
    ledger     text not null,
    on_chain   text not null,
    accounts   bigint not null,
    differing  bigint not null,
    in_flight  bigint not null,
    primary key (chain, asset, at)
);
