"""Full-text search for `search`: a GIN-indexed tsvector on PostgreSQL, an FTS5 index with triggers on SQLite.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00

What a word is, and how it is folded, is defined once in `memo.domain.search`; both engines are set up here to
cut and fold content exactly so (the storage contract suite checks it, over every assigned character too).

PostgreSQL: `memories.content_tsv`, a generated column `to_tsvector('simple', translate(content, ...))`, with a GIN
index. `simple` on purpose: no stemming and no stop words, language-neutral, predictable, and the same words FTS5
sees. `translate` first turns ASCII punctuation into spaces, so the default parser never sees a host name, an
e-mail address, a URL path, a version number or a hyphenated compound (it would index `foo.bar.com` as one word
where FTS5 sees three), and applies the folds of `memo.domain.search.FOLDS`. A generated column rather than an
expression index: queries name the column instead of repeating the expression, and the rows a GIN index
returns for a phrase are rechecked against the stored vector instead of re-parsing the content. Adding it
rewrites the table and so backfills it.

SQLite: `memories_fts`, a contentless FTS5 table (the text stays in `memories` only), tokenizer `unicode61`
with `remove_diacritics 0` (accents kept, as PostgreSQL keeps them), `categories 'L* M* Nd Nl'` (the domain's
word characters) and `separators` for the symbols, emoji and other characters that FTS5's Unicode tables
(older than Python's) do not know as separators. FTS5 rows are keyed by `memory_rowids`, one stable integer
per memory: `memories` has no INTEGER PRIMARY KEY, and SQLite allows VACUUM to renumber such a table's implicit
rowids. Triggers on `memories` keep both in step for every writer, Memo or not, inside SQLite, at no cost to
Python; content goes in with `İ` replaced by `i`, the one capital that FTS5 leaves unfolded and PostgreSQL
lowers. A future batch-mode migration that rebuilds `memories` drops these triggers and must create them again.
"""

from __future__ import annotations

import string

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

# The folds of memo.domain.search.FOLDS, frozen as of this revision (a test keeps the two equal).
FOLDS: dict[str, str] = {
    "\u00b5": "\u03bc", "\u017f": "s", "\u0345": "\u03b9", "\u03c2": "\u03c3", "\u03d0": "\u03b2",
    "\u03d1": "\u03b8", "\u03d5": "\u03c6", "\u03d6": "\u03c0", "\u03f0": "\u03ba", "\u03f1": "\u03c1",
    "\u03f5": "\u03b5", "\u1e9b": "\u1e61", "\u1fbe": "\u03b9",
}
TRANSLATE_FROM = string.punctuation + "".join(FOLDS)
TRANSLATE_TO = " " * len(string.punctuation) + "".join(FOLDS.values())

# Characters outside the word categories that SQLite 3.40's FTS5 would otherwise take as word characters
# (assigned after its Unicode tables were made): inclusive code point ranges, Unicode 14.
FTS5_SEPARATOR_RANGES: tuple[tuple[int, int], ...] = (
    (0x58D, 0x58E), (0x605, 0x605), (0x61C, 0x61D), (0x7FE, 0x7FF), (0x888, 0x888), (0x890, 0x891), (0x8E2, 0x8E2),
    (0x9FD, 0x9FD), (0xA76, 0xA76), (0xC77, 0xC77), (0xC84, 0xC84), (0xD4F, 0xD4F), (0xD58, 0xD5E), (0xD76, 0xD78),
    (0x1B7D, 0x1B7E), (0x2066, 0x2069), (0x20BA, 0x20C0), (0x218A, 0x218B), (0x23F4, 0x23FF), (0x2700, 0x2700),
    (0x2B4D, 0x2B4F), (0x2B5A, 0x2B73), (0x2B76, 0x2B95), (0x2B97, 0x2BFF), (0x2E3C, 0x2E5D), (0x32FF, 0x32FF),
    (0xA8FC, 0xA8FC), (0xAB5B, 0xAB5B), (0xAB6A, 0xAB6B), (0xFBC2, 0xFBC2), (0xFD40, 0xFD4F), (0xFDCF, 0xFDCF),
    (0xFDFE, 0xFDFF), (0x1018B, 0x1018E), (0x1019C, 0x1019C), (0x101A0, 0x101A0), (0x102E1, 0x102FB),
    (0x1056F, 0x1056F), (0x10877, 0x1087F), (0x108A7, 0x108AF), (0x108FB, 0x108FF), (0x109BC, 0x109BD),
    (0x109C0, 0x109CF), (0x109D2, 0x109FF), (0x10A48, 0x10A48), (0x10A9D, 0x10A9F), (0x10AC8, 0x10AC8),
    (0x10AEB, 0x10AF6), (0x10B99, 0x10B9C), (0x10BA9, 0x10BAF), (0x10CFA, 0x10CFF), (0x10EAD, 0x10EAD),
    (0x10F1D, 0x10F26), (0x10F51, 0x10F59), (0x10F86, 0x10F89), (0x10FC5, 0x10FCB), (0x110CD, 0x110CD),
    (0x11174, 0x11175), (0x111CD, 0x111CD), (0x111DB, 0x111DB), (0x111DD, 0x111DF), (0x111E1, 0x111F4),
    (0x11238, 0x1123D), (0x112A9, 0x112A9), (0x1144B, 0x1144F), (0x1145A, 0x1145B), (0x1145D, 0x1145D),
    (0x114C6, 0x114C6), (0x115C1, 0x115D7), (0x11641, 0x11643), (0x11660, 0x1166C), (0x116B9, 0x116B9),
    (0x1173A, 0x1173F), (0x1183B, 0x1183B), (0x118EA, 0x118F2), (0x11944, 0x11946), (0x119E2, 0x119E2),
    (0x11A3F, 0x11A46), (0x11A9A, 0x11A9C), (0x11A9E, 0x11AA2), (0x11C41, 0x11C45), (0x11C5A, 0x11C6C),
    (0x11C70, 0x11C71), (0x11EF7, 0x11EF8), (0x11FC0, 0x11FF1), (0x11FFF, 0x11FFF), (0x12474, 0x12474),
    (0x12FF1, 0x12FF2), (0x13430, 0x13438), (0x16A6E, 0x16A6F), (0x16AF5, 0x16AF5), (0x16B37, 0x16B3F),
    (0x16B44, 0x16B45), (0x16B5B, 0x16B61), (0x16E80, 0x16E9A), (0x16FE2, 0x16FE2), (0x1BC9C, 0x1BC9C),
    (0x1BC9F, 0x1BCA3), (0x1CF50, 0x1CFC3), (0x1D1DE, 0x1D1EA), (0x1D2E0, 0x1D2F3), (0x1D372, 0x1D378),
    (0x1D800, 0x1D9FF), (0x1DA37, 0x1DA3A), (0x1DA6D, 0x1DA74), (0x1DA76, 0x1DA83), (0x1DA85, 0x1DA8B),
    (0x1E14F, 0x1E14F), (0x1E2FF, 0x1E2FF), (0x1E8C7, 0x1E8CF), (0x1E95E, 0x1E95F), (0x1EC71, 0x1ECB4),
    (0x1ED01, 0x1ED3D), (0x1F0BF, 0x1F0BF), (0x1F0E0, 0x1F0F5), (0x1F10B, 0x1F10F), (0x1F12F, 0x1F12F),
    (0x1F16C, 0x1F16F), (0x1F19B, 0x1F1AD), (0x1F23B, 0x1F23B), (0x1F260, 0x1F265), (0x1F321, 0x1F32F),
    (0x1F336, 0x1F336), (0x1F37D, 0x1F37F), (0x1F394, 0x1F39F), (0x1F3C5, 0x1F3C5), (0x1F3CB, 0x1F3DF),
    (0x1F3F1, 0x1F3FF), (0x1F43F, 0x1F43F), (0x1F441, 0x1F441), (0x1F4F8, 0x1F4F8), (0x1F4FD, 0x1F4FF),
    (0x1F53E, 0x1F53F), (0x1F544, 0x1F54F), (0x1F568, 0x1F5FA), (0x1F641, 0x1F644), (0x1F650, 0x1F67F),
    (0x1F6C6, 0x1F6D7), (0x1F6DD, 0x1F6EC), (0x1F6F0, 0x1F6FC), (0x1F780, 0x1F7D8), (0x1F7E0, 0x1F7EB),
    (0x1F7F0, 0x1F7F0), (0x1F800, 0x1F80B), (0x1F810, 0x1F847), (0x1F850, 0x1F859), (0x1F860, 0x1F887),
    (0x1F890, 0x1F8AD), (0x1F8B0, 0x1F8B1), (0x1F900, 0x1FA53), (0x1FA60, 0x1FA6D), (0x1FA70, 0x1FA74),
    (0x1FA78, 0x1FA7C), (0x1FA80, 0x1FA86), (0x1FA90, 0x1FAAC), (0x1FAB0, 0x1FABA), (0x1FAC0, 0x1FAC5),
    (0x1FAD0, 0x1FAD9), (0x1FAE0, 0x1FAE7), (0x1FAF0, 0x1FAF6), (0x1FB00, 0x1FB92), (0x1FB94, 0x1FBCA),
)
FTS5_SEPARATORS = "".join(chr(code) for first, last in FTS5_SEPARATOR_RANGES for code in range(first, last + 1))
FTS5_TOKENIZER = f"unicode61 remove_diacritics 0 categories 'L* M* Nd Nl' separators '{FTS5_SEPARATORS}'"
SQLITE_INDEXED_CONTENT = "replace({}.content, '\u0130', 'i')"


def _dollar_quoted(text: str) -> str:
    assert "$fts$" not in text  # noqa: S101 - a constant of this module
    return f"$fts${text}$fts$"


def _upgrade_postgresql() -> None:
    document = (f"to_tsvector('simple'::regconfig, "
                f"translate(content, {_dollar_quoted(TRANSLATE_FROM)}, {_dollar_quoted(TRANSLATE_TO)}))")
    op.execute(f"ALTER TABLE memories ADD COLUMN content_tsv tsvector GENERATED ALWAYS AS ({document}) STORED")
    op.execute("CREATE INDEX ix_memories_content_tsv ON memories USING gin (content_tsv)")


def _upgrade_sqlite() -> None:
    old, new = SQLITE_INDEXED_CONTENT.format("old"), SQLITE_INDEXED_CONTENT.format("new")
    op.execute("CREATE TABLE memory_rowids ("
               "rowid INTEGER PRIMARY KEY, memory_id BLOB NOT NULL CONSTRAINT uq_memory_rowids_memory_id UNIQUE)")
    op.execute(f'CREATE VIRTUAL TABLE memories_fts USING fts5(content, content=\'\', columnsize=0, '
               f'tokenize="{FTS5_TOKENIZER}")')
    op.execute(f"""CREATE TRIGGER memories_fts_after_insert AFTER INSERT ON memories BEGIN
        INSERT INTO memory_rowids (memory_id) VALUES (new.id);
        INSERT INTO memories_fts (rowid, content) VALUES (last_insert_rowid(), {new});
    END""")  # noqa: S608 - every piece is a constant of this module
    op.execute(f"""CREATE TRIGGER memories_fts_after_update AFTER UPDATE OF content ON memories
    WHEN old.content IS NOT new.content BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, content)
            SELECT 'delete', rowid, {old} FROM memory_rowids WHERE memory_id = old.id;
        INSERT INTO memories_fts (rowid, content)
            SELECT rowid, {new} FROM memory_rowids WHERE memory_id = new.id;
    END""")  # noqa: S608
    op.execute(f"""CREATE TRIGGER memories_fts_after_delete AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, content)
            SELECT 'delete', rowid, {old} FROM memory_rowids WHERE memory_id = old.id;
        DELETE FROM memory_rowids WHERE memory_id = old.id;
    END""")  # noqa: S608
    op.execute("INSERT INTO memory_rowids (memory_id) SELECT id FROM memories ORDER BY created_at, id")
    op.execute(f"INSERT INTO memories_fts (rowid, content) SELECT memory_rowids.rowid, "  # noqa: S608
               f"{SQLITE_INDEXED_CONTENT.format('memories')} "
               f"FROM memory_rowids JOIN memories ON memories.id = memory_rowids.memory_id")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_memories_content_tsv")
        op.execute("ALTER TABLE memories DROP COLUMN content_tsv")
    else:
        for trigger in ("memories_fts_after_delete", "memories_fts_after_update", "memories_fts_after_insert"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE memories_fts")
        op.execute("DROP TABLE memory_rowids")
