import pytest

pytestmark = pytest.mark.django_db

VALID = {"full_name": "John Doe", "phone_number": "+998901234567", "passport_number": "AA1234567",
         "date_of_birth": "1990-05-17", "card_number": "4111 1111 1111 1111"}


def test_create_user_masks_everything(client_api):
    r = client_api.post("/api/v1/users/", VALID)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["phone_number"] == "+998****4567"
    assert body["passport_number"] == "AA*******"
    assert body["date_of_birth"] == "1990-**-**"
    assert body["card_number"] == "4111 **** **** 1111"
    assert body["status"] == "NORMAL"


def test_duplicate_passport_conflicts(client_api):
    assert client_api.post("/api/v1/users/", VALID).status_code == 201
    r = client_api.post("/api/v1/users/", {**VALID, "phone_number": "+998901234568"})
    assert r.status_code == 409 and r.json()["code"] == "duplicate_user"


def test_missing_key_is_401(anon_api):
    r = anon_api.get("/api/v1/users/")
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"


def test_idempotent_replay(client_api):
    r1 = client_api.post("/api/v1/users/", VALID, HTTP_IDEMPOTENCY_KEY="k1")
    r2 = client_api.post("/api/v1/users/", VALID, HTTP_IDEMPOTENCY_KEY="k1")
    assert r1.status_code == r2.status_code == 201
    assert r1.content == r2.content and r2["Idempotent-Replayed"] == "true"
    r3 = client_api.post("/api/v1/users/", {**VALID, "full_name": "X"}, HTTP_IDEMPOTENCY_KEY="k1")
    assert r3.status_code == 422
