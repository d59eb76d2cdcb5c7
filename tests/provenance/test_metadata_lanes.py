"""The metadata lanes on files the tests make: PNG text chunks from AUTOMATIC1111, ComfyUI and
NovelAI, XMP with each DigitalSourceType, EXIF Software and camera fields; and bad input, which
gives a lane error on that image and never an exception."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.images import encode, photo_like
from verification.provenance import read_lanes, sourcetypes

A1111 = ("a lighthouse at dusk, oil painting\nNegative prompt: blurry\n"
         "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 3141592653, Size: 512x512, "
         "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Version: v1.7.0")
COMFY_PROMPT = {"3": {"class_type": "KSampler", "inputs": {"seed": 156680208700286, "steps": 20, "model": ["4", 0]}},
                "4": {"class_type": "CheckpointLoaderSimple",
                      "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}}}


def lane(lanes: list[dict], name: str) -> dict:
    return next(item for item in lanes if item["lane"] == name)


def png_with_text(**chunks: str) -> bytes:
    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    return encode(photo_like((32, 24)), "PNG", pnginfo=info)


def test_an_automatic1111_png_gives_the_generator_model_and_seed():
    found = lane(read_lanes(png_with_text(parameters=A1111), "PNG"), "generator_parameters")
    assert (found["state"], found["claim"], found["strength"]) == ("found", "ai_generated", "supporting")
    assert found["found"]["model"] == "sd_xl_base_1.0" and found["found"]["seed"] == "3141592653"
    assert found["found"]["model_hash"] == "31e35c80fc"
    assert found["found"]["parameters"] == A1111  # verbatim
    assert "sd_xl_base_1.0" in found["summary"]


def test_a_comfyui_png_gives_checkpoint_and_seed_from_its_prompt_graph():
    data = png_with_text(prompt=json.dumps(COMFY_PROMPT), workflow=json.dumps({"nodes": [], "links": []}))
    found = lane(read_lanes(data, "PNG"), "generator_parameters")
    assert found["found"]["generator"] == "ComfyUI"
    assert found["found"]["model"] == "v1-5-pruned-emaonly.safetensors"
    assert found["found"]["seed"] == "156680208700286"
    assert json.loads(found["found"]["comfyui_prompt"]) == COMFY_PROMPT


def test_a_comfyui_png_with_compressed_itxt_chunks_is_read():
    info = PngInfo()
    info.add_itxt("prompt", json.dumps(COMFY_PROMPT), zip=True)
    found = lane(read_lanes(encode(photo_like((16, 16)), "PNG", pnginfo=info), "PNG"), "generator_parameters")
    assert found["found"]["generator"] == "ComfyUI" and found["found"]["seed"] == "156680208700286"


def test_a_novelai_png_gives_its_model_and_seed():
    data = png_with_text(Software="NovelAI", Source="NovelAI Diffusion V3 C1E1E6A2",
                         Comment=json.dumps({"prompt": "a cat", "seed": 42, "steps": 28}))
    found = lane(read_lanes(data, "PNG"), "generator_parameters")
    assert found["found"]["generator"] == "NovelAI"
    assert found["found"]["model"] == "NovelAI Diffusion V3 C1E1E6A2" and found["found"]["seed"] == "42"


def test_a1111_parameters_in_a_jpeg_user_comment_are_found():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + A1111.encode("utf-16-be")
    found = lane(read_lanes(encode(photo_like((16, 16)), "JPEG", exif=exif.tobytes()), "JPEG"), "generator_parameters")
    assert found["found"]["seed"] == "3141592653" and found["claim"] == "ai_generated"


def test_a_plain_png_has_no_generator_parameters():
    found = lane(read_lanes(encode(photo_like((16, 16)), "PNG"), "PNG"), "generator_parameters")
    assert (found["state"], found["claim"], found["strength"]) == ("absent", "", "none")


def _xmp_attribute(value: str) -> bytes:
    return (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
            b'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/'
            + value.encode() + b'"/></rdf:RDF></x:xmpmeta>')


def _xmp_element(value: str) -> str:
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description>'
            f'<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/{value}'
            '</Iptc4xmpExt:DigitalSourceType></rdf:Description></rdf:RDF></x:xmpmeta>')


@pytest.mark.parametrize("code", sorted(sourcetypes.ALL))
def test_each_digital_source_type_in_xmp_is_read_with_its_claim(code):
    expected_claim = ("ai_generated" if code in sourcetypes.GENERATED
                      else "capture" if code in sourcetypes.CAPTURED else "")
    expected_strength = {"ai_generated": "supporting", "capture": "weak", "": "none"}[expected_claim]
    jpeg = encode(photo_like((16, 16)), "JPEG", xmp=_xmp_attribute(code))
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", _xmp_element(code))
    png = encode(photo_like((16, 16)), "PNG", pnginfo=info)
    for data, fmt in ((jpeg, "JPEG"), (png, "PNG")):
        found = lane(read_lanes(data, fmt), "xmp")
        assert found["found"]["digital_source_types"] == [f"http://cv.iptc.org/newscodes/digitalsourcetype/{code}"]
        assert (found["claim"], found["strength"]) == (expected_claim, expected_strength), fmt


def test_xmp_in_webp_is_read():
    data = encode(photo_like((16, 16)), "WEBP", xmp=_xmp_attribute("trainedAlgorithmicMedia"))
    assert lane(read_lanes(data, "WEBP"), "xmp")["claim"] == "ai_generated"


def test_exif_software_naming_a_generator_supports_ai_and_camera_fields_are_weak():
    exif = Image.Exif()
    exif[0x0131] = "Adobe Firefly 3"  # Software
    data = encode(photo_like((16, 16)), "JPEG", exif=exif.tobytes())
    software = lane(read_lanes(data, "JPEG"), "exif_software")
    assert (software["claim"], software["strength"], software["found"]["Software"]) == (
        "ai_generated", "supporting", "Adobe Firefly 3")
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "EOS R5", "Adobe Lightroom 7.0"
    lanes = read_lanes(encode(photo_like((16, 16)), "JPEG", exif=exif.tobytes()), "JPEG")
    camera = lane(lanes, "camera_exif")
    assert (camera["claim"], camera["strength"]) == ("capture", "weak")
    assert camera["found"] == {"Make": "Canon", "Model": "EOS R5"}
    assert lane(lanes, "exif_software")["claim"] == ""  # Lightroom is not a generator


# --- Bad input --------------------------------------------------------------------------------------------

def _jpeg_with_app11(payload: bytes, copies: int = 1) -> bytes:
    data = encode(photo_like((16, 16)), "JPEG")
    segment = b"\xff\xeb" + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment * copies + data[2:]


def _errors(lanes: list[dict]) -> dict[str, str]:
    return {item["lane"]: item["summary"] for item in lanes if item["state"] == "error"}


def test_a_corrupt_manifest_is_a_c2pa_lane_error_and_the_other_lanes_still_read():
    corrupt = (b"JP\x00\x01\x00\x00\x00\x01" + b"\x00\x00\x00\x40jumb" + b"\x00\x00\x00\x18jumdc2pa\x00"
               + b"\xde\xad" * 20)
    lanes = read_lanes(_jpeg_with_app11(corrupt), "JPEG")
    assert set(_errors(lanes)) == {"c2pa"}
    assert lane(lanes, "camera_exif")["state"] == "absent"


def test_a_huge_manifest_is_not_handed_to_the_reader():
    from verification.provenance import c2pa_lane

    payload = b"JP\x00\x01\x00\x00\x00\x01" + b"\x00" * 60000
    result = c2pa_lane.read(_jpeg_with_app11(payload, copies=3), "JPEG", max_manifest_bytes=100_000)
    assert result.state == "error" and "over the" in result.summary and result.error == "manifest too large"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_with_chunk(kind: bytes, body: bytes) -> bytes:
    data = encode(photo_like((8, 8)), "PNG")
    return data[:33] + _png_chunk(kind, body) + data[33:]  # after the signature and IHDR


def test_a_corrupt_compressed_text_chunk_is_a_lane_error_not_a_failure():
    lanes = read_lanes(_png_with_chunk(b"zTXt", b"parameters\x00\x00not zlib at all"), "PNG")
    assert "generator_parameters" in _errors(lanes) and "corrupt" in _errors(lanes)["generator_parameters"]


def test_a_text_chunk_zip_bomb_stops_at_the_limit():
    bomb = zlib.compress(b"A" * (8 * 1024 * 1024), 9)
    lanes = read_lanes(_png_with_chunk(b"zTXt", b"parameters\x00\x00" + bomb), "PNG")
    assert "inflates to more than" in _errors(lanes)["generator_parameters"]


def test_odd_encodings_are_read_without_failing():
    exif = Image.Exif()
    exif[0x0131] = b"Midjourney \xff\xfe\xc3 v6"  # not valid UTF-8
    exif[0x010F] = "Ni\u00f1on \u30ab\u30e1\u30e9"  # non-ASCII maker
    data = encode(photo_like((16, 16)), "JPEG", exif=exif.tobytes())
    lanes = read_lanes(data, "JPEG")
    assert _errors(lanes) == {}
    assert lane(lanes, "exif_software")["claim"] == "ai_generated"
    # tEXt is Latin-1 by the PNG spec; bytes that are not UTF-8 must not break it.
    lanes = read_lanes(_png_with_chunk(b"tEXt", b"parameters\x00caf\xe9\nSteps: 1, Seed: 7, Model: m\xf6del"), "PNG")
    found = lane(lanes, "generator_parameters")["found"]
    assert found["seed"] == "7" and found["model"] == "m\u00f6del"


def test_a_truncated_file_gives_lane_errors_and_never_raises():
    data = encode(photo_like((16, 16)), "PNG")[:20]
    lanes = read_lanes(data, "PNG")
    assert [item["lane"] for item in lanes] == ["c2pa", "xmp", "generator_parameters", "exif_software", "camera_exif"]
    assert {"xmp", "exif_software", "camera_exif"} <= set(_errors(lanes))


def test_xmp_outside_the_app1_segment_pillow_reads_is_still_found():
    packet = _xmp_attribute("compositeWithTrainedAlgorithmicMedia")
    payload = b"vendor-metadata\x00" + packet  # not the standard XMP header: Pillow leaves it aside
    data = encode(photo_like((16, 16)), "JPEG")
    data = data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    found = lane(read_lanes(data, "JPEG"), "xmp")
    assert found["claim"] == "ai_generated"


def test_a1111_parameters_in_a_webp_exif_user_comment_are_found():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + A1111.encode("utf-16-le")  # the other byte order
    data = encode(photo_like((16, 16)), "WEBP", exif=exif.tobytes())
    found = lane(read_lanes(data, "WEBP"), "generator_parameters")
    assert found["found"]["model"] == "sd_xl_base_1.0" and found["found"]["seed"] == "3141592653"
