-- depends: 0001_users
-- Areas keyed by the national 6-digit adcode (district level), from cpca's adcodes.csv.
CREATE TABLE IF NOT EXISTS areas (
  id INT UNSIGNED NOT NULL PRIMARY KEY,
  name VARCHAR(32) NOT NULL,
  city VARCHAR(32) NOT NULL,
  province VARCHAR(32) NOT NULL,
  KEY ix_areas_city (city)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
