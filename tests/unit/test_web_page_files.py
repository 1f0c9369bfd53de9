"""The page's files as shipped: nothing inline for the CSP to refuse, nothing from elsewhere, every control named,
every module it imports present, the signer the TypeScript client's very files, and the whole under 150 KB."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from memo.application.errors import RateLimited
from memo.entrypoints.connections import REFUSAL_CODES
from memo.entrypoints.http.errors import FRAMEWORK_CODES, STATUS_BY_TYPE
from memo.entrypoints.web.assets import INDEX, STATIC_DIR, load_assets

ROOT = Path(__file__).parents[2]
SIGNER_SOURCE = ROOT / "clients" / "typescript" / "src"
HTTP_SOURCES = ROOT / "src" / "memo" / "entrypoints" / "http"
PAGE_BUDGET_BYTES = 150 * 1000
PAGE_SCRIPTS = sorted(path for path in STATIC_DIR.glob("*.js"))  # the page's own; the signer has its own tests

# Every code of API.md sections 1, 2.3, 3, 4 and 7, as the contract lists them.
CONTRACT_CODES = {
    "INTERNAL_ERROR", "VALIDATION_ERROR", "NOT_FOUND", "METHOD_NOT_ALLOWED", "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE", "MISSING_SIGNATURE", "MISSING_TIMESTAMP", "INVALID_TIMESTAMP", "MISSING_KEY_ID",
    "MISSING_NONCE", "INVALID_NONCE", "UNKNOWN_KEY", "EXPIRED_TIMESTAMP", "REPLAYED_REQUEST", "INVALID_SIGNATURE",
    "RATE_LIMIT_EXCEEDED", "IDEMPOTENCY_CONFLICT", "MEMORY_NOT_FOUND", "VERSION_CONFLICT",
    "VECTOR_INDEX_UNAVAILABLE", "MISSING_WHATSAPP_SIGNATURE", "INVALID_WHATSAPP_SIGNATURE", "INVALID_JSON",
    "INVALID_WEBHOOK_OBJECT", "WHATSAPP_NOT_CONFIGURED", "OUTSIDE_CUSTOMER_CARE_WINDOW", "UPSTREAM_RATE_LIMITED",
    "UPSTREAM_AUTH_ERROR", "UPSTREAM_ERROR", "REQUEST_TIMEOUT", "SERVER_BUSY",
}
AUTH_CODES = {"MISSING_SIGNATURE", "MISSING_TIMESTAMP", "INVALID_TIMESTAMP", "MISSING_KEY_ID", "MISSING_NONCE",
              "INVALID_NONCE", "UNKNOWN_KEY", "EXPIRED_TIMESTAMP", "REPLAYED_REQUEST", "INVALID_SIGNATURE"}
# What the page's scripts must never do: keep a secret where scripts or requests can read it, or parse text as HTML
FORBIDDEN_IN_SCRIPTS = ("localStorage", "sessionStorage", "document.cookie", "innerHTML", "outerHTML",
                        "insertAdjacentHTML", "document.write", "eval(", "new Function", ".style.",
                        "setAttribute('style'", "setAttribute('on", "http://", "https://")
COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.inline_scripts = 0
        self.styles = 0
        self._in: list[str] = []
        self.label_text: dict[str, str] = {}
        self.button_texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag == "script" and "src" not in attributes:
            self.inline_scripts += 1
        if tag == "style":
            self.styles += 1
        if tag in {"label", "button"}:
            self._in.append(tag)
            if tag == "button":
                self.button_texts.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "button":
            self.button_texts[-1] += data.strip()


def parsed_page() -> PageParser:
    parser = PageParser()
    parser.feed((STATIC_DIR / INDEX).read_text(encoding="utf-8"))
    return parser


def test_the_page_has_no_inline_script_style_or_handler_for_its_csp_to_refuse() -> None:
    page = parsed_page()
    assert page.inline_scripts == 0
    assert page.styles == 0
    for tag, attributes in page.elements:
        assert "style" not in attributes, tag
        assert [name for name in attributes if name.startswith("on")] == [], tag
        for name in ("href", "src", "action"):
            value = attributes.get(name) or ""
            assert not value.lower().startswith("javascript:"), (tag, value)


def test_the_page_loads_its_files_from_memo_itself_and_nothing_from_elsewhere() -> None:
    served = {f"/app/{name}" for name in load_assets() if name != INDEX}
    references = [(tag, attributes.get("src") or attributes.get("href")) for tag, attributes in parsed_page().elements
                  if tag in {"script", "link", "img"}]
    assert references
    for tag, target in references:
        assert target in served, (tag, target)


def test_every_control_of_the_page_has_a_name() -> None:
    page = parsed_page()
    labelled = {attributes["for"] for tag, attributes in page.elements if tag == "label" and attributes.get("for")}
    for tag, attributes in page.elements:
        if tag in {"input", "select", "textarea"} and attributes.get("type") != "radio":
            assert attributes.get("id") in labelled or attributes.get("aria-label"), (tag, attributes)
    assert all(page.button_texts), page.button_texts  # every button says what it does


def test_every_form_list_dialog_and_view_of_the_page_has_a_name() -> None:
    named = ("aria-label", "aria-labelledby")
    for tag, attributes in parsed_page().elements:
        if tag in {"ol", "dialog", "nav"} or (tag == "form" and attributes.get("method") != "dialog") or (
                tag == "section" and attributes.get("id") != "view-loading"):
            assert any(attributes.get(name) for name in named), (tag, attributes)


def test_the_radio_buttons_are_wrapped_in_their_labels() -> None:
    text = (STATIC_DIR / INDEX).read_text(encoding="utf-8")
    radios = re.findall(r"<label><input type=\"radio\"[^>]*> (\w+)</label>", text)
    assert radios == ["Hybrid", "Semantic", "Keyword"]
    assert text.count('type="radio"') == len(radios)


def test_the_whole_page_with_the_signer_weighs_less_than_150_kb() -> None:
    sizes = {name: len(asset.body) for name, asset in load_assets().items()}
    assert any(name.startswith("signer/") for name in sizes)
    assert sum(sizes.values()) < PAGE_BUDGET_BYTES, sorted(sizes.items(), key=lambda item: -item[1])


@pytest.mark.parametrize("script", PAGE_SCRIPTS, ids=lambda path: path.name)
def test_the_page_scripts_keep_nothing_in_web_storage_or_cookies_and_parse_no_html(script: Path) -> None:
    code = COMMENTS.sub("", script.read_text(encoding="utf-8"))  # the comments may say what is never done
    assert [word for word in FORBIDDEN_IN_SCRIPTS if word in code] == []


def test_every_module_the_page_imports_is_served_beside_it() -> None:
    assets = load_assets()
    scripts = {name: asset.body.decode() for name, asset in assets.items() if name.endswith(".js")}
    for name, text in scripts.items():
        for target in re.findall(r"""(?:(?:import|export)[^'";]*?from\s+|import\s*\(?\s*)'([^']+)'""", text):
            assert target.startswith("./"), (name, target)  # relative: the page has no bundler to resolve names
            resolved = (Path(name).parent / target).as_posix().removeprefix("./")
            assert resolved in scripts, (name, target)


def test_the_served_signer_is_the_typescript_client_itself() -> None:
    linked = STATIC_DIR / "signer"
    assert linked.resolve() == SIGNER_SOURCE.resolve()
    served = {name.removeprefix("signer/"): asset.body for name, asset in load_assets().items()
              if name.startswith("signer/")}
    assert served == {path.name: path.read_bytes() for path in SIGNER_SOURCE.glob("*.js")}


def test_the_page_files_are_read_once_and_only_known_kinds_are_taken(tmp_path: Path) -> None:
    (tmp_path / "signer").mkdir()
    (tmp_path / INDEX).write_text("<!doctype html>")
    (tmp_path / "signer" / "index.js").write_text("export {};")
    (tmp_path / "main.js.map").write_text("{}")
    (tmp_path / "notes.txt~").write_text("draft")

    assets = load_assets(tmp_path)

    assert sorted(assets) == [INDEX, "signer/index.js"]
    assert assets["signer/index.js"].media_type == "text/javascript"
    assert assets[INDEX].etag.startswith('"')
    assert assets[INDEX].etag.endswith('"')


def test_a_page_folder_without_the_signer_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / INDEX).write_text("<!doctype html>")
    with pytest.raises(RuntimeError, match=r"signer/index\.js"):
        load_assets(tmp_path)


def sentence_codes() -> set[str]:
    text = (STATIC_DIR / "messages.js").read_text(encoding="utf-8")
    table = text[text.index("export const SENTENCES"):text.index("});")]
    return set(re.findall(r"^\s+([A-Z][A-Z0-9_]+): '", table, re.MULTILINE))


def server_codes() -> set[str]:
    """Every code Memo's HTTP side can answer with: mapped errors, framework answers, the outer layers' own."""
    mapped = {kind.code for kind in STATUS_BY_TYPE}
    framework = {code for code, _ in FRAMEWORK_CODES.values()} | {"CLIENT_ERROR"} | set(REFUSAL_CODES.values())
    literal = {code for path in HTTP_SOURCES.glob("*.py")
               for code in re.findall(r'code="([A-Z_]+)"', path.read_text(encoding="utf-8"))}
    return mapped | framework | literal | {RateLimited.code} | AUTH_CODES


def test_every_error_code_of_the_contract_and_the_server_has_a_plain_sentence() -> None:
    assert (CONTRACT_CODES | server_codes()) - sentence_codes() == set()
