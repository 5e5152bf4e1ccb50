-- depends: 0023_house_images_stage
-- Nights a host keeps for themselves, half-open [check_in, check_out). Each night is also a
-- booked_nights row (block_id set), so the database refuses a block and a booking together.
CREATE TABLE IF NOT EXISTS house_blocks (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  house_id BIGINT UNSIGNED NOT NULL,
  check_in DATE NOT NULL,
  check_out DATE NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY ix_hb_house (house_id, check_in),
  CONSTRAINT fk_hb_house FOREIGN KEY (house_id) REFERENCES houses (id),
  CONSTRAINT ck_hb_range CHECK (check_out > check_in)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
