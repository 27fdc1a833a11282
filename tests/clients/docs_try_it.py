"""/docs as a person uses it, in headless Chromium (Debian's /usr/bin/chromium driven by
Playwright; no browser is downloaded): paste the token into Authorize, then for create
product, put table and create upload click "Try it out" and "Execute" with the prefilled
examples on a fresh server, in that order, and expect a 2xx each time. Also checks that
/docs is compressed, cacheable and links to /openapi.json, and that /redoc renders.
Needs DAAP_URL and DAAP_TOKEN; prints `N passed, M failed`.
"""

import os
import sys
import urllib.request

from playwright.sync_api import sync_playwright

base, token = os.environ["DAAP_URL"], os.environ["DAAP_TOKEN"]
chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
passed, failed = 0, 0


def report(ok, title, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {title}")
    else:
        failed += 1
        print(f"FAIL {title} {detail}")


req = urllib.request.Request(base + "/docs", headers={"Accept-Encoding": "gzip"})
with urllib.request.urlopen(req) as resp:
    etag, encoding, size = resp.headers.get("ETag"), resp.headers.get("Content-Encoding"), len(resp.read())
report(encoding == "gzip" and bool(etag) and size < 1_000_000, "/docs is gzip-compressed with an ETag",
       f"(encoding {encoding}, ETag {etag}, {size} bytes)")
req = urllib.request.Request(base + "/docs", headers={"If-None-Match": etag or ""})
try:
    urllib.request.urlopen(req)
    report(False, "/docs answers 304 to its own ETag")
except urllib.error.HTTPError as e:
    report(e.code == 304, "/docs answers 304 to its own ETag", f"(got {e.code})")

OPERATIONS = [
    ("DataProducts", "createDataProduct", "201"),
    ("Schemas", "putSchema", "201"),
    ("Uploads", "createUpload", "201"),
]

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page()
    page.goto(base + "/docs")
    page.wait_for_selector(".swagger-ui .information-container", timeout=30_000)
    report(page.locator('a[href="/openapi.json"]').count() > 0, "/docs links to /openapi.json")
    page.click("button.authorize")
    page.fill(".auth-container input", token)
    page.click(".auth-btn-wrapper button.authorize")
    page.click(".auth-btn-wrapper button.btn-done")
    for tag, operation, expected in OPERATIONS:
        block = page.locator(f"#operations-{tag}-{operation}")
        try:
            block.locator(".opblock-summary").first.click()
            block.locator("button.try-out__btn").click()
            block.locator("button.execute").click()
            status = block.locator(".live-responses-table .response .response-col_status").first
            status.wait_for(timeout=30_000)
            got = status.inner_text().strip()
            body = block.locator(".live-responses-table .response-col_description pre").first.inner_text()
            report(got == expected, f"Try it out -> Execute: {operation} answers {expected}", f"(got {got}: {body[:400]})")
        except Exception as e:  # noqa: BLE001
            report(False, f"Try it out -> Execute: {operation}", f"{type(e).__name__}: {e}")
    page.goto(base + "/redoc")
    try:
        page.wait_for_selector("#redoc-container h1", timeout=30_000)
        report(True, "/redoc renders the document")
    except Exception as e:  # noqa: BLE001
        report(False, "/redoc renders the document", str(e))
    browser.close()

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
