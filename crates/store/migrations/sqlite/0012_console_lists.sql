-- The console's lists walk an index newest first by keyset (created_at desc, then the row's key
-- for rows of the same microsecond), so a page costs the same at any depth; these indexes hold
-- the key too, so that neither the order nor the next page's start needs a sort.
create index orders_app_created_sysid on orders (app_id, created_at desc, sysid desc);
create index orders_app_status_created on orders (app_id, status, created_at desc, sysid desc);
-- Order search across apps by order number (the unique key starts with the app) and by
-- customer id, and an app's list filtered by customer.
create index orders_order_no on orders (order_no);
create index orders_customer_created on orders (customer_id, created_at desc);
create index refunds_app_created_sysid on refunds (app_id, created_at desc, sysid desc);
create index abnormal_payments_app_created_no
    on abnormal_payments (app_id, created_at desc, abnormal_payment_no desc);
-- Payouts in flight, newest first (the worker's payouts_open is by chain, oldest first).
create index payouts_open_created on payouts (created_at desc, id desc)
    where status in ('QUEUED', 'SIGNED', 'BROADCAST');
create index webhook_events_app_created_id on webhook_events (app_id, created_at desc, event_id desc);
create index webhook_events_app_status_created
    on webhook_events (app_id, status, created_at desc, event_id desc);
