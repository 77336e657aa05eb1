"""Phone numbers are masked wherever people see them: a mobile shows its first 3 and last 4."""

from ingest.reading.phones import mask_phone, mask_phones_in_text


def test_phone_masking():
    assert mask_phone("13512348382") == "135****8382"
    assert mask_phone("+86 135-1234-8382") == "135****8382"
    assert mask_phone("135****8382") == "135****8382"
    assert "88886666" not in mask_phone("0571-88886666")
    assert (
        mask_phones_in_text("用户 13512348382 和 135 1234 8382，订单20190830211644614873")
        == "用户 135****8382 和 135****8382，订单20190830211644614873"
    )
