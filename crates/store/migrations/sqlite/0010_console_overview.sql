-- The console's overview reads ledger accounts by name prefix as a range of the primary key,
-- already in byte order on SQLite: nothing to add (PostgreSQL adds a "C"-collated index).
select 1;
