-- Claims read each app's due events from its own index range (see outbox.rs `claim_sql`), so
-- an app with a large backlog at its concurrency limit costs nothing to skip.
create index webhook_events_app_due on webhook_events (app_id, next_attempt_at, seq)
    where status = 'PENDING';
