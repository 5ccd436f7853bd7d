"""The dashboard in a real browser against a real daemon: log in, watch a session
appear, switch it, see its state change, read its transcript.  The attacker's bytes
(markup, script, javascript: links, terminal escapes, invalid UTF-8), also in an IDS
alert and a blacklist reason, are shown as text: no dialog, no injected element, no
request to another origin."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import requested_urls

from honeyswitch.testing.daemon import TOKEN, Daemon, echo_backends, write_config

pytestmark = pytest.mark.slow

PAYLOAD = (b"GET /<script>window.__pwned=1;alert(1)</script> HTTP/1.0\r\n"
           b'X-A: <img src=x onerror="window.__pwned=2;alert(2)">\r\n'
           b'X-B: <img src="http://198.18.32.9/beacon.png"><a href="javascript:alert(3)">click</a>\r\n'
           b"X-C: \x1b[31mRED\x1b[0m\x1b]0;owned\x07 \xff\xfe\xc3\x28 end\r\n\r\n")
EVE_SIGNATURE = '<img src=x onerror="window.__pwned=3"><script>alert(4)</script> \udcff'
BL_REASON = '<script>alert(5)</script><img src="http://198.18.32.10/x">'


def wait(driver: Any, condition, timeout: float = 10.0, what: str = "") -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, what)


def row_state(driver: Any, sid: str) -> str | None:
    """The data-state of the session's row (tables are redrawn: retried while stale)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(20):
        try:
            rows = driver.find_elements(By.CSS_SELECTOR, f'#sessions tr[data-session="{sid}"]')
            return rows[0].get_attribute("data-state") if rows else None
        except StaleElementReferenceException:
            continue
    return None


def click(driver: Any, table: str, row_text: str, label: str) -> None:
    """Press the button ``label`` in the row of ``table`` holding ``row_text``."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def press(d: Any) -> bool:
        try:
            for r in d.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr"):
                if row_text in r.text:
                    r.find_element(By.XPATH, f".//button[text()='{label}']").click()
                    return True
        except StaleElementReferenceException:
            pass
        return False

    wait(driver, press, what=f"{label} in {table}")


def shot(driver: Any, artifacts: Path, name: str) -> None:
    path = artifacts / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000


def assert_not_injected(driver: Any, origin: str) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        pass
    else:
        raise AssertionError(f"a dialog opened: {text!r}")
    assert driver.execute_script("return window.__pwned === undefined")
    found = driver.execute_script("""return {
        scripts: [...document.scripts].map(s => s.src),
        imgs: document.images.length,
        js_links: document.querySelectorAll('a[href^="javascript:" i]').length,
        handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
    }""")
    assert found == {"scripts": [f"{origin}/static/app.js"], "imgs": 0, "js_links": 0, "handlers": 0}, found
    foreign = [u for u in requested_urls(driver) if not u.startswith((origin + "/", "blob:", "data:"))]
    assert not foreign, foreign
    logs = driver.get_log("browser")
    assert not [e for e in logs if "Content Security Policy" in e["message"] or e["level"] == "SEVERE"], logs


def test_dashboard_live_switch_transcript_and_hostile_input(browser, artifacts, tmp_path):
    from selenium.webdriver.common.by import By

    eve = tmp_path / "eve.json"
    eve.write_text("")
    with echo_backends() as (main, honeypot):
        ids = f'\n[[ids]]\nname = "suricata"\nformat = "suricata-eve"\npath = "{eve}"\n'
        cfg, listen, api = write_config(tmp_path, main.port, honeypot.port, token=TOKEN)
        cfg.write_text(cfg.read_text() + ids)
        daemon = Daemon(cfg, api)
        origin = f"http://127.0.0.1:{api}"
        try:
            browser.get(origin + "/")
            wait(browser, lambda d: d.find_element(By.ID, "login").is_displayed(), what="login form")
            shot(browser, artifacts, "01-login")
            browser.find_element(By.ID, "token").send_keys(TOKEN)
            browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
            wait(browser, lambda d: d.find_element(By.ID, "status").text == "live", what="live stream")
            assert "token" not in browser.current_url

            client = socket.create_connection(("127.0.0.1", listen), timeout=5)
            client.sendall(PAYLOAD)
            assert client.recv(65536).startswith(b"M:")
            sid = daemon.api("GET", "/api/v1/sessions")["sessions"][0]["session_id"]
            wait(browser, lambda d: row_state(d, sid) is not None, what="the session appears")
            assert row_state(browser, sid) == "mirror"
            with eve.open("a") as f:  # an IDS alert about this session, its text the attacker's
                f.write(json.dumps({
                    "timestamp": "2026-12-03T10:00:00.000000+0000", "event_type": "alert", "proto": "TCP",
                    "src_ip": "127.0.0.1", "src_port": client.getsockname()[1], "dest_ip": "127.0.0.1",
                    "dest_port": listen, "alert": {"signature_id": 9100001, "signature": EVE_SIGNATURE,
                                                   "category": "<b>Attempted</b>", "severity": 3}}) + "\n")
            wait(browser, lambda d: "onerror" in d.find_element(By.ID, "feed").text, what="the IDS alert")
            shot(browser, artifacts, "02-live-session")

            click(browser, "sessions", sid, "switch")
            wait(browser, lambda d: row_state(d, sid) == "honeypot", what="state honeypot")
            client.sendall(b"after the switch <b>bold</b>\r\n")
            assert client.recv(65536).startswith(b"H:")
            shot(browser, artifacts, "03-switched")

            click(browser, "sessions", sid, "transcript")
            wait(browser, lambda d: d.find_element(By.ID, "transcript").is_displayed(), what="transcript")
            records = browser.find_element(By.ID, "tr-records")
            wait(browser, lambda d: "SWITCH TO HONEYPOT" in records.text, what="the switch mark")
            text = records.text
            assert "<script>window.__pwned=1;alert(1)</script>" in text
            assert "\\x1b[31mRED" in text and "\\xff\\xfe\\xc3(" in text
            assert text.index("<script>window") < text.index("SWITCH TO HONEYPOT") < text.index("after the switch")
            browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.ID, "transcript"))
            shot(browser, artifacts, "04-transcript-text")
            browser.find_element(By.ID, "tr-hex").click()
            wait(browser, lambda d: "3c 73 63 72 69 70 74 3e" in records.text, what="hex view")
            shot(browser, artifacts, "05-transcript-hex")
            browser.find_element(By.ID, "tr-pcap").click()
            pcap = browser.downloads / f"{sid}.pcap"
            wait(browser, lambda d: pcap.exists() and pcap.stat().st_size > 24, what="the pcap download")
            assert pcap.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"

            browser.find_element(By.ID, "bl-ip").send_keys("198.18.32.7")
            browser.find_element(By.ID, "bl-reason").send_keys(BL_REASON)
            browser.find_element(By.CSS_SELECTOR, "#blacklist-add button").click()
            wait(browser, lambda d: "198.18.32.7" in d.find_element(By.ID, "blacklist").text, what="added")
            assert "<script>alert(5)</script>" in browser.find_element(By.ID, "blacklist").text
            browser.execute_script("window.scrollTo(0, 0)")
            shot(browser, artifacts, "06-board")
            click(browser, "blacklist", "198.18.32.7", "remove")
            wait(browser, lambda d: "198.18.32.7" not in d.find_element(By.ID, "blacklist").text, what="removed")
            time.sleep(0.5)  # a last refresh and stream round with everything on the page
            assert_not_injected(browser, origin)
            client.close()
        finally:
            daemon.stop()
