-- Durable "log out everywhere" (password change, account disabled): sessions of this
-- user created before this moment (Unix seconds, as the sessions record it) are refused,
-- even when a Redis restored from an old snapshot still holds them (services/sessions.py).
ALTER TABLE users ADD COLUMN IF NOT EXISTS sessions_revoked_after DOUBLE NULL;
