-- Operator accounts of the console, and its audit log. The log is append-only: triggers refuse
-- any update or delete, whoever asks.
create table operators (
    name            text primary key,
    role            text not null check (role in ('viewer', 'support', 'finance', 'admin')),
    app_id          text references apps (id),
    password_hash   text not null,
    status          text not null check (status in ('ACTIVE', 'DISABLED')),
    created_at      bigint not null,
    updated_at      bigint not null
);

create table audit_log (
    id          bigserial primary key,
    operator    text not null,
    action      text not null,
    target      text not null,
    at          bigint not null,
    client      text not null
);

create function audit_log_refuse_change() returns trigger language plpgsql as $$
begin
    raise exception 'the audit log is append-only';
end
$$;

create trigger audit_log_no_change before update or delete on audit_log
    for each row execute function audit_log_refuse_change();

create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_log_refuse_change();
