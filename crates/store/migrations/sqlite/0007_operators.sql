-- Operator accounts of the console, and its audit log. The log is append-only: triggers refuse
-- any update or delete, whoever asks.
create table operators (
    name            text primary key,
    role            text not null check (role in ('viewer', 'support', 'finance', 'admin')),
    app_id          text references apps (id),
    password_hash   text not null,
    status          text not null check (status in ('ACTIVE', 'DISABLED')),
    created_at      integer not null,
    updated_at      integer not null
);

create table audit_log (
    id          integer primary key,
    operator    text not null,
    action      text not null,
    target      text not null,
    at          integer not null,
    client      text not null
);

create trigger audit_log_no_update before update on audit_log
begin
    select raise(abort, 'the audit log is append-only');
end;

create trigger audit_log_no_delete before delete on audit_log
begin
    select raise(abort, 'the audit log is append-only');
end;
