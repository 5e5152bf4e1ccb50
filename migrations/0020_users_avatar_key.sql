-- depends: 0001_users
-- GET /media/… looks an avatar's key up to know it is an avatar (always public).
ALTER TABLE users ADD KEY IF NOT EXISTS ix_users_avatar_key (avatar_key);
