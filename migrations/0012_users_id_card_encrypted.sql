-- depends: 0001_users
-- ID-card numbers are stored encrypted (services/crypto.py: "gcm1.<key id>.<base64>", about
-- 80 characters); `manage.py migrate` then encrypts any plain 18-character rows.
ALTER TABLE users MODIFY id_card VARCHAR(160) CHARACTER SET ascii COLLATE ascii_bin NULL;
