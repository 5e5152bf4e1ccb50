-- depends: 0006_house_images
-- Stays are half-open [check_in, check_out). Money in fen: price_fen is the nightly
-- price snapshot at booking time, amount_fen = nights * price_fen.
CREATE TABLE IF NOT EXISTS orders (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  guest_id BIGINT UNSIGNED NOT NULL,
  house_id BIGINT UNSIGNED NOT NULL,
  check_in DATE NOT NULL,
  check_out DATE NOT NULL,
  nights SMALLINT UNSIGNED NOT NULL,
  price_fen INT UNSIGNED NOT NULL,
  amount_fen INT UNSIGNED NOT NULL,
  status ENUM('pending','accepted','rejected','cancelled','completed') NOT NULL DEFAULT 'pending',
  reject_reason VARCHAR(255) NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  KEY ix_orders_guest (guest_id, created_at),
  KEY ix_orders_house (house_id, status),
  KEY ix_orders_created (created_at),
  CONSTRAINT fk_orders_guest FOREIGN KEY (guest_id) REFERENCES users (id),
  CONSTRAINT fk_orders_house FOREIGN KEY (house_id) REFERENCES houses (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
