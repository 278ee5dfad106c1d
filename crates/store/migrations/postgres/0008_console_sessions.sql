-- Signed-in sessions of the console: only a hash of each session token is kept, so a copy of
-- the database opens none. They survive restarts and are shared by every gateway process.
create table console_sessions (
    token_hash  text primary key,
    operator    text not null references operators (name),
    created_at  bigint not null,
    expires_at  bigint not null
);
create index console_sessions_expires_at on console_sessions (expires_at);
