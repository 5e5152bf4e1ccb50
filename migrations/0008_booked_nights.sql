-- depends: 0007_orders
-- One row per booked night: the primary key makes the database itself refuse a double booking.
CREATE TABLE IF NOT EXISTS booked_nights (
  house_id BIGINT UNSIGNED NOT NULL,
  night DATE NOT NULL,
  order_id BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (house_id, night),
  KEY ix_bn_order (order_id),
  CONSTRAINT fk_bn_house FOREIGN KEY (house_id) REFERENCES houses (id),
  CONSTRAINT fk_bn_order FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
