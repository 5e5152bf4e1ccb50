-- depends: 0021_houses_neighbourhood
-- A pending change of an online listing's reviewed content (title, description, cover;
-- its photo changes are the house_images rows whose stage is not 'live'). One row per
-- listing at most: the primary key is the listing. 'rejected' keeps the admin's note
-- for the host until the next edit or withdrawal.
CREATE TABLE IF NOT EXISTS house_revisions (
  house_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  status ENUM('pending','rejected') NOT NULL DEFAULT 'pending',
  title VARCHAR(64) NOT NULL,
  description TEXT NULL,
  cover_image_id BIGINT UNSIGNED NULL,
  review_note VARCHAR(255) NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  KEY ix_hr_status (status, updated_at),
  CONSTRAINT fk_hr_house FOREIGN KEY (house_id) REFERENCES houses (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
