"""ID-card numbers encrypted at rest: the cipher, the stored value, the pages, the data
migration, key rotation, and a wrong key failing loudly (config, start-up, migrate)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, load_settings
from models import profile as profile_model
from services.crypto import DataKeyError, FieldCipher, generate_key, is_encrypted, parse_keys
from tests.utils.client import text
from tests.utils.factories import VALID_ID_CARD, make_user

ROOT = Path(__file__).resolve().parent.parent
MASK = "110***********002X"
OTHER_CARD = "510107198511150075"


# -- the cipher ------------------------------------------------------------------

def test_round_trip_is_randomised_and_bound_to_its_row():
    cipher = FieldCipher(generate_key())
    first = cipher.encrypt(VALID_ID_CARD, "users.id_card:1")
    second = cipher.encrypt(VALID_ID_CARD, "users.id_card:1")
    assert first != second and is_encrypted(first) and VALID_ID_CARD not in first
    assert first.startswith(f"gcm1.{cipher.current_id}.") and len(first) <= 160
    assert cipher.decrypt(first, "users.id_card:1") == VALID_ID_CARD
    # Copied into another user's row, it does not decrypt.
    with pytest.raises(DataKeyError):
        cipher.decrypt(first, "users.id_card:2")


def test_a_wrong_key_or_an_altered_value_fails_loudly():
    value = FieldCipher(generate_key()).encrypt(VALID_ID_CARD, "c")
    with pytest.raises(DataKeyError, match="not in IHOME_DATA_KEY"):
        FieldCipher(generate_key()).decrypt(value, "c")
    cipher = FieldCipher(generate_key())
    good = cipher.encrypt(VALID_ID_CARD, "c")
    body = good.rsplit(".", 1)[1]
    flipped = good[: -len(body)] + ("A" if body[0] != "A" else "B") + body[1:]
    with pytest.raises(DataKeyError, match="does not decrypt"):
        cipher.decrypt(flipped, "c")
    with pytest.raises(DataKeyError):
        cipher.decrypt(VALID_ID_CARD, "c")  # a plain value is not silently accepted here


def test_rotation_encrypts_with_the_first_key_and_decrypts_with_any():
    old, new = generate_key(), generate_key()
    under_old = FieldCipher(old).encrypt(VALID_ID_CARD, "c")
    rotated = FieldCipher(f"{new},{old}")
    assert rotated.decrypt(under_old, "c") == VALID_ID_CARD
    assert not rotated.is_current(under_old)
    assert rotated.is_current(rotated.encrypt(VALID_ID_CARD, "c"))


@pytest.mark.parametrize("raw,message", [("", "no data key"), ("not base64!!", "base64"),
                                         ("c2hvcnQ=", "bytes, not 32")])
def test_malformed_keys_are_refused(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_keys(raw)


# -- configuration -----------------------------------------------------------------

PRODUCTION = {"IHOME_ENV": "production", "IHOME_COOKIE_SECRET": "x" * 40}


def test_production_refuses_to_start_without_a_data_key():
    with pytest.raises(ConfigError, match="IHOME_DATA_KEY"):
        load_settings(PRODUCTION)
    with pytest.raises(ConfigError, match="IHOME_DATA_KEY"):
        load_settings({**PRODUCTION, "IHOME_DATA_KEY": "c2hvcnQ="})
    key = generate_key()
    assert load_settings({**PRODUCTION, "IHOME_DATA_KEY": key}).data_key == key


def test_tests_make_their_own_key():
    settings = load_settings({"IHOME_ENV": "test"})
    assert len(parse_keys(settings.data_key)) == 1
    assert settings.data_key != load_settings({"IHOME_ENV": "test"}).data_key


# -- stored value and pages ------------------------------------------------------------

@pytest.mark.gen_test
async def test_stored_value_is_not_the_number_and_pages_show_the_mask(app, client, login):
    user = await make_user(app, verified=False)
    await login(client, user)
    response = await client.post("/profile/auth", {"real_name": "张三", "id_card": VALID_ID_CARD.lower()})
    assert response.code == 302
    stored = await app.db.scalar("SELECT id_card FROM users WHERE id = %s", user["id"])
    assert stored != VALID_ID_CARD and VALID_ID_CARD not in stored and is_encrypted(stored)
    assert app.cipher.decrypt(stored, profile_model.id_card_context(user["id"])) == VALID_ID_CARD
    page = text(await client.get("/profile/auth"))
    assert MASK in page and VALID_ID_CARD not in page and "张三" in page
    profile = text(await client.get("/profile"))
    assert "已实名认证" in profile and VALID_ID_CARD not in profile
    # Verified means publishing is open (the flag, not the number, is what pages read).
    assert "发布房源前需要先完成实名认证" not in text(await client.get("/houses/new"))


@pytest.mark.gen_test
async def test_a_row_that_does_not_decrypt_is_logged_and_the_page_still_answers(app, client, login, caplog):
    user = await make_user(app, verified=False)
    foreign = FieldCipher(generate_key()).encrypt(VALID_ID_CARD, profile_model.id_card_context(user["id"]))
    await app.db.execute("UPDATE users SET real_name = '张三', id_card = %s WHERE id = %s", foreign, user["id"])
    await login(client, user)
    response = await client.get("/profile/auth")
    assert response.code == 200 and "无法显示" in text(response) and MASK not in text(response)
    assert any("does not decrypt" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
    with pytest.raises(DataKeyError):
        await profile_model.check_data_key(app.db, app.cipher)


# -- the data migration -----------------------------------------------------------------

@pytest.mark.gen_test
async def test_migration_encrypts_plain_rows_once_and_rotates_old_ones(app):
    # Two rows as they were before encryption: plain numbers.
    plain = await make_user(app, verified=False)
    other = await make_user(app, verified=False)
    for user, card in ((plain, VALID_ID_CARD), (other, OTHER_CARD)):
        await app.db.execute("UPDATE users SET real_name = '张三', id_card = %s WHERE id = %s", card, user["id"])
    unverified = await make_user(app, verified=False)
    # Until migrate runs, a plain row is still shown (with a warning in the log).
    assert (await profile_model.verification(app.db, plain["id"], app.cipher)).id_card == VALID_ID_CARD
    assert await profile_model.encrypt_id_cards(app.db, app.cipher, batch=1) == 2
    assert await profile_model.encrypt_id_cards(app.db, app.cipher) == 0  # idempotent
    assert await app.db.scalar("SELECT id_card FROM users WHERE id = %s", unverified["id"]) is None
    for user, card in ((plain, VALID_ID_CARD), (other, OTHER_CARD)):
        found = await profile_model.verification(app.db, user["id"], app.cipher)
        assert found.id_card == card
        assert is_encrypted(await app.db.scalar("SELECT id_card FROM users WHERE id = %s", user["id"]))
    assert await profile_model.check_data_key(app.db, app.cipher) == 1
    # Rotation: a new first key re-encrypts every row; the old key can then go.
    new = generate_key()
    rotated = FieldCipher(f"{new},{app.config.data_key}")
    assert await profile_model.encrypt_id_cards(app.db, rotated) == 2
    only_new = FieldCipher(new)
    assert (await profile_model.verification(app.db, plain["id"], only_new)).id_card == VALID_ID_CARD
    # The wrong key stops the migration instead of guessing.
    with pytest.raises(DataKeyError):
        await profile_model.encrypt_id_cards(app.db, FieldCipher(generate_key()))


@pytest.mark.gen_test
async def test_the_column_was_widened_for_the_ciphertext(app):
    column = await app.db.queryone(
        "SELECT data_type, character_maximum_length AS length FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND table_name = 'users' AND column_name = 'id_card'")
    assert (column["data_type"], column["length"]) == ("varchar", 160)


def _env(settings, key: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IHOME_")}
    env.update(IHOME_ENV="test", IHOME_MYSQL_URL=settings.mysql_url, IHOME_REDIS_URL=settings.redis_url,
               IHOME_DATA_KEY=key, IHOME_MEDIA_DIR=str(settings.media_dir))
    return env


@pytest.mark.gen_test(timeout=120)
async def test_server_and_migrate_refuse_a_wrong_key(app, settings):
    user = await make_user(app, verified=False)
    await profile_model.set_real_name(app.db, user["id"], "张三", VALID_ID_CARD, app.cipher)
    wrong = _env(settings, generate_key())
    started = subprocess.run([sys.executable, "server.py", "--port=1"], cwd=ROOT, env=wrong,
                             capture_output=True, text=True, timeout=60)
    assert started.returncode != 0 and "IHOME_DATA_KEY cannot decrypt" in started.stderr
    migrated = subprocess.run([sys.executable, "manage.py", "migrate"], cwd=ROOT, env=wrong,
                              capture_output=True, text=True, timeout=60)
    assert migrated.returncode == 1 and "IHOME_DATA_KEY cannot decrypt" in migrated.stderr
    # The right key: migrate has nothing to do.
    right = subprocess.run([sys.executable, "manage.py", "migrate"], cwd=ROOT,
                           env=_env(settings, app.config.data_key), capture_output=True, text=True, timeout=60)
    assert right.returncode == 0, right.stderr
    assert "encrypted" not in right.stdout
