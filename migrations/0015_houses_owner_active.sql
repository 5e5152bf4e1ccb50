-- The owner's account status copied onto the listing, so public queries filter and sort
-- on houses' own indexes instead of joining users first. Kept in step by the admin
-- disable/enable transaction (models/admin.py set_user_active).
ALTER TABLE houses ADD COLUMN IF NOT EXISTS owner_active TINYINT(1) NOT NULL DEFAULT 1 AFTER owner_id;
