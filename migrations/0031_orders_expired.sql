-- depends: 0030_orders_guests_deposit
-- 'expired': a pending request the host did not answer before check-in (its nights are freed).
ALTER TABLE orders
  MODIFY status ENUM('pending','accepted','rejected','cancelled','completed','expired') NOT NULL DEFAULT 'pending';
