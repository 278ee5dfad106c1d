-- Order counts by status for /metrics without counting the orders table on every scrape.
-- Triggers append signed deltas (no counter row that concurrent writers would queue on); the
-- reader folds them into one row per status as it sums them (see orders.rs).
create table order_status_deltas (
    id      bigserial primary key,
    status  text not null,
    delta   bigint not null
);

insert into order_status_deltas (status, delta)
    select status, count(*) from orders group by status;

create function order_status_deltas_of_insert() returns trigger language plpgsql as $$
begin
    insert into order_status_deltas (status, delta)
        select status, count(*) from inserted group by status;
    return null;
end
$$;

create function order_status_deltas_of_update() returns trigger language plpgsql as $$
begin
    insert into order_status_deltas (status, delta)
        select status, sum(delta) from (
            select status, -1 as delta from before_update
            union all
            select status, 1 as delta from after_update
        ) moves
        group by status
        having sum(delta) <> 0;
    return null;
end
$$;

-- Statement triggers: one delta row per status a multi-row statement touches.
create trigger orders_counted_on_insert after insert on orders
    referencing new table as inserted
    for each statement execute function order_status_deltas_of_insert();

create trigger orders_counted_on_update after update on orders
    referencing old table as before_update new table as after_update
    for each statement execute function order_status_deltas_of_update();
