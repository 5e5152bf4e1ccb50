-- depends: 0020_users_avatar_key
-- A public, neighbourhood-level description of where a listing is ("望京SOHO附近"); the
-- street address (houses.address) is shown only to guests with an accepted order.
ALTER TABLE houses ADD COLUMN IF NOT EXISTS neighbourhood VARCHAR(64) NOT NULL DEFAULT '' AFTER address;
