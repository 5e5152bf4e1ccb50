-- depends: 0004_houses
CREATE TABLE IF NOT EXISTS house_facilities (
  house_id BIGINT UNSIGNED NOT NULL,
  facility_id INT UNSIGNED NOT NULL,
  PRIMARY KEY (house_id, facility_id),
  KEY ix_hf_facility (facility_id),
  CONSTRAINT fk_hf_house FOREIGN KEY (house_id) REFERENCES houses (id) ON DELETE CASCADE,
  CONSTRAINT fk_hf_facility FOREIGN KEY (facility_id) REFERENCES facilities (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
