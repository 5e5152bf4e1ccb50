-- depends: 0015_houses_owner_active
-- Listings of accounts disabled before 0015 existed.
UPDATE houses h JOIN users u ON u.id = h.owner_id SET h.owner_active = u.is_active
WHERE h.owner_active <> u.is_active;
