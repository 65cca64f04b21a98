"""Screenshots of the escalation form: request limits, checking, cleaning, keeping, saving.

Too-large photos must never cost what the person typed. Werkzeug refuses a request over
``max_content_length`` before parsing anything, so the typed text would be gone. The two
upload endpoints therefore accept a request up to :func:`read_limit` (several times what
could be stored) and :class:`FormRequest` streams each file part into a :class:`CappedSpool`
that keeps at most the per-file limit plus one byte and counts the rest: text fields are
parsed as usual (bounded by ``MAX_FORM_MEMORY_SIZE``), an oversize photo becomes a field
error, and memory and disk stay bounded. Only beyond the read limit is the request refused
(413) unread. Screenshots accepted while another field is wrong are kept as *pending*
files (upload folder ``pending/``, owner-only) named in a signed token that the form carries
in a hidden field, so nobody has to choose them again; abandoned ones go after a day.

Every image is decoded and re-encoded with Pillow, upright (EXIF orientation applied):
EXIF (GPS!), XMP, comments and any bytes appended after the image are dropped; PNG, GIF and
WebP keep their exact pixels (WebP lossless), JPEG is re-encoded at high quality. Multi-picture
JPEGs (MPO: Samsung, iPhone HDR) are stored as plain JPEG, their first picture.
"""

from __future__ import annotations

import io
import secrets
import tempfile
from urllib.parse import quote
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flask import Request, Response, abort, current_app, request, send_file
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.datastructures import FileStorage

from ..fsutil import private_dir, write_private
from ..support.privacy import PENDING_DIR, PENDING_MAX_AGE, sweep_pending
from ..support.storage import NewAttachment
from .errors import Coded

MB = 1024 * 1024
UPLOAD_ENDPOINTS = {"escalate.contact", "api.escalations", "status.message"}  # status: the requester's messages
READ_FACTOR = 4  # a request up to 4x what can be stored is read (and the excess discarded)
FEEDBACK_LIMIT = 64 * 1024  # a vote and a 2000-character comment, with room to spare
# An escalation without files (JSON, or a form without screenshots): 5000 characters of description
# and the short fields fit several times over, even with every character \u-escaped.
TEXT_LIMIT = 64 * 1024
MAX_FRAMES = 50  # an animation (GIF, WebP, APNG) with more frames is refused, see clean_image
KEEP_INFO = ("icc_profile", "transparency", "duration", "loop", "background", "dpi")
FORMATS = {  # decoded format -> (stored format, content type, extension)
    "PNG": ("PNG", "image/png", ".png"), "JPEG": ("JPEG", "image/jpeg", ".jpg"),
    "GIF": ("GIF", "image/gif", ".gif"), "WEBP": ("WEBP", "image/webp", ".webp"),
    "MPO": ("JPEG", "image/jpeg", ".jpg"),  # phone photos with a second picture: the first one is kept
}


def _settings() -> Any:
    return current_app.extensions["hc_settings"]


def file_limit() -> int:
    return int(_settings().max_upload_mb * MB)


def read_limit() -> int:
    """The largest request the upload endpoints read (files beyond their limit are discarded)."""
    s = _settings()
    return int(READ_FACTOR * s.max_upload_mb * s.max_uploads * MB + MB)


class CappedSpool(io.RawIOBase):
    """Write side of one uploaded file: keeps ``keep`` bytes, counts (and drops) the rest."""

    def __init__(self, keep: int) -> None:
        super().__init__()
        self.keep = keep
        self.size = 0
        self._file = tempfile.SpooledTemporaryFile(max_size=512 * 1024)

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        room = self.keep - self._file.tell()
        if room > 0:
            self._file.write(bytes(data[:room]))
        self.size += len(data)
        return len(data)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._file.seek(pos, whence)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, n: int = -1) -> bytes:
        return self._file.read(n)

    def readinto(self, b: Any) -> int:
        data = self._file.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


# JSON and XML read whole: a vote, an assistant turn, a WeChat or LINE webhook (64 KB is plenty).
SMALL_BODY_ENDPOINTS = ("api.feedback", "assist.assist", "channels.wechat", "channels.line", "widget.assist_api",
                        "widget.escalations_api")


class FormRequest(Request):
    """Request limits per endpoint (see the module doc) and capped file spools."""

    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        if self._max_content_length is not None:  # set for this request by a view
            return self._max_content_length
        if current_app and self.endpoint in UPLOAD_ENDPOINTS:
            # Only multipart bodies carry files (streamed, capped per part); JSON is read and parsed
            # whole by get_json(), so it keeps a small limit (a 61 MB nested JSON costs over 1 GB).
            return read_limit() if self.mimetype == "multipart/form-data" else TEXT_LIMIT
        if current_app and self.endpoint in SMALL_BODY_ENDPOINTS:
            return FEEDBACK_LIMIT
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> Any:
        return CappedSpool(file_limit() + 1)


def too_large_message() -> str:
    """What is too large for the endpoint that refused the request (413)."""
    s = _settings()
    if request.endpoint in UPLOAD_ENDPOINTS and request.mimetype != "multipart/form-data":
        return _("请求的内容太大了：不带截图的请求（如 JSON）不能超过 %(kb)s KB"
                 "（问题描述最多 5000 字）。截图请用 multipart/form-data 上传。", kb=TEXT_LIMIT // 1024)
    if request.endpoint in UPLOAD_ENDPOINTS:
        return _("上传的内容太大了（整个请求超过 %(total)s MB）：每张截图不能超过 %(mb)s MB，"
                 "最多 %(count)s 张。请压缩或少选几张后重试。",
                 total=read_limit() // MB, mb=s.max_upload_mb, count=s.max_uploads)
    if request.endpoint == "api.feedback":
        return _("反馈内容太长了：请求不能超过 %(kb)s KB（评论最多 2000 字）。", kb=FEEDBACK_LIMIT // 1024)
    limit = request.max_content_length
    return _("请求的内容太大了（不能超过 %(mb)s MB）。", mb=limit // MB) if limit else _("请求的内容太大了。")


@dataclass
class Upload:
    """A checked, re-encoded screenshot; ``pending`` names its held copy, if any."""
    data: bytes
    original_name: str
    content_type: str
    ext: str
    pending: str | None = None


def _human(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB / 10 else f"{max(1, n // 1024)} KB"


def _check_animation(frames: int, width: int, height: int) -> None:
    """Refuse an animation that would tie up a worker for many seconds.

    Every frame of an animation is decoded and re-encoded (``save_all``), so the work grows with
    frames × pixels: a 9 KB GIF of 60 frames of 3000×3000 took 21 s of CPU and 200 MB. It is
    refused (with the reason) rather than cut to its first frame: a screen recording sent as a
    GIF shows the steps that went wrong, and cutting it silently would lose that unsaid. All its
    frames together get the budget of one still image (Pillow's MAX_IMAGE_PIXELS), and the
    number of frames is bounded too, since each frame costs its own pass even when small.
    """
    if frames > MAX_FRAMES:
        raise ValueError(Coded("animation_too_large", _("动图帧数太多（%(frames)s 帧，最多 %(max)s 帧），"
                                                        "请截取其中一张静态图后重试", frames=frames, max=MAX_FRAMES)))
    if frames * width * height > Image.MAX_IMAGE_PIXELS:
        raise ValueError(Coded("animation_too_large", _("动图太大了（%(frames)s 帧，每帧 %(width)s×%(height)s 像素），"
                                                        "请缩小尺寸、减少帧数或截取一张静态图后重试",
                                                        frames=frames, width=width, height=height)))


def clean_image(data: bytes) -> tuple[bytes, str, str]:
    """Decode and re-encode: metadata and trailing bytes go, pixels stay (upright).
    Returns (bytes, content type, extension); raises ValueError with the person's message
    (a :class:`Coded` one when the problem has its own code)."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format or ""
            probe.verify()
        if fmt not in FORMATS:
            raise ValueError(_("不支持的图片格式 %(format)s（支持 PNG、JPEG、GIF、WebP）", format=fmt))
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > Image.MAX_IMAGE_PIXELS:
            raise ValueError(_("图片像素太多了，请缩小后重试"))
        # MPO (phone photos with a depth map or HDR parts): the first picture, as a plain JPEG.
        frames = 1 if fmt == "MPO" else getattr(img, "n_frames", 1)
        _check_animation(frames, img.width, img.height)
        img.load()
        if frames == 1:
            img = ImageOps.exif_transpose(img) or img
        out_fmt, ctype, ext = FORMATS[fmt]
        info = {k: v for k, v in img.info.items() if k in KEEP_INFO}
        img.info = dict(info)
        options: dict[str, Any] = dict(info)
        if out_fmt == "JPEG":
            options.update(quality=95, subsampling=0 if img.mode in ("RGB", "YCbCr") else -1)
        elif out_fmt == "WEBP":
            options.update(lossless=True, quality=100)
        if frames > 1 and out_fmt in ("GIF", "WEBP", "PNG"):
            options["save_all"] = True
        buf = io.BytesIO()
        img.save(buf, out_fmt, exif=b"", **options)
        return buf.getvalue(), ctype, ext
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError, EOFError) as exc:
        raise ValueError(_("不是有效的图片（支持 PNG、JPEG、GIF、WebP）")) from exc


def check_uploads(files: list[FileStorage], kept: list[Upload] | None = None) -> tuple[list[Upload], list[str]]:
    """New files (verified by decoding, each within the limit) after those already ``kept``;
    every good one is returned even when another is refused, so it can be kept."""
    s = _settings()
    limit = file_limit()
    out = list(kept or [])
    errors: list[str] = []
    for f in [f for f in files if f and f.filename]:
        name = Path(f.filename or "screenshot").name[:255]
        if len(out) >= s.max_uploads:
            errors.append(Coded("too_many_files", _("最多上传 %(count)s 张截图，%(name)s 没有附上",
                                                    count=s.max_uploads, name=name)))
            continue
        data = f.stream.read(limit + 1)
        size = getattr(f.stream, "size", len(data))
        if len(data) > limit:
            errors.append(Coded("file_too_large", _("%(name)s（%(size)s）：超过 %(mb)s MB",
                                                    name=name, size=_human(size), mb=s.max_upload_mb)))
            continue
        try:
            cleaned, ctype, ext = clean_image(data)
        except ValueError as exc:
            errors.append(Coded(getattr(exc.args[0] if exc.args else None, "code", "not_an_image"),
                                _("%(name)s：%(problem)s", name=name, problem=exc)))
            continue
        out.append(Upload(cleaned, name, ctype, ext))
    return out, errors


def save_uploads(uploads: list[Upload]) -> list[NewAttachment]:
    """Random names in a folder the web server never serves; held copies are removed."""
    folder = private_dir(current_app.extensions["hc_upload_dir"])
    saved = []
    for u in uploads:
        stored = secrets.token_hex(16) + u.ext
        write_private(folder / stored, u.data)  # personal data: owner only (0600)
        saved.append(NewAttachment(stored, u.original_name, u.content_type, len(u.data)))
    return saved


def discard_pending(uploads: list[Upload]) -> None:
    folder = current_app.extensions["hc_upload_dir"] / PENDING_DIR
    for u in uploads:
        if u.pending:
            (folder / u.pending).unlink(missing_ok=True)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="helpcenter.pending-uploads")  # type: ignore[arg-type]


def hold(uploads: list[Upload], visit: str) -> str:
    """Keep accepted screenshots while the form is corrected; returns the token for the form.

    The token names the files and the ``visit`` (the session's visit id) that chose them: it is
    refused in any other visit, so a leaked token attaches nothing. Abandoned files are swept
    here, hourly by the retention thread and by ``helpcenter privacy purge``."""
    folder = private_dir(current_app.extensions["hc_upload_dir"] / PENDING_DIR)
    sweep_pending(folder)
    items = []
    for u in uploads:
        if not u.pending:
            u.pending = secrets.token_hex(16) + u.ext
            write_private(folder / u.pending, u.data)
        items.append({k: v for k, v in asdict(u).items() if k != "data"})
    return _serializer().dumps({"visit": visit, "files": items}) if items else ""


def held(token: str, remove: list[str], visit: str) -> tuple[list[Upload], list[str]]:
    """The screenshots named by a token from :func:`hold` in this ``visit``, minus those the person removed."""
    if not token:
        return [], []
    gone = Coded("pending_expired", _("之前附上的截图已失效，请重新选择"))
    try:
        payload = _serializer().loads(token, max_age=PENDING_MAX_AGE)
    except BadSignature:
        return [], [gone]
    if not (isinstance(payload, dict) and visit and payload.get("visit") == visit):
        return [], [gone]  # another visit's token (or one from before tokens named their visit)
    items = payload.get("files") or []
    folder = current_app.extensions["hc_upload_dir"] / PENDING_DIR
    out, errors = [], []
    for item in items[: _settings().max_uploads]:
        u = Upload(b"", **item)
        if not u.pending or Path(u.pending).name != u.pending:
            continue
        if u.pending in remove:
            (folder / u.pending).unlink(missing_ok=True)
            continue
        try:
            u.data = (folder / u.pending).read_bytes()
        except OSError:
            errors.append(Coded("pending_expired", _("%(name)s：之前附上的截图已失效，请重新选择", name=u.original_name)))
            continue
        out.append(u)
    return out, errors


def describe(uploads: list[Upload]) -> list[dict[str, str]]:
    """What the form lists under “已附上”."""
    return [{"name": u.original_name, "size": _human(len(u.data)), "pending": u.pending or ""} for u in uploads]


# A stored screenshot is shown as an image and nothing else: no script, no plugin, no frame.
IMAGE_CSP = "default-src 'none'; img-src 'self'; sandbox"


def send_attachment(attachments: Any, stored_name: str) -> Response:
    """One of ``attachments`` (a request's own rows) by its stored name, for the inbox and the
    requester's page. The path comes from the database row, never from the URL; an unknown name
    or a file purged by retention (or removed by hand) is a 404. Never cached, never sniffed."""
    att = next((a for a in attachments if a.stored_name == stored_name), None)
    if att is None:
        abort(404)
    folder = current_app.extensions["hc_upload_dir"]
    path = folder / att.stored_name
    if path.parent != folder or not path.is_file():
        abort(404)
    resp = send_file(path, mimetype=att.content_type, conditional=False, etag=False, max_age=0)
    disposition = "inline" if att.content_type.startswith("image/") else "attachment"
    resp.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(att.original_name, safe='')}"
    resp.headers["Content-Security-Policy"] = IMAGE_CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp
