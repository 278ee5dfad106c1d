-- The console's overview reads ledger accounts by name prefix (every custody account, one app's
-- merchant accounts) as a range in byte order, whatever the database's default collation.
create index ledger_accounts_bytes on ledger_accounts (account collate "C");
