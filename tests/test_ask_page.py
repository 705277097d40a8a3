"""The ask page in a real headless chromium against the real API (uvicorn) over a small real index.

A cadre types a question, reads the answer, clicks [1] and sees the quoted sentence marked in its
passage; a document carrying HTML is shown as text; ?q= links from the case library prefill the box.
The box counts characters against the server's limit and says what is wrong before asking; filters
narrow the search; the answer copies as plain text with its sources; 👍 / 👎 / 纠错 reach POST /feedback;
past questions come back after a reload.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import httpx
import pytest

from .conftest import headless_chromium, running_api

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
API_KEY = "k3y-for-ask-page-tests"
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=\"document.title='pwned'\">"

# Lines from the bundled seed texts; the front matter only has to satisfy the corpus schema.
CASE_MD = """---
id: chaoyang-linlijie
title: 北京市朝阳区“党建引领·社区邻里节”
kind: case
region: 北京市朝阳区
source: [{seed: 001_a1796aac37910657.txt, start: 0, end: 10}]
---
# 北京市朝阳区“党建引领·社区邻里节”

- 背景:朝阳区社区人口结构多元,邻里关系疏离,社区认同感不强。
- 党组织发起:由社区党委牵头,联合居委会、业委会、物业公司、社区社会组织,共同策划“邻里节”系列活动。
- 长效机制:将“邻里节”固化为年度品牌活动,并通过“邻里公约”、“楼门议事会”等制度,将临时活动转化为常态化治理机制。
- 成效:社区居民参与率从不足30%提升至70%以上,邻里纠纷下降40%,形成了“有事好商量、有难大家帮”的良好氛围。
"""
POLICY_MD = """---
id: dezhi-gongde-yinhang
title: 在德治建设中弘扬社会正气
kind: policy
region: xx
source: [{seed: 000_bb3bc088e18a3995.txt, start: 0, end: 10}]
---
# (三) 在德治建设中弘扬社会正气

xx省xx县不断健全“一约四会”制度,根据村规民约,成立红白理事会、村民议事会、道德评议会、禁毒禁赌会等“四会”,切实推进移风易俗,推广优良家风家训,营造社会新风尚。
xx多地建设“功德银行”,以户为单位建立账户,明确志愿活动等方面评分细则,村民在银行的积分可兑换油、米、盐等生活物资,有效倡导公众行善积德。
"""
NOTICE_TXT = f"""社区公告栏张贴须知
社区公告栏的张贴内容由居委会统一审核{XSS_SCRIPT}后方可张贴。
公告栏{XSS_IMG}内容须每月更新一次。
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, llm_stub_url):
    from jiceng.ingest.pipeline import ingest_paths
    from jiceng.settings import Settings

    root = tmp_path_factory.mktemp("askpage")
    docs = root / "docs"
    docs.mkdir()
    (docs / "chaoyang.md").write_text(CASE_MD, encoding="utf-8")
    (docs / "gongde.md").write_text(POLICY_MD, encoding="utf-8")
    (docs / "notice.txt").write_text(NOTICE_TXT, encoding="utf-8")
    env = {
        **os.environ,
        "JICENG_DATA_DIR": str(root / "data"),
        "JICENG_ANSWER_MAX_QUESTION_CHARS": "40",
        # The scripted model answers with one sentence from the top passage and one it made up.
        "JICENG_LLM_BASE_URL": llm_stub_url,
        "JICENG_LLM_MODEL": "invented",
        "JICENG_API_KEY": API_KEY,  # to read feedback back (GET /feedback)
    }
    ingest_paths([docs], Settings(data_dir=root / "data"), progress=False)

    with running_api(root, env) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with headless_chromium("--window-size=1100,1300") as driver:
        ARTIFACTS.mkdir(exist_ok=True)
        yield driver


def _wait_for_result(driver, shown: tuple[str, ...] = ("result", "error")):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(lambda d: any(d.find_element(By.ID, i).is_displayed() for i in shown))


def _no_alert(driver) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - raises when no alert is open


def test_ask_click_marker_highlights_the_quote(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/")
    box = browser.find_element(By.ID, "question")
    box.send_keys("朝阳区邻里节让居民参与率提高了多少？")
    browser.find_element(By.ID, "ask-button").click()
    _wait_for_result(browser)

    answer = browser.find_element(By.ID, "answer").text
    assert "70%" in answer, answer
    marker = browser.find_element(By.CSS_SELECTOR, "#answer a.marker")
    assert marker.text == "[1]"
    browser.execute_script("window.scrollTo(0, 0)")
    marker.click()
    cited = browser.find_element(By.ID, "cite-1")
    WebDriverWait(browser, 5).until(  # scrolled into view
        lambda d: 0 <= d.execute_script("return arguments[0].getBoundingClientRect().top", cited)
        < d.execute_script("return window.innerHeight")
    )
    assert "active" in cited.get_attribute("class").split()
    quote = cited.find_element(By.CSS_SELECTOR, ".passage-text mark.quote").text
    api = httpx.post(server + "/ask", json={"question": "朝阳区邻里节让居民参与率提高了多少？"}).json()
    assert quote == api["citations"][0]["quote"].strip()
    assert "70%" in quote
    # The quote sits inside the cited passage's text, not alone.
    assert len(cited.find_element(By.CSS_SELECTOR, ".passage-text").text) >= len(quote)
    assert cited.find_element(By.CSS_SELECTOR, "a.source-link").get_attribute("href").endswith(
        api["citations"][0]["url"]
    )
    assert "毫秒" in browser.find_element(By.ID, "timings").text
    browser.save_screenshot(str(ARTIFACTS / "ask-page-answer.png"))


def test_prefill_from_url_and_html_in_documents_is_text(server, browser):
    from selenium.webdriver.common.by import By

    question = "社区公告栏的张贴内容由谁审核？"
    browser.get(f"{server}/?q={question}")
    assert browser.find_element(By.ID, "question").get_attribute("value") == question
    _wait_for_result(browser)
    time.sleep(0.3)
    _no_alert(browser)
    result = browser.find_element(By.ID, "result")
    assert XSS_SCRIPT in result.text  # shown as text, visibly
    assert not result.find_elements(By.CSS_SELECTOR, "script, img")
    assert browser.title != "pwned"
    browser.save_screenshot(str(ARTIFACTS / "ask-page-escaped.png"))


def test_abstention_and_errors_are_shown_plainly(server, browser):
    from selenium.webdriver.common.by import By

    question = "朝阳区邻里节花了多少经费？"
    api = httpx.post(server + "/ask", json={"question": question}, timeout=60).json()
    browser.get(server + "/")
    browser.find_element(By.ID, "question").send_keys(question)
    browser.find_element(By.ID, "ask-button").click()
    _wait_for_result(browser)
    box = browser.find_element(By.ID, "answer-box")
    assert ("abstained" in box.get_attribute("class").split()) == api["abstained"]
    assert browser.find_element(By.ID, "answer").text == api["answer"]
    if api["abstained"]:
        assert browser.find_element(By.ID, "answer-heading").text == "知识库中没有找到答案"
        browser.save_screenshot(str(ARTIFACTS / "ask-page-abstained.png"))

    # The server's own refusal, shown as it words it: the page's limit is lifted so the request goes out
    # (a question over the limit is normally stopped on the page, see test_counter_and_limit_…).
    too_long = "社区" * 30  # the server runs with a 40-character question limit
    browser.execute_script("window.jicengAsk.limits.max_question_chars = 1000")
    browser.find_element(By.ID, "question").clear()
    browser.find_element(By.ID, "question").send_keys(too_long)
    browser.find_element(By.ID, "ask-button").click()
    _wait_for_result(browser, ("error",))
    error = browser.find_element(By.ID, "error")
    assert error.is_displayed() and not browser.find_element(By.ID, "result").is_displayed()
    expected = httpx.post(server + "/ask", json={"question": too_long}, timeout=60).json()["error"]["message"]
    assert expected in error.text
    browser.save_screenshot(str(ARTIFACTS / "ask-page-error.png"))


def test_llm_mode_shows_checked_answer_and_what_was_dropped(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "mode-option").is_displayed())
    checkbox = browser.find_element(By.ID, "mode-llm")
    assert not checkbox.is_selected()  # the server's default mode is extractive
    checkbox.click()
    browser.find_element(By.ID, "question").send_keys("朝阳区邻里节让居民参与率提高了多少？")
    browser.find_element(By.ID, "ask-button").click()
    _wait_for_result(browser)

    note = browser.find_element(By.ID, "mode-note")
    assert note.is_displayed() and "大模型" in note.text and "已删去 1 句" in note.text
    answer = browser.find_element(By.ID, "answer").text
    assert "全国推广" not in answer and "[1]" in answer
    browser.find_element(By.CSS_SELECTOR, "#answer a.marker").click()
    cited = browser.find_element(By.ID, "cite-1")
    assert "active" in cited.get_attribute("class").split()
    assert cited.find_element(By.CSS_SELECTOR, "mark.quote").text
    browser.save_screenshot(str(ARTIFACTS / "ask-page-llm.png"))


# Records every POST the page sends to /ask (and holds each one back `delay` ms), so a test sees what was asked.
RECORD_ASKS = """
window.__asks = [];
const delay = arguments[0];
const realFetch = window.fetch.bind(window);
window.fetch = async (url, options) => {
  if (String(url).endsWith("ask")) {
    window.__asks.push(JSON.parse(options.body));
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  return realFetch(url, options);
};
"""


def _fresh_page(driver, server: str) -> None:
    """The ask page with no history in this browser and its limits loaded from the server."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(server + "/")
    driver.execute_script("localStorage.clear()")
    driver.get(server + "/")
    WebDriverWait(driver, 10).until(lambda d: "/ 40 字" in d.find_element(By.ID, "counter").text)


def _ask(driver, question: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "question")
    box.clear()
    box.send_keys(question)
    driver.find_element(By.ID, "ask-button").click()
    _wait_for_answer(driver)


def _wait_for_answer(driver) -> None:
    """Until the request the click started is answered (a result from before may be on screen meanwhile)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "ask-button").is_enabled())
    _wait_for_result(driver)


def test_counter_and_limit_message_and_empty_question(server, browser):
    from selenium.webdriver.common.by import By

    _fresh_page(browser, server)
    browser.execute_script(RECORD_ASKS, 0)
    box = browser.find_element(By.ID, "question")
    message = browser.find_element(By.ID, "question-msg")

    browser.find_element(By.ID, "ask-button").click()  # nothing typed
    assert message.is_displayed() and "请先输入问题" in message.text

    box.send_keys("社区" * 30)  # 60 characters; the server's limit is 40
    counter = browser.find_element(By.ID, "counter")
    assert counter.text == "60 / 40 字" and "over" in counter.get_attribute("class").split()
    assert message.is_displayed() and "最多 40 字" in message.text and "60 字" in message.text
    assert len(box.get_attribute("value")) == 60  # not cut off silently
    browser.save_screenshot(str(ARTIFACTS / "ask-page-over-limit.png"))
    browser.find_element(By.ID, "ask-button").click()
    time.sleep(0.3)
    assert browser.execute_script("return window.__asks") == []  # refused on the page, not sent
    assert message.is_displayed() and not browser.find_element(By.ID, "result").is_displayed()

    box.clear()
    box.send_keys("社区" * 10)
    assert counter.text == "20 / 40 字" and "over" not in counter.get_attribute("class").split()
    assert not message.is_displayed()


def test_filters_are_sent_and_the_old_answer_is_dimmed_while_loading(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    _fresh_page(browser, server)
    _ask(browser, "功德银行的积分可以兑换什么？")
    unfiltered = {li.get_attribute("data-doc-id") for li in browser.find_elements(By.CSS_SELECTOR, "#citations li")}
    assert "dezhi-gongde-yinhang" in unfiltered

    browser.find_element(By.CSS_SELECTOR, "#filters summary").click()
    kind = Select(browser.find_element(By.ID, "filter-kind"))
    WebDriverWait(browser, 10).until(lambda d: len(kind.options) > 1)  # values from GET /documents
    offered = {o.get_attribute("value") for o in kind.options}
    assert {"case", "policy"} <= offered
    assert "北京市朝阳区" in {o.get_attribute("value") for o in Select(browser.find_element(By.ID, "filter-region")).options}
    kind.select_by_value("case")
    assert "案例" in browser.find_element(By.ID, "filters-active").text

    before = browser.find_element(By.ID, "answer").text
    browser.execute_script(RECORD_ASKS, 1500)
    browser.find_element(By.ID, "question").clear()
    browser.find_element(By.ID, "question").send_keys("居民参与率提高了多少？")
    browser.find_element(By.ID, "ask-button").click()
    result = browser.find_element(By.ID, "result")
    WebDriverWait(browser, 5).until(lambda d: "loading" in result.get_attribute("class").split())
    # The previous answer, dimmed: it fades over 0.2 s, so read at once after the class is set it is still 1.
    WebDriverWait(browser, 1, poll_frequency=0.05).until(lambda d: float(result.value_of_css_property("opacity")) < 1)
    assert browser.find_element(By.ID, "answer").text == before  # still there until the new one comes
    WebDriverWait(browser, 30).until(lambda d: "loading" not in result.get_attribute("class").split())

    [sent] = browser.execute_script("return window.__asks")
    assert sent["filters"] == {"kind": ["case"]}
    cited = [li.get_attribute("data-doc-id") for li in browser.find_elements(By.CSS_SELECTOR, "#citations li")]
    assert cited and set(cited) == {"chaoyang-linlijie"}, cited  # only the case
    assert "70%" in browser.find_element(By.ID, "answer").text


def test_timings_read_in_chinese(server, browser):
    from selenium.webdriver.common.by import By

    _fresh_page(browser, server)
    _ask(browser, "什么是功德银行？")
    timings = browser.find_element(By.ID, "timings")
    assert timings.find_element(By.ID, "timings-summary").text.startswith("用时")
    timings.find_element(By.TAG_NAME, "summary").click()
    stages = timings.find_element(By.ID, "timings-list").text
    assert "毫秒" in stages and not any(word in stages for word in ("bm25", "dense", "cache", "total")), stages


def test_copy_answer_gives_plain_text_with_its_citations(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _fresh_page(browser, server)
    _ask(browser, "朝阳区邻里节让居民参与率提高了多少？")
    api = httpx.post(server + "/ask", json={"question": "朝阳区邻里节让居民参与率提高了多少？"}).json()
    with contextlib.suppress(Exception):  # let the page write the clipboard where headless chromium allows it
        browser.execute_cdp_cmd(
            "Browser.grantPermissions",
            {"origin": server, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
        )
    copy = browser.find_element(By.ID, "copy-answer")
    copy.click()
    WebDriverWait(browser, 5).until(lambda d: copy.text != "复制答案")
    text = browser.execute_script("return window.jicengAsk.lastCopyText")
    assert "[1]" in text and api["citations"][0]["quote"] in text and "朝阳区邻里节让居民参与率提高了多少" in text
    assert server + api["citations"][0]["url"] in text  # a link that works outside the page
    assert "<" not in text  # plain text, no markup
    clipboard = browser.execute_async_script(
        "const done = arguments[0];"
        "navigator.clipboard.readText().then(done, (e) => done('unavailable: ' + e));"
    )
    if not clipboard.startswith("unavailable"):
        assert clipboard == text
    assert copy.text == "已复制 ✓", (copy.text, clipboard)


def test_thumbs_down_with_a_note_reaches_the_feedback_list(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    question = "功德银行的积分可以兑换什么？"
    _fresh_page(browser, server)
    _ask(browser, question)
    browser.find_element(By.ID, "feedback-correct").click()
    note = "还应写上：以户为单位建立账户"
    browser.find_element(By.ID, "feedback-note").send_keys(note)
    browser.find_element(By.ID, "feedback-send").click()
    status = browser.find_element(By.ID, "feedback-status")
    WebDriverWait(browser, 10).until(lambda d: "谢谢" in status.text)
    assert browser.find_element(By.ID, "feedback-up").get_attribute("disabled")  # one rating per answer
    browser.save_screenshot(str(ARTIFACTS / "ask-page-feedback.png"))

    assert httpx.get(server + "/feedback").status_code == 401
    newest = httpx.get(server + "/feedback", headers={"X-API-Key": API_KEY}).json()["items"][0]
    assert newest["id"] == int(status.get_attribute("data-feedback-id"))
    assert (newest["question"], newest["rating"], newest["note"]) == (question, "down", note)
    api = httpx.post(server + "/ask", json={"question": question}).json()
    assert newest["citations"] == [{k: c[k] for k in ("doc_id", "start", "end", "quote")} for c in api["citations"]]


def test_history_shows_a_past_question_after_reload(server, browser):
    from selenium.webdriver.common.by import By

    _fresh_page(browser, server)
    assert not browser.find_element(By.ID, "history-box").is_displayed()
    _ask(browser, "什么是功德银行？")
    _ask(browser, "朝阳区邻里节让居民参与率提高了多少？")
    browser.get(server + "/")
    items = browser.find_elements(By.CSS_SELECTOR, "#history .history-item")
    assert [i.text for i in items] == ["朝阳区邻里节让居民参与率提高了多少？", "什么是功德银行？"]  # newest first
    items[1].click()
    _wait_for_answer(browser)
    assert browser.find_element(By.ID, "question").get_attribute("value") == "什么是功德银行？"
    assert "功德银行" in browser.find_element(By.ID, "answer").text
    browser.save_screenshot(str(ARTIFACTS / "ask-page-history.png"))
