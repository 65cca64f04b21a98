"""What can be wrong with the articles, worded once, in the writers' language.

Every finding is a :class:`Problem` with a code; its wording lives only in
:data:`MESSAGES`, so ``helpcenter check`` and ``helpcenter build-index`` say
the same thing for the same mistake. Chinese (``zh``) is the default because
the writers are Chinese; English (``en``) stays available for tooling and
newcomers. Severity words stay ``error``/``warning`` in every language: the
``file:line: severity:`` shape is what editors and CI annotate from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

LANGUAGES = ("zh", "en")
DEFAULT_LANG = "zh"


class Message(NamedTuple):
    severity: str  # "error" or "warning"
    zh: str
    en: str


M = Message
MESSAGES: dict[str, Message] = {
    # Reading files
    "articles_dir_missing": M("error", "文章文件夹不存在", "articles folder does not exist"),
    "unreadable": M("error", "无法读取文件：{reason}", "cannot read the file: {reason}"),
    "not_utf8": M("error", "文件不是 UTF-8 编码（第 {byte} 字节）；请用 UTF-8 保存",
                  "file is not valid UTF-8 (at byte {byte}); save it as UTF-8"),
    "no_front_matter": M("error", "缺少 YAML 头信息：文件必须以一行 '---' 开头，接着写字段，再以一行 '---' 结束",
                         "missing YAML front matter: the file must start with a line '---', then fields, then '---'"),
    "front_matter_unclosed": M("error", "头信息没有结束：找不到结束头信息的那一行 '---'",
                               "front matter is not closed: no line '---' after the fields"),
    # YAML syntax, at the line where the mistake starts
    "yaml_unclosed_quote": M("error", "这一行开始的引号 {quote} 没有闭合",
                             "the quote {quote} that starts on this line is never closed"),
    "yaml_unclosed_bracket": M("error", "这一行开始的括号 {bracket} 没有闭合（缺少 {closing}）",
                               "the bracket {bracket} that starts on this line is never closed (missing {closing})"),
    "yaml_colon": M("error", "值里有“: ”：请把整个值放进引号，例如 summary: \"注意: ……\"",
                    "a value contains ': ': put the whole value in quotes, e.g. summary: \"Note: ...\""),
    "yaml_tab": M("error", "缩进里有制表符（Tab）：YAML 只能用空格缩进",
                  "a tab in the indentation: YAML indents with spaces only"),
    "yaml_syntax": M("error", "YAML 语法错误：{detail}", "YAML error: {detail}"),
    "not_mapping": M("error", "必须是“字段: 值”的形式（{fields}）",
                     "must be a mapping of fields ({fields})"),
    # Fields
    "unknown_field": M("warning", "未知字段 {name!r}（可用：{known}）", "unknown field {name!r} (known: {known})"),
    "missing_field": M("error", "缺少必填字段", "missing required field"),
    "not_text": M("error", "必须是文字，现在是 {value!r}；数字或日期请加引号",
                  "must be text, got {value!r}; put numbers and dates in quotes"),
    "not_questions": M("error", "必须是问法列表，每行一条，以 '- ' 开头",
                       "must be a list of phrasings, one per line starting with '- '"),
    "not_list": M("error", "必须是列表，例如 [账号, 密码]", "must be a list, e.g. [账号, 密码]"),
    "not_int": M("error", "必须是整数，现在是 {value!r}", "must be a whole number, got {value!r}"),
    "not_bool": M("error", "必须是 true 或 false，现在是 {value!r}", "must be true or false, got {value!r}"),
    "not_date": M("error", "必须是 YYYY-MM-DD 格式的日期，现在是 {value!r}", "must be a date YYYY-MM-DD, got {value!r}"),
    "impossible_date": M("error", "日期 {value} 不存在（请检查月份和日期）",
                         "{value} is not a real date (check the month and day)"),
    "unknown_icon": M("error", "没有叫 {value!r} 的图标（可用：{known}）", "no icon is named {value!r} (available: {known})"),
    "bad_number": M("error", "{value!r} 不是有效的数字", "{value!r} is not a valid number"),
    "empty_body": M("error", "文章没有正文", "article has no body text"),
    # Files and folders
    "bad_file_name": M("error", "文件名 {name!r} 只能用小写字母、数字和 '-'（它会成为网址）",
                       "file name {name!r} must be lower-case letters, digits and '-' (it becomes the URL)"),
    "bad_folder_name": M("error", "文件夹名 {name!r} 只能用小写字母、数字和 '-'",
                         "folder name {name!r} must be lower-case letters, digits and '-'"),
    "no_category_file": M("error", "分类文件夹 {folder!r} 缺少 {file}（name、description、order）",
                          "category folder {folder!r} has no {file} (name, description, order)"),
    "outside_category": M("error", "文章不在分类文件夹里（应放在 articles/<分类>/<文件名>.md）",
                          "article is not inside a category folder (articles/<category>/<slug>.md)"),
    "nested_folder": M("error", "子文件夹不是分类；请把这些文章上移一层",
                       "nested folders are not categories; move these articles up one level"),
    "duplicate_id": M("error", "文章 id {id!r} 重复（另见 {other}）", "duplicate article id {id!r} (also {other})"),
    "empty_category": M("warning", "分类里没有文章", "category has no articles"),
    # Translations (slug.<locale>.md beside slug.md)
    "orphan_translation": M("warning", "这是 {id} 的译文，但原文 {source} 不存在：读者看不到它",
                            "a translation of {id}, but {source} does not exist: no reader sees it"),
    "unknown_locale": M("warning", "语言 {locale!r} 不在网站的语言设置里（{known}）：读者看不到这篇译文",
                        "locale {locale!r} is not one the site serves ({known}): no reader sees this translation"),
    "translation_unversioned": M("warning", "译文没有记下对应的原文版本：请加上 source: {hash}，原文改动后 check 才能提醒您",
                                 "the translation does not record its source version: add source: {hash}, so check "
                                 "can tell you when the source changes"),
    "stale_translation": M("warning", "原文在译文写成后改过（source: {old}，现在是 {hash}）：请对照原文更新译文，再把 source 改成 {hash}",
                           "the source changed since this translation was written (source: {old}, now {hash}): "
                           "update the translation, then set source: {hash}"),
    # Across articles
    "duplicate_question": M("error", "问法 {question!r} 也出现在 {other}；每种问法只应指向一篇文章",
                            "question {question!r} is also in {other}; each phrasing should lead to one article"),
    "dead_link": M("error", "链接 {target!r} 指向的文章不存在（{id}）",
                   "link to {target!r} points to no article ({id})"),
    "dead_category_link": M("error", "链接 {target!r} 指向的分类不存在（{id}）",
                            "link to {target!r} points to no category ({id})"),
    "dead_anchor": M("error", "链接 {target!r} 指向的小节不存在：{id} 里没有 #{anchor}（有：{anchors}）",
                     "link to {target!r} points to no section: {id} has no #{anchor} (it has: {anchors})"),
    "dead_anchor_no_headings": M("error", "链接 {target!r} 指向的小节不存在：{id} 里没有任何小节标题",
                                 "link to {target!r} points to no section: {id} has no headings"),
    "missing_file": M("error", "链接 {target!r} 指向的文件不存在", "link to {target!r} points to a file that does not exist"),
    "file_not_published": M("warning", "{target!r} 存在，但网站只发布图片（{types}），不发布其他文件：这个链接读者打不开",
                            "{target!r} exists, but the site publishes images only ({types}), not other files: "
                            "readers cannot open this link"),
    # Search (check --search, helpcenter.engine.gate)
    "search_misses": M("warning", "搜索“{question}”时，这篇文章不在前 {top} 个结果里（排在前面的是：{found}）：换个写法，或把问法写进正文",
                       "searching \"{question}\" does not find this article in the first {top} results (found: {found}): "
                       "reword it, or answer it in the body"),
    "search_competes": M("warning", "这篇和 {other} 互相抢问题（它赢了这篇的 {mine} 个问法，这篇赢了它的 {theirs} 个）：可能重复，或者需要分得更清楚",
                         "this article and {other} compete for the same questions ({mine} of this one's go to it, "
                         "{theirs} of its to this one): likely duplicates, or they need a clearer split"),
    # Images (helpcenter.engine.assets)
    "missing_image": M("error", "图片 {target!r} 不存在", "image {target!r} does not exist"),
    "image_outside": M("error", "图片 {target!r} 在文章文件夹之外：请放在文章旁边或 articles/_assets/ 里",
                       "image {target!r} is outside the articles folder: put it beside the article or in "
                       "articles/_assets/"),
    "image_type": M("error", "图片 {target!r} 的格式不支持（可用：{types}）；SVG 可能带脚本，请导出为 PNG",
                    "image {target!r} has a type the site does not publish (use {types}); SVG can carry script, "
                    "export it as PNG"),
    "unreadable_image": M("error", "图片 {target!r} 无法读取：文件损坏，或者扩展名与内容不符",
                          "image {target!r} cannot be read: the file is damaged or its extension is wrong"),
    "image_too_large": M("warning", "图片 {target!r} 有 {size} MB，超过 {limit} MB：手机读者要等很久，请压缩",
                         "image {target!r} is {size} MB, over {limit} MB: slow for readers on phones, compress it"),
    "image_no_alt": M("warning", "图片 {target!r} 没有说明文字：请写成 ![说明](…)，读屏软件和图片加载失败时会显示它",
                      "image {target!r} has no alt text: write ![what it shows](…), for screen readers and when "
                      "it fails to load"),
    "draft_link": M("warning", "链接 {target!r} 指向草稿（draft: true），读者打不开",
                    "link to {target!r} points to a draft (draft: true) readers cannot open"),
}
del M

# What the commands say around the problems.
TEXTS: dict[str, dict[str, str]] = {
    "summary": {"zh": "{articles} 篇文章，{categories} 个分类：{errors} 个错误，{warnings} 个警告",
                "en": "{articles} articles in {categories} categories: {errors} error(s), {warnings} warning(s)"},
    "translations": {"zh": "译文：{counts}（没有译文的繁體页面由简体自动转换，其他语言显示原文并注明）",
                     "en": "translations: {counts} (繁體 pages without one are converted from 简体; other "
                           "locales show the source, marked)"},
    "not_published": {"zh": "{folder} 里有 {errors} 个错误：没有发布任何内容，网站继续使用现有索引",
                      "en": "{errors} error(s) in {folder}; nothing was published, the site keeps its current index"},
    "two_folders": {"zh": "文章文件夹写了两个不同的值：{a} 和 {b}；请只写一个（DIR 或 --articles）",
                    "en": "two different articles folders: {a} and {b}; give one (DIR or --articles)"},
}


def text(key: str, lang: str = DEFAULT_LANG, **args: Any) -> str:
    """A command's own sentence (not a problem) in ``lang``."""
    entry = TEXTS[key]
    return entry.get(lang, entry[DEFAULT_LANG]).format(**args)


@dataclass(frozen=True)
class Problem:
    """One finding: where (file, line, field), which mistake (code) and its details (args)."""

    path: str
    line: int
    code: str
    field: str = ""
    args: tuple[tuple[str, Any], ...] = ()

    @property
    def severity(self) -> str:
        return MESSAGES[self.code].severity

    def message_in(self, lang: str = DEFAULT_LANG) -> str:
        entry = MESSAGES[self.code]
        template = entry.en if lang == "en" else entry.zh
        return template.format(**dict(self.args))

    @property
    def message(self) -> str:
        return self.message_in(DEFAULT_LANG)

    def format(self, lang: str = DEFAULT_LANG) -> str:
        """``file:line: severity: [field] message``, the shape editors and CI understand."""
        where = f"[{self.field}] " if self.field else ""
        return f"{self.path}:{self.line}: {self.severity}: {where}{self.message_in(lang)}"

    def __str__(self) -> str:
        return self.format()


def problem(path: str, line: int, code: str, field: str = "", **args: Any) -> Problem:
    """A :class:`Problem`; ``code`` must be in :data:`MESSAGES` (checked here, not when printed)."""
    if code not in MESSAGES:
        raise KeyError(f"unknown problem code {code!r}")
    return Problem(path, line, code, field, tuple(sorted(args.items())))
