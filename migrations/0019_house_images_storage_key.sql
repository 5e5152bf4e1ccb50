-- depends: 0006_house_images
-- GET /media/… looks a picture's key up to decide who may see it (handlers/media.py).
ALTER TABLE house_images ADD KEY IF NOT EXISTS ix_hi_storage_key (storage_key);
