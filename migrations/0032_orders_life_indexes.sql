-- depends: 0031_orders_expired
-- The periodic settling finds pending requests past check-in and accepted stays past check-out
-- by (status, date); the header's "pending requests" count and a listing's settling go by
-- (house_id, status, check_in).
ALTER TABLE orders
  ADD KEY IF NOT EXISTS ix_orders_status_in (status, check_in),
  ADD KEY IF NOT EXISTS ix_orders_status_out (status, check_out),
  ADD KEY IF NOT EXISTS ix_orders_house_status_in (house_id, status, check_in);
