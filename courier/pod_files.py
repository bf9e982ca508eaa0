"""Photo and signature proof of delivery: checking uploads by their own bytes, re-encoding them without metadata,
keeping them in a storage backend, and what Delivered requires (POD_REQUIRE).

A photo (JPEG or PNG) is re-encoded as JPEG, turned upright by its EXIF orientation, and stored without any EXIF
(location, camera), ICC or text data. A PNG signature is re-encoded as PNG without metadata. An SVG signature is
parsed safely (defusedxml: no DTDs, no entities), refused if it holds scripts, event handlers, links or foreign
content, and written out again with only drawing elements and attributes.
"""

import hashlib
import io
import os
import tempfile
import warnings
import xml.etree.ElementTree as ET
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from flask import current_app, request
from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.exceptions import RequestEntityTooLarge

from . import proof
from .db import execute, query
from .errors import ApiError, bad_request, not_found
from .vocabulary import FAILURE_REASONS

KINDS = ("photo", "signature")
FORM_FIELDS = ("status", "code", "note", "location", "reason")
STATUSES = ("Delivered", "Failed Attempt")
MAX_PIXELS = 40_000_000  # larger images are refused before they are decoded
MAX_SIDE = 2560  # photos are scaled down to this many pixels on their longer side
SVG_NS = "http://www.w3.org/2000/svg"
SVG_ELEMENTS = {
    "svg",
    "g",
    "path",
    "polyline",
    "polygon",
    "line",
    "rect",
    "circle",
    "ellipse",
    "title",
    "desc",
}
SVG_REFUSED = {"script", "foreignObject", "iframe", "object", "embed", "use", "image", "a", "animate", "set"}
SVG_ATTRIBUTES = {
    "d", "points", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "width", "height", "viewBox",
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin",
    "stroke-opacity", "stroke-miterlimit", "opacity", "transform", "version", "preserveAspectRatio",
}  # fmt: skip


@dataclass
class ProofFile:
    kind: str
    data: bytes
    content_type: str
    ext: str

    @property
    def sha256(self):
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class ProofForm:
    status: str
    code: str | None = None
    note: str | None = None
    location: str | None = None
    reason: str | None = None
    files: dict = field(default_factory=dict)

    def kinds(self):
        return tuple(self.files)


def _refuse(kind, problem, code="invalid_file"):
    return bad_request(f"{kind} {problem}", code, {kind: problem})


def _too_large(limit):
    return ApiError(
        413,
        f"Each file may be at most {limit} bytes (POD_MAX_UPLOAD_BYTES)",
        "file_too_large",
        max_bytes=limit,
    )


def _open_image(kind, data, formats):
    """A raster image whose bytes say it is one of `formats`, fully decoded; anything else is a 400."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            if image.format not in formats:
                raise _refuse(kind, "must be " + " or ".join(formats) + f" (its bytes are {image.format})")
            if image.width * image.height > MAX_PIXELS:
                raise _refuse(kind, f"is too large an image (at most {MAX_PIXELS} pixels)")
            image.load()
        except ApiError:
            raise
        except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise _refuse(kind, "is not a " + " or ".join(formats) + " image") from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise _refuse(kind, "is a damaged or truncated image") from None
    return image


def _photo(data):
    """JPEG: upright, at most MAX_SIDE pixels, no EXIF/ICC/comments."""
    image = ImageOps.exif_transpose(_open_image("photo", data, ("JPEG", "PNG")))
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    elif image.mode != "RGB":
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, optimize=True)
    return ProofFile("photo", out.getvalue(), "image/jpeg", "jpg")


def _png_signature(data):
    image = _open_image("signature", data, ("PNG",))
    image = image.convert("RGBA" if "A" in image.getbands() or image.mode == "P" else "RGB")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return ProofFile("signature", out.getvalue(), "image/png", "png")


def _local(name):
    return name.rsplit("}", 1)[-1]


def sanitise_svg(data):
    """An SVG drawing written out again with only drawing elements and attributes; 400 if it holds scripts."""
    try:
        root = safe_fromstring(data, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError):
        raise _refuse(
            "signature", "is not a well-formed SVG document (DTDs and entities are refused)"
        ) from None
    if root.tag != f"{{{SVG_NS}}}svg":
        raise _refuse("signature", "must be an SVG document (root <svg> in the SVG namespace)")
    for element in root.iter():
        name = _local(element.tag) if isinstance(element.tag, str) else ""
        if name in SVG_REFUSED or not element.tag.startswith(f"{{{SVG_NS}}}"):
            raise _refuse("signature", f"SVG may not contain <{name or element.tag}> (scripts and links are refused)",
                          "unsafe_svg")  # fmt: skip
        for attribute, value in list(element.attrib.items()):
            local = _local(attribute).lower()
            if local.startswith("on") or local == "href" or "javascript:" in value.lower():
                raise _refuse("signature", f"SVG may not contain the attribute {local} (scripts and links are refused)",
                              "unsafe_svg")  # fmt: skip
            if (
                _local(attribute) not in SVG_ATTRIBUTES
                or attribute.startswith("{")
                or "url(" in value.lower()
            ):
                del element.attrib[attribute]  # style, class, data-*, foreign namespaces: dropped
        if name not in SVG_ELEMENTS:
            raise _refuse("signature", f"SVG may not contain <{name}>", "unsafe_svg")
    ET.register_namespace("", SVG_NS)
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return ProofFile("signature", body, "image/svg+xml", "svg")


def _looks_like_svg(data):
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype svg"))


def check_file(kind, data):
    """The file to store for an upload, typed by its own bytes (never by its name or declared type)."""
    if not data:
        raise _refuse(kind, "is empty")
    if kind == "signature" and _looks_like_svg(data):
        return sanitise_svg(data)
    try:
        return _photo(data) if kind == "photo" else _png_signature(data)
    except ApiError:
        raise
    except Exception:  # anything a crafted file makes the decoder or EXIF reader raise
        raise _refuse(kind, "is a damaged or truncated image") from None


def _text(form, name, max_length):
    value = form.get(name)
    if value is None:
        return None
    value = value.strip()
    if len(value) > max_length:
        raise bad_request(f"{name} must be at most {max_length} characters", "invalid_fields",
                          {name: f"must be at most {max_length} characters"})  # fmt: skip
    return value or None


def parse_form(config):
    """The multipart form of POST /delivery/orders/<id>/proof: fields checked, files checked and re-encoded."""
    limit = config["POD_MAX_UPLOAD_BYTES"]
    request.max_content_length = 2 * limit + 256 * 1024  # two files and the text fields
    if request.mimetype != "multipart/form-data":
        raise bad_request("Request body must be multipart/form-data (fields and photo/signature files)",
                          "invalid_body")  # fmt: skip
    try:
        form, files = request.form, request.files
    except RequestEntityTooLarge:
        raise _too_large(limit) from None
    unknown = sorted(set(form) - set(FORM_FIELDS) | set(files) - set(KINDS))
    if unknown:
        raise bad_request("Unknown field: " + ", ".join(unknown), "invalid_fields",
                          dict.fromkeys(unknown, "unknown field"))  # fmt: skip
    status = _text(form, "status", 20) or "Delivered"
    if status not in STATUSES:
        problem = "must be one of: " + ", ".join(STATUSES)
        raise bad_request(f"status {problem}", "invalid_fields", {"status": problem})
    reason = _text(form, "reason", 40)
    if reason is not None and reason not in FAILURE_REASONS:
        problem = "must be one of: " + ", ".join(FAILURE_REASONS)
        raise bad_request(f"reason {problem}", "invalid_fields", {"reason": problem})
    parsed = ProofForm(
        status=status,
        code=_text(form, "code", 64),
        note=_text(form, "note", 1000),
        location=_text(form, "location", 255),
        reason=reason,
    )
    for kind in KINDS:
        upload = files.get(kind)
        if upload is None:
            continue
        with closing(upload):  # large parts are spooled to a temporary file: close it now
            data = upload.stream.read(limit + 1)
        if len(data) > limit:
            raise _too_large(limit)
        if not data and not upload.filename:
            continue  # an empty file input in a browser form
        parsed.files[kind] = check_file(kind, data)
    if status == "Failed Attempt" and "signature" in parsed.files:
        raise _refuse("signature", "is only taken with Delivered (a failed attempt may have a photo)")
    return parsed


def check_delivery_proof(order, code, captured):
    """What proves a Delivered change, as POD_REQUIRE asks: (e.g. "code" or "photo,signature", None), or
    (None, the 422 of a wrong code) to raise once its count is committed. 400 when something required is missing.

    A code that is sent is always checked (wrong: counted, as with the JSON routes).
    """
    require = current_app.config["POD_REQUIRE"]
    has_code = isinstance(code, str) and bool(code.strip())
    if require in KINDS and require not in captured:
        raise bad_request(
            f"A {require} is required to set Delivered",
            "proof_required",
            {require: "required: send it with POST /delivery/orders/{order_id}/proof"},
        )
    if require == "any" and not has_code and not captured:
        raise bad_request(
            "Delivered needs the delivery code, a photo or a signature",
            "proof_required",
            {"code": "required unless a photo or signature is sent"},
        )
    used = []
    if require == "code" or has_code:
        wrong_code = proof.check_code(order, code)  # 400 without a code, 409 locked
        if wrong_code is not None:
            return None, wrong_code
        used.append("code")
    used.extend(kind for kind in KINDS if kind in captured)
    return ",".join(used), None


# --------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------


class LocalStorage:
    """Files under a directory (POD_STORAGE_DIR); each written to a temporary file, then renamed into place."""

    def __init__(self, root):
        self.root = Path(root)

    def put(self, key, data, content_type):
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key):
        return (self.root / key).read_bytes()


class S3Storage:
    """An S3-compatible bucket (AWS, MinIO, ...); boto3 is imported only when this backend is configured."""

    def __init__(self, bucket, prefix="", endpoint_url=None, region=None):
        import boto3  # only deployments that store in S3 load it

        self.bucket, self.prefix = bucket, prefix
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None)

    def put(self, key, data, content_type):
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, ContentType=content_type)

    def get(self, key):
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()


def storage():
    """The app's storage backend, made on first use from POD_STORAGE."""
    app = current_app
    if "pod_storage" not in app.extensions:
        config = app.config
        if config["POD_STORAGE"] == "s3":
            if not config["POD_S3_BUCKET"]:
                raise RuntimeError("POD_STORAGE=s3 needs POD_S3_BUCKET")
            app.extensions["pod_storage"] = S3Storage(
                config["POD_S3_BUCKET"],
                config["POD_S3_PREFIX"],
                config["POD_S3_ENDPOINT_URL"],
                config["POD_S3_REGION"],
            )
        else:
            app.extensions["pod_storage"] = LocalStorage(config["POD_STORAGE_DIR"])
    return app.extensions["pod_storage"]


def store(order_id, event_id, courier_id, files):
    """Keep each file and record it against the event (inside the event's transaction: a failed store rolls
    the status change back). Keys are content-addressed, so a stored file is never overwritten by another."""
    if not files:
        return
    backend = storage()
    for kind, item in files.items():
        key = f"orders/{order_id}/{kind}-{item.sha256}.{item.ext}"
        backend.put(key, item.data, item.content_type)
        execute(
            "INSERT INTO order_proofs (order_id, event_id, kind, content_type, size_bytes, sha256, storage_key,"
            " delivery_person_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (order_id, event_id, kind, item.content_type, len(item.data), item.sha256, key, courier_id),
        )


# --------------------------------------------------------------------------------------------
# Reading the proof
# --------------------------------------------------------------------------------------------


def proof_summary(order_id, base=None):
    """The order's `proof` object: how Delivered was proven, when, and every file captured with its SHA-256."""
    delivered = query(
        "SELECT proof, created_at FROM order_events WHERE order_id = %s AND type = 'status'"
        " AND status = 'Delivered' ORDER BY event_id DESC LIMIT 1",
        (order_id,),
        one=True,
    )
    rows = query(
        "SELECT p.proof_id, p.kind, p.content_type, p.size_bytes, p.sha256, p.created_at, e.status"
        " FROM order_proofs p JOIN order_events e ON e.event_id = p.event_id"
        " WHERE p.order_id = %s ORDER BY p.proof_id",
        (order_id,),
    )
    files = []
    for row in rows:
        item = {
            "proof_id": row["proof_id"],
            "kind": row["kind"],
            "status": row["status"],
            "content_type": row["content_type"],
            "size_bytes": row["size_bytes"],
            "sha256": row["sha256"],
            "captured_at": row["created_at"],
        }
        if base:
            item["url"] = f"{base}?file={row['proof_id']}"
        files.append(item)
    return {
        "delivered": delivered is not None,
        "delivered_at": delivered["created_at"] if delivered else None,
        "proved_by": delivered["proof"].split(",") if delivered and delivered["proof"] else [],
        "files": files,
    }


def _readable_order(order_id, customer_id):
    order = query(
        "SELECT order_id, customer_id, status FROM orders WHERE order_id = %s", (order_id,), one=True
    )
    if order is None or (customer_id is not None and order["customer_id"] != customer_id):
        raise not_found("Order")
    return order


def proof_view(order_id, customer_id=None):
    """GET .../orders/<id>/proof: the order's proof object; a customer's only of their own order (else 404)."""
    order = _readable_order(order_id, customer_id)
    base = f"/{'admin' if customer_id is None else 'customer'}/orders/{order_id}/proof"
    return {"order_id": order_id, "status": order["status"], "proof": proof_summary(order_id, base)}


def proof_file(order_id, file_id, customer_id=None):
    """One stored file of the order's proof: (bytes, content type, file name, sha256)."""
    _readable_order(order_id, customer_id)
    row = query(
        "SELECT proof_id, kind, content_type, sha256, storage_key FROM order_proofs"
        " WHERE proof_id = %s AND order_id = %s",
        (file_id, order_id),
        one=True,
    )
    if row is None:
        raise not_found("Proof file")
    ext = row["storage_key"].rsplit(".", 1)[-1]
    name = f"order-{order_id}-{row['kind']}.{ext}"
    return storage().get(row["storage_key"]), row["content_type"], name, row["sha256"]
