-- Order counts by status for /metrics without counting the orders table on every scrape.
-- Triggers append signed deltas; the reader folds them into one row per status as it sums
-- them (see orders.rs).
create table order_status_deltas (
    id      integer primary key,
    status  text not null,
    delta   integer not null
);

insert into order_status_deltas (status, delta)
    select status, count(*) from orders group by status;

create trigger orders_counted_on_insert after insert on orders
begin
    insert into order_status_deltas (status, delta) values (new.status, 1);
end;

create trigger orders_counted_on_update after update of status on orders
    when old.status <> new.status
begin
    insert into order_status_deltas (status, delta) values (old.status, -1), (new.status, 1);
end;
