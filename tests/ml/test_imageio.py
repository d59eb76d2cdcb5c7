import io

import pytest
from PIL import Image

from ml.errors import ImageRejected
from ml.imageio import decode_image, inspect_image
from tests.images import bomb_png, encode, jpeg_bytes, photo_like, png_bytes


def test_it_accepts_png_and_jpeg_and_reports_their_size():
    assert inspect_image(png_bytes((40, 30))).width == 40
    info = inspect_image(jpeg_bytes((40, 30)))
    assert (info.format, info.width, info.height) == ("JPEG", 40, 30)


@pytest.mark.parametrize("data, fragment", [
    (b"", "empty"),
    (b"hello, this is text and not an image", "not a readable image"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "not a readable image"),
])
def test_it_rejects_non_images_with_a_reason(data, fragment):
    with pytest.raises(ImageRejected, match=fragment):
        inspect_image(data)


def test_it_rejects_a_truncated_jpeg():
    data = jpeg_bytes((200, 200))
    with pytest.raises(ImageRejected, match="truncated"):
        inspect_image(data[: len(data) // 2])


def test_it_rejects_a_truncated_png():
    data = png_bytes((200, 200))
    with pytest.raises(ImageRejected):
        inspect_image(data[: len(data) // 2])


def test_it_rejects_a_decompression_bomb_from_its_header():
    with pytest.raises(ImageRejected, match="pixels"):
        inspect_image(bomb_png(50_000, 50_000))


def test_it_applies_the_configured_pixel_limit():
    with pytest.raises(ImageRejected, match="limit"):
        inspect_image(png_bytes((100, 100)), max_pixels=5_000)


def test_it_rejects_formats_outside_the_accepted_list():
    data = encode(photo_like((20, 20)), "ICO")
    with pytest.raises(ImageRejected, match="not accepted"):
        inspect_image(data)


@pytest.mark.parametrize("mode", ["P", "RGBA", "LA", "CMYK", "L", "I;16"])
def test_it_decodes_every_mode_to_rgb(mode):
    im = photo_like((32, 24))
    if mode == "I;16":
        im = im.convert("L").point(lambda v: v * 256, "I").convert("I;16")
        data = encode(im, "PNG")
    elif mode == "CMYK":
        data = encode(im.convert("CMYK"), "JPEG")
    else:
        data = encode(im.convert(mode), "PNG")
    out = decode_image(data)
    assert out.mode == "RGB" and out.size == (32, 24)


def test_sixteen_bit_images_keep_their_brightness():
    grey = Image.new("I;16", (4, 4), 40000)  # about 61% of full scale
    out = decode_image(encode(grey, "PNG"))
    assert 150 <= out.getpixel((0, 0))[0] <= 160


def test_it_turns_exif_rotated_photos_upright():
    im = photo_like((40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    data = encode(im, "JPEG", exif=exif.tobytes())
    assert decode_image(data).size == (20, 40)


def test_animated_gifs_contribute_their_first_frame():
    frames = [photo_like((16, 16), seed=i).convert("P") for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    info = inspect_image(buf.getvalue())
    assert info.frames == 3
    assert decode_image(buf.getvalue()).size == (16, 16)


def test_a_png_colour_key_is_transparent_and_composited_on_white():
    """PNG tRNS on an RGB image: pixels of the key colour are transparent (issue 18, item 16)."""
    import io

    from PIL import Image

    from ml.imageio import decode_image

    im = Image.new("RGB", (8, 8), (0, 255, 0))
    im.putpixel((1, 1), (200, 10, 10))
    buf = io.BytesIO()
    im.save(buf, format="PNG", transparency=(0, 255, 0))
    out = decode_image(buf.getvalue())
    assert out.getpixel((0, 0)) == (255, 255, 255)  # the key colour: transparent, on white
    assert out.getpixel((1, 1)) == (200, 10, 10)


def test_a_float_tiff_in_zero_to_one_keeps_its_tones():
    import io

    import numpy as np
    from PIL import Image

    from ml.imageio import decode_image

    arr = np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(8, 8)
    buf = io.BytesIO()
    Image.fromarray(arr, mode="F").save(buf, format="TIFF")
    out = np.asarray(decode_image(buf.getvalue()))
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
    assert 120 <= out[4, 0, 0] <= 135  # the middle stays mid-grey, not clipped to black
