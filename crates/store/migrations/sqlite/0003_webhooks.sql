-- Webhook delivery: each outbox event carries its delivery state; every attempt is logged.

alter table webhook_events add column status text not null default 'PENDING'
    check (status in ('PENDING', 'DELIVERED', 'FAILED'));
alter table webhook_events add column attempts bigint not null default 0;
alter table webhook_events add column next_attempt_at bigint not null default 0;
-- A process delivering an event holds it until this time (another may take it over after).
alter table webhook_events add column locked_until bigint not null default 0;
alter table webhook_events add column locked_by text;
alter table webhook_events add column last_error text;
alter table webhook_events add column delivered_at bigint;
update webhook_events set next_attempt_at = created_at;

create index webhook_events_due on webhook_events (next_attempt_at) where status = 'PENDING';
create index webhook_events_pending_object on webhook_events (object_key, seq) where status = 'PENDING';
create index webhook_events_app_created on webhook_events (app_id, created_at);

create table webhook_attempts (
    id               integer primary key autoincrement,
    event_id         text not null references webhook_events (event_id),
    attempt          bigint not null,
    started_at       bigint not null,
    duration_ms      bigint not null,
    url              text,
    http_status      bigint,
    delivered        bigint not null,
    error            text,
    response_excerpt text
);
create index webhook_attempts_event on webhook_attempts (event_id, id);
