"""The playground's flows, in Debian's Chromium against a real `imagetune serve`."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says so (a failure in CI)
    expect = None

from tests.conftest import ServerFactory
from tests.objectstores import S3_ENV
from tests.playground.conftest import Playground, new_key
from tests.support import ServerProcess, make_image, open_image

pytestmark = pytest.mark.slow

OpenPlayground = Callable[[ServerProcess], Playground]
X = "\N{MULTIPLICATION SIGN}"  # how the page writes sizes: 600 X 400, with this sign
JOB_TIMEOUT_MS = 240_000  # the real engine on a busy 2-core machine


def photo(name: str = "coffee") -> bytes:
    """A real photograph from scikit-image's data, as PNG."""
    import skimage.data

    pixels: np.ndarray[Any, Any] = getattr(skimage.data, name)()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def target_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """The contract: the longer side becomes ``long_side``, the other rounded half up."""
    if width >= height:
        return long_side, (2 * height * long_side + width) // (2 * width)
    return (2 * width * long_side + height) // (2 * height), long_side


def natural_size(tab: Playground, alt: str = "Upscaled result") -> tuple[int, int]:
    size = tab.page.get_by_alt_text(alt, exact=True).evaluate(
        "img => [img.naturalWidth, img.naturalHeight]"
    )
    return size[0], size[1]


def wait_for_result(tab: Playground, summary: str) -> None:
    """Until the result view says ``summary`` (the job is done and its image loaded)."""
    tab.page.locator("#result-summary").filter(has_text=summary).wait_for(timeout=JOB_TIMEOUT_MS)


def upscale(tab: Playground, *, scale: str, model: str, output_format: str = "png") -> None:
    page = tab.page
    page.get_by_label("Scale").select_option(scale)
    page.get_by_label("Model").select_option(model)
    page.get_by_label("Output format").select_option(output_format)
    page.get_by_role("button", name="Upscale").click()


def test_upscale_a_photo_at_2k_and_download_it(
    real_server: ServerProcess, open_playground: OpenPlayground, tmp_path: Path
) -> None:
    key = new_key(real_server)
    tab = open_playground(real_server)
    page = tab.page
    assert "imagetune keys create NAME" in page.locator("#api-key-hint").inner_text()
    model_select = page.get_by_label("Model")
    assert model_select.is_disabled()  # no key, no models yet

    tab.fill_key(key)
    # The models come from GET /public/v1/models, each with its description.
    api_models = httpx.get(
        f"{real_server.base_url}/public/v1/models", headers={"Authorization": f"Bearer {key}"}
    ).json()
    expect(page.get_by_label("Model")).to_be_enabled()
    values = model_select.locator("option").evaluate_all("os => os.map(o => o.value)")
    assert values == [m["name"] for m in api_models]
    default = next(m for m in api_models if m["default"])
    assert model_select.input_value() == default["name"]
    assert page.locator("#model-description").inner_text() == default["description"]
    chosen = page.get_by_label("Model")
    chosen.select_option("anime")
    anime = next(m for m in api_models if m["name"] == "anime")
    assert page.locator("#model-description").inner_text() == anime["description"]

    original = photo("coffee")
    tab.choose_image("coffee.png", original)
    info = page.locator("#image-info")
    info.filter(has_text=f"600{X}400 px").wait_for()
    assert info.inner_text() == f"coffee.png: {len(original) / 1024:.1f} KB, 600{X}400 px"

    upscale(tab, scale="2K", model="photo")
    progress = page.get_by_role("progressbar")
    progress.wait_for()
    width, height = target_size(600, 400, 2048)
    wait_for_result(tab, f"600{X}400 → {width}{X}{height}")
    assert natural_size(tab) == (width, height)
    assert progress.evaluate("p => p.value") == 100
    assert tab.status.inner_text().startswith(f"Job 1 done: 600{X}400 → {width}{X}{height} in ")
    summary = page.locator("#result-summary").inner_text()
    assert re.search(r"· photo · 2K · PNG · took \d+\.\d s \(\d+\.\d s upscaling\)$", summary)
    # The original is shown over the same view, scaled to the result's size.
    before = page.get_by_alt_text("Original, scaled to the result's size")
    assert before.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [600, 400]
    assert before.bounding_box() == page.get_by_alt_text("Upscaled result").bounding_box()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename == "coffee-2K-photo.png"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    result = open_image(saved.read_bytes())
    assert (result.format, result.size) == ("PNG", (width, height))

    tab.screenshots("photo-2k-finished", focus=page.locator("#result"))

    # 1:1 zoom: one result pixel per screen pixel, in a view that scrolls.
    page.get_by_label("Zoom").select_option(label="1:1 pixels")
    box = page.get_by_alt_text("Upscaled result").bounding_box()
    assert box is not None
    assert round(box["width"]) == width
    viewer = page.get_by_role("region", name="Comparison view")
    assert viewer.evaluate("v => v.scrollWidth > v.clientWidth")
    tab.screenshots("photo-2k-zoom-1to1", focus=viewer)
    page.get_by_label("Zoom").select_option(label="Fit to window")

    # The key lives in this tab's sessionStorage: never in the URL or a cookie.
    assert page.evaluate("sessionStorage.getItem('imagetune.apiKey')") == key
    assert page.evaluate("document.cookie") == ""
    assert key not in page.url
    page.reload()
    assert page.get_by_label("API key").input_value() == key
    tab.screenshots("photo-2k-reloaded")


def test_models_compared_on_the_same_image(
    real_server: ServerProcess, open_playground: OpenPlayground
) -> None:
    tab = open_playground(real_server)
    page = tab.page
    tab.fill_key(new_key(real_server))
    expect(page.get_by_label("Model")).to_be_enabled()
    tab.choose_image("chelsea.png", photo("chelsea"))
    page.locator("#image-info").filter(has_text=f"451{X}300 px").wait_for()
    width, height = target_size(451, 300, 1024)

    upscale(tab, scale="1K", model="classic")
    wait_for_result(tab, f"→ {width}{X}{height} · classic ·")
    first_url = page.get_by_alt_text("Upscaled result").get_attribute("src")
    upscale(tab, scale="1K", model="photo")
    wait_for_result(tab, f"→ {width}{X}{height} · photo ·")
    second_url = page.get_by_alt_text("Upscaled result").get_attribute("src")
    assert first_url != second_url

    jobs = page.get_by_role("list").filter(has=page.locator(".job")).get_by_role("button")
    assert jobs.count() == 2
    assert jobs.nth(0).inner_text().startswith("Job 2: photo, 1K, PNG")
    assert jobs.nth(1).inner_text().startswith("Job 1: classic, 1K, PNG")
    for n in range(2):
        jobs.nth(n).locator("img.thumb").evaluate("img => img.decode()")
        assert jobs.nth(n).locator("img.thumb").evaluate("i => i.naturalWidth") == width

    jobs.nth(1).click()  # back to the classic result
    wait_for_result(tab, f"→ {width}{X}{height} · classic ·")
    assert jobs.nth(1).get_attribute("aria-current") == "true"
    shown = page.get_by_alt_text("Upscaled result").get_attribute("src")
    assert shown is not None
    assert first_url is not None
    assert shown.split("?")[0] == first_url.split("?")[0]
    assert natural_size(tab) == (width, height)
    tab.screenshots("compare-models", focus=page.locator("#jobs"))


def test_a_bad_key_is_explained(
    real_server: ServerProcess, open_playground: OpenPlayground
) -> None:
    tab = open_playground(real_server)
    tab.expect_http_error(401)
    tab.fill_key("not-a-real-key")
    tab.alert.filter(has_text="Could not load the models: Invalid API key.").wait_for()
    tab.choose_image("small.png", make_image((64, 48)))
    tab.page.get_by_role("button", name="Upscale").click()
    tab.alert.filter(has_text=re.compile(r"^Invalid API key\. Check the key")).wait_for()
    assert tab.page.get_by_label("Model").is_disabled()
    tab.screenshots("bad-key", focus=tab.alert)
    # A good key loads the models and clears the complaint.
    tab.fill_key(new_key(real_server))
    expect(tab.page.get_by_label("Model")).to_be_enabled()
    expect(tab.alert).to_be_hidden()


def test_a_text_file_and_a_stale_form_are_refused_in_words(
    real_server: ServerProcess, open_playground: OpenPlayground
) -> None:
    tab = open_playground(real_server)
    tab.expect_http_error(400)
    tab.expect_http_error(422)
    page = tab.page
    tab.fill_key(new_key(real_server))
    expect(page.get_by_label("Model")).to_be_enabled()
    tab.choose_image("notes.txt", b"Shopping list: milk, eggs.\n", mime="text/plain")
    page.locator("#image-info").filter(has_text="this browser cannot show it").wait_for()
    page.get_by_role("button", name="Upscale").click()
    tab.alert.filter(has_text=re.compile(r"^Invalid image file: .+")).wait_for()
    tab.screenshots("text-file", focus=tab.alert)

    # A page older than the server: a scale it no longer knows gets the 422's own words.
    tab.choose_image("small.png", make_image((64, 48)))
    page.locator("#image-info").filter(has_text=f"64{X}48 px").wait_for()
    page.get_by_label("Scale").evaluate("s => { s.options[0].value = '8K'; s.value = '8K'; }")
    page.get_by_role("button", name="Upscale").click()
    tab.alert.filter(has_text=re.compile(r"^The server refused the request: scale: ")).wait_for()
    assert "'1K', '2K' or '4K'" in tab.alert.inner_text()
    assert page.get_by_role("list").locator(".job").count() == 0


def test_limits_too_large_and_429_with_its_countdown_on_an_api_only_node(
    server_factory: ServerFactory, open_playground: OpenPlayground
) -> None:
    # An API node without workers serves the page too; the job stays queued, which is fine.
    server = server_factory(
        args=("--no-workers",),
        IMAGETUNE_RATE_LIMIT_PER_MINUTE="2",
        IMAGETUNE_MAX_UPLOAD_BYTES="20000",
    )
    tab = open_playground(server)
    tab.expect_http_error(413)
    tab.expect_http_error(429)
    page = tab.page
    tab.fill_key(new_key(server))
    expect(page.get_by_label("Model")).to_be_enabled()
    button = page.get_by_role("button", name="Upscale")

    tab.choose_image("big.png", make_image((200, 150)))  # about 90 KB
    page.locator("#image-info").filter(has_text=f"200{X}150 px").wait_for()
    button.click()
    tab.alert.filter(
        has_text="Upload too large: the limit is 20000 bytes. Choose a smaller file."
    ).wait_for()

    tab.choose_image("small.png", make_image((64, 48)))
    page.locator("#image-info").filter(has_text=f"64{X}48 px").wait_for()
    button.click()  # the second submission this minute: accepted
    tab.status.filter(has_text="Job 1").wait_for()
    button.click()  # the third: 429, Retry-After 30 s
    countdown = re.compile(
        r"^Rate limit exceeded: 2 submissions per minute\. Try again in (\d+) s\.$"
    )
    tab.alert.filter(has_text=countdown).wait_for()
    first = int(countdown.match(tab.alert.inner_text()).group(1))  # type: ignore[union-attr]
    assert 25 <= first <= 30
    assert button.is_disabled()
    later = "|".join(str(n) for n in range(first))  # any number below the first
    expect(tab.alert).to_have_text(re.compile(rf"Try again in ({later}) s\.$"))
    tab.screenshots("rate-limited", focus=tab.alert)


def test_results_from_s3_show_under_the_csp(
    server_factory: ServerFactory,
    open_playground: OpenPlayground,
    s3_bucket: tuple[Any, str],
) -> None:
    s3, bucket = s3_bucket
    endpoint = s3.meta.endpoint_url
    server = server_factory(
        IMAGETUNE_WORKERS="1",
        IMAGETUNE_STORAGE_URL=f"s3://{bucket}/playground",
        IMAGETUNE_S3_ENDPOINT_URL=endpoint,
        **S3_ENV,
    )
    csp = httpx.get(f"{server.base_url}/").headers["content-security-policy"]
    assert f"img-src 'self' blob: {endpoint}" in csp
    tab = open_playground(server)
    page = tab.page
    tab.fill_key(new_key(server))
    expect(page.get_by_label("Model")).to_be_enabled()
    tab.choose_image("small.png", make_image((160, 120)))
    upscale(tab, scale="1K", model="classic")
    wait_for_result(tab, f"160{X}120 → 1024{X}768")
    assert natural_size(tab) == (1024, 768)
    src = page.get_by_alt_text("Upscaled result").get_attribute("src")
    assert src is not None
    assert src.startswith(f"{endpoint}/{bucket}/playground/results/")
    assert "X-Amz-Signature=" in src
    thumb = page.locator(".job img.thumb")
    assert thumb.evaluate("img => img.decode().then(() => img.naturalWidth)") == 1024
    tab.screenshots("s3-storage")


def test_the_whole_flow_with_the_keyboard_alone(
    real_server: ServerProcess, open_playground: OpenPlayground, tmp_path: Path
) -> None:
    tab = open_playground(real_server)
    page = tab.page
    key = new_key(real_server)

    def tab_to(name: str, limit: int = 12) -> None:
        """Press Tab until the focused element's label (or text) starts with ``name``."""
        for _ in range(limit):
            page.keyboard.press("Tab")
            if focused_name().startswith(name):
                return
        raise AssertionError(f"Tab never reached {name!r} (last: {focused_name()!r})")

    def focused_name() -> str:
        name: str = page.evaluate(
            """() => {
              const e = document.activeElement;
              if (!e) return "";
              const label = e.labels && e.labels[0];
              return (label ? label.textContent : e.getAttribute("aria-label")
                      || e.textContent).trim();
            }"""
        )
        return name

    # Intercepting file choosers is switched on asynchronously: do it well before the press.
    page.on("filechooser", lambda chooser: None)
    tab_to("API key")
    page.keyboard.type(key)
    expect(page.get_by_label("Model")).to_be_enabled()
    tab_to("Image")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(
        {"name": "small.png", "mimeType": "image/png", "buffer": make_image((120, 90))}
    )
    page.locator("#image-info").filter(has_text=f"120{X}90 px").wait_for()
    tab_to("Scale")
    page.keyboard.type("1")  # type-ahead: "1K (1024 px)"
    assert page.get_by_label("Scale").input_value() == "1K"
    tab_to("Model")
    page.keyboard.type("classic")
    assert page.get_by_label("Model").input_value() == "classic"
    tab_to("Upscale")
    page.keyboard.press("Enter")
    wait_for_result(tab, f"120{X}90 → 1024{X}768 · classic · 1K")

    tab_to("Zoom")
    page.keyboard.type("1")  # "1:1 pixels"
    assert page.get_by_label("Zoom").input_value() == "1"
    tab_to("Download")
    with page.expect_download() as download_info:
        page.keyboard.press("Enter")
    assert download_info.value.suggested_filename == "small-1K-classic.png"
    tab_to("Before and after")
    slider = page.get_by_role("slider", name="Before and after")
    page.keyboard.down("ArrowLeft")  # the divider glides while the key is held
    expect(slider).not_to_have_attribute("aria-valuenow", "50")
    page.keyboard.up("ArrowLeft")
    assert int(slider.get_attribute("aria-valuenow") or 50) < 50
    tab_to("Job 1: classic, 1K, PNG")
    tab.screenshots("keyboard-only", focus=page.locator(":focus"))


def test_the_watch_sees_csp_violations(
    real_server: ServerProcess, open_playground: OpenPlayground
) -> None:
    """The "no CSP violations" check of every test can fail: inline code is refused."""
    tab = open_playground(real_server)
    tab.page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.injected = true";
          document.body.append(script);
        }"""
    )
    deadline = time.monotonic() + 10
    while not any("CSP violation: script-src" in p for p in tab.problems):
        assert time.monotonic() < deadline, tab.problems
        tab.page.wait_for_timeout(50)
    assert tab.page.evaluate("() => window.injected") is None
    tab.problems.clear()


def test_an_image_can_be_dropped_or_pasted(
    real_server: ServerProcess, open_playground: OpenPlayground
) -> None:
    tab = open_playground(real_server)
    page = tab.page
    make_file = """([name, bytes]) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], name, { type: "image/png" }));
      return transfer;
    }"""
    drop = make_image((80, 60))
    dropped = page.evaluate_handle(make_file, ["dropped.png", list(drop)])
    page.locator("#drop-zone").dispatch_event("drop", {"dataTransfer": dropped})
    expected = f"dropped.png: {len(drop) / 1024:.1f} KB, 80{X}60 px"
    page.locator("#image-info").filter(has_text=expected).wait_for()
    image_input = page.get_by_label("Image")
    assert image_input.evaluate("input => input.files[0].name") == "dropped.png"

    paste = make_image((90, 70))
    pasted = page.evaluate_handle(make_file, ["pasted.png", list(paste)])
    page.evaluate(
        "transfer => document.dispatchEvent("
        "new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true }))",
        pasted,
    )
    expected = f"pasted.png: {len(paste) / 1024:.1f} KB, 90{X}70 px"
    page.locator("#image-info").filter(has_text=expected).wait_for()
    assert image_input.evaluate("input => input.files[0].name") == "pasted.png"


def test_a_heic_original_is_shown_from_a_server_preview(
    real_server: ServerProcess, open_playground: OpenPlayground
) -> None:
    # Chromium cannot decode HEIC: the left side of the slider is the server's preview.
    from tests.api.test_hostile import heic

    tab = open_playground(real_server)
    tab.fill_key(new_key(real_server))
    tab.choose_image("IMG_0001.HEIC", heic("rotated"))
    page = tab.page
    page.locator("#image-info").filter(
        has_text=f"48{X}64 px (shown from a server preview)"
    ).wait_for()
    upscale(tab, scale="1K", model="classic")
    wait_for_result(tab, f"48{X}64 → 768{X}1024")
    before = page.locator("#before")
    assert before.evaluate("img => img.src").startswith("blob:")
    expect(before).to_have_js_property("complete", True)
    assert before.evaluate("img => img.naturalWidth") == 48  # the preview, not enlarged
