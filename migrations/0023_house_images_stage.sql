-- depends: 0022_house_revisions
-- A photo of an online listing changed by its host waits for review: 'added' photos are
-- not public yet, 'removed' ones stay public until the revision is approved.
ALTER TABLE house_images ADD COLUMN IF NOT EXISTS stage ENUM('live','added','removed') NOT NULL DEFAULT 'live';
