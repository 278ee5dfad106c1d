-- Per-account chain adapters (Solana) read, every round, the deposits of a token's orders whose
-- payment window ends at or after a time: one range of this index per token.
create index orders_token_expires_at on orders (token, expires_at);
