"""The memory file's schema, as an ordered list of migrations.

``PRAGMA user_version`` holds how many migrations a file has had. Opening a file applies the
missing ones in one write transaction, so a file is never left half-migrated and two processes
opening an old file at once migrate it once. A migration is a tuple of SQL statements (run one
by one: ``executescript`` would commit the surrounding transaction). Append new migrations; never
edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: skills, episodes, reflections, facts and the searchable documents over them.
    (
        """CREATE TABLE skills (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            program_key TEXT NOT NULL UNIQUE,   -- canonical steps: equal keys are the same skill
            program TEXT NOT NULL,              -- JSON: name, description, parameters, steps
            examples TEXT NOT NULL DEFAULT '[]',-- JSON list of instructions it worked for
            successes INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL DEFAULT 'learned',
            created REAL NOT NULL,
            updated REAL NOT NULL
        )""",
        """CREATE TABLE episodes (
            id INTEGER PRIMARY KEY,
            instruction TEXT NOT NULL,
            verified INTEGER NOT NULL,          -- the agent's own verdict, from perception
            reason TEXT NOT NULL,
            calls TEXT NOT NULL,                -- JSON list of {name, arguments, success}
            metrics TEXT NOT NULL,              -- JSON: turns, skill calls, sim and wall time
            skill TEXT,                         -- the composite learned from it, if any
            created REAL NOT NULL
        )""",
        """CREATE TABLE reflections (
            id INTEGER PRIMARY KEY,
            episode_id INTEGER REFERENCES episodes(id) ON DELETE SET NULL,
            instruction TEXT NOT NULL,
            text TEXT NOT NULL,
            created REAL NOT NULL
        )""",
        """CREATE TABLE facts (
            id INTEGER PRIMARY KEY,
            subject TEXT NOT NULL,
            predicate TEXT NOT NULL,
            value TEXT NOT NULL,
            episode_id INTEGER REFERENCES episodes(id) ON DELETE SET NULL,
            updated REAL NOT NULL,
            UNIQUE (subject, predicate)
        )""",
        """CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('skill', 'episode', 'reflection', 'fact')),
            ref INTEGER NOT NULL,               -- the row id in the kind's table
            text TEXT NOT NULL,
            model TEXT,                         -- the embedding model that wrote vector (NULL: none yet)
            vector BLOB,                        -- float32, L2-normalised
            UNIQUE (kind, ref)
        )""",
        # kind is indexed so that a search filters by it before ranking (bm25 weighs it 0)
        "CREATE VIRTUAL TABLE documents_fts USING fts5("
        "text, kind, content='documents', content_rowid='id', tokenize='porter unicode61')",
        """CREATE TRIGGER documents_ai AFTER INSERT ON documents BEGIN
            INSERT INTO documents_fts(rowid, text, kind) VALUES (new.id, new.text, new.kind);
        END""",
        """CREATE TRIGGER documents_ad AFTER DELETE ON documents BEGIN
            INSERT INTO documents_fts(documents_fts, rowid, text, kind) VALUES ('delete', old.id, old.text, old.kind);
        END""",
        """CREATE TRIGGER documents_au AFTER UPDATE OF text ON documents BEGIN
            INSERT INTO documents_fts(documents_fts, rowid, text, kind) VALUES ('delete', old.id, old.text, old.kind);
            INSERT INTO documents_fts(rowid, text, kind) VALUES (new.id, new.text, new.kind);
        END""",
        "CREATE INDEX documents_kind_model ON documents (kind, model)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
