//! Schema migrations. `PRAGMA user_version` holds the version; each entry of [`MIGRATIONS`]
//! moves the store one version up, inside one transaction. Never edit a shipped migration:
//! add a new one.

/// Migration `i` takes the store from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8];

/// The version this build writes.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

/// v1, the first schema: items, imports, models, predictions and the append-only annotations.
const V1: &str = r#"
CREATE TABLE imports (
    id          INTEGER PRIMARY KEY,
    path        TEXT NOT NULL,
    format      TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);

-- `rowid` (= `key`) is the dense internal key other tables and the vector files use;
-- `id` is the user's id from the imported file.
CREATE TABLE items (
    key         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    text        TEXT NOT NULL,
    meta        TEXT,              -- JSON object of the other fields, or NULL
    gold        TEXT,              -- a gold label from the source file, if any
    import_id   INTEGER REFERENCES imports(id),
    line        INTEGER            -- line in the imported file
);

-- One row per distinct scorer: a GGUF (+ adapter) with a prompt, or a probe classifier.
CREATE TABLE models (
    id           INTEGER PRIMARY KEY,
    fingerprint  TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,     -- 'llm' | 'probe'
    model_path   TEXT,
    model_sha256 TEXT,
    adapter_path TEXT,
    adapter_sha256 TEXT,
    prompt_sha256 TEXT,
    labels       TEXT NOT NULL,     -- JSON array, the order of every probs array
    created_at   TEXT NOT NULL
);

CREATE TABLE predictions (
    item        INTEGER NOT NULL REFERENCES items(key),
    model       INTEGER NOT NULL REFERENCES models(id),
    probs       TEXT NOT NULL,      -- JSON array of per-label probabilities, sums to 1
    label       TEXT NOT NULL,      -- argmax
    margin      REAL NOT NULL,      -- p1 - p2
    truncated   INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (item, model)
) WITHOUT ROWID;

-- Append-only. A label is an event; an undo is a new event naming the one it supersedes.
-- Nothing is updated or deleted (the triggers below refuse it).
CREATE TABLE annotations (
    id          INTEGER PRIMARY KEY,
    item        INTEGER NOT NULL REFERENCES items(key),
    annotator   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('label', 'undo', 'skip', 'flag', 'resolve')),
    label       TEXT,
    note        TEXT,
    supersedes  INTEGER REFERENCES annotations(id),
    prediction  TEXT,               -- JSON: the model's prediction when the label was given
    round       INTEGER,
    created_at  TEXT NOT NULL
);
CREATE INDEX annotations_item ON annotations(item, annotator);
CREATE INDEX annotations_supersedes ON annotations(supersedes);
CREATE TRIGGER annotations_no_update BEFORE UPDATE ON annotations
BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END;
CREATE TRIGGER annotations_no_delete BEFORE DELETE ON annotations
BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END;
"#;

/// v2: embeddings, the review queue and its assignments, the eval/train split, rounds and
/// adapters, and a cache of file checksums.
const V2: &str = r#"
CREATE TABLE embedding_sets (
    id          INTEGER PRIMARY KEY,
    model_path  TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    dim         INTEGER NOT NULL,
    file        TEXT NOT NULL,      -- flat little-endian f32 rows, relative to the project
    created_at  TEXT NOT NULL,
    UNIQUE (model_sha256)
);
CREATE TABLE embedding_rows (
    set_id      INTEGER NOT NULL REFERENCES embedding_sets(id),
    item        INTEGER NOT NULL REFERENCES items(key),
    row         INTEGER NOT NULL,
    truncated   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (set_id, item)
) WITHOUT ROWID;
CREATE UNIQUE INDEX embedding_rows_row ON embedding_rows(set_id, row);

CREATE TABLE queue (
    id          INTEGER PRIMARY KEY,
    mine_run    INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    strategy    TEXT NOT NULL,
    item_a      INTEGER NOT NULL REFERENCES items(key),
    item_b      INTEGER REFERENCES items(key),   -- NULL for single-item entries
    reason      TEXT NOT NULL,                   -- JSON
    needed      INTEGER NOT NULL DEFAULT 1,      -- annotators wanted (>= 2: blind overlap)
    created_at  TEXT NOT NULL
);
CREATE INDEX queue_run ON queue(mine_run, position);
CREATE TABLE queue_assign (
    queue       INTEGER NOT NULL REFERENCES queue(id),
    annotator   TEXT NOT NULL,
    PRIMARY KEY (queue, annotator)
) WITHOUT ROWID;

CREATE TABLE splits (
    item        INTEGER PRIMARY KEY REFERENCES items(key),
    split       TEXT NOT NULL CHECK (split IN ('eval', 'train')),
    assigned_at TEXT NOT NULL
);
CREATE TRIGGER splits_sticky BEFORE UPDATE ON splits
BEGIN SELECT RAISE(ABORT, 'an item never changes split'); END;

CREATE TABLE adapters (
    id          INTEGER PRIMARY KEY,
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    base_sha256 TEXT NOT NULL,
    manifest    TEXT NOT NULL,      -- JSON
    created_at  TEXT NOT NULL
);

CREATE TABLE rounds (
    id          INTEGER PRIMARY KEY,
    model       INTEGER REFERENCES models(id),
    adapter     INTEGER REFERENCES adapters(id),
    trainer     TEXT,
    scores      TEXT,               -- JSON
    started_at  TEXT NOT NULL,
    finished_at TEXT
);

-- The label each annotator currently gives each item: their newest label event that no
-- undo supersedes. Resolutions (adjudication) are the same rule over 'resolve' events.
CREATE VIEW current_labels AS
SELECT a.item, a.annotator, a.label, a.note, a.id, a.created_at, a.kind
FROM annotations a
WHERE a.kind IN ('label', 'resolve')
  AND NOT EXISTS (SELECT 1 FROM annotations u WHERE u.kind = 'undo' AND u.supersedes = a.id)
  AND a.id = (SELECT max(b.id) FROM annotations b
              WHERE b.item = a.item AND b.annotator = a.annotator AND b.kind = a.kind
                AND NOT EXISTS (SELECT 1 FROM annotations u2 WHERE u2.kind = 'undo' AND u2.supersedes = b.id));

CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);

CREATE TABLE file_hashes (
    path        TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    sha256      TEXT NOT NULL
);
"#;

/// v3: sets built by `hifi select limo|betr` and `hifi self-train`, their entries with the
/// reasons each was chosen, and experts' vetoes (append-only, like annotations).
const V3: &str = r#"
CREATE TABLE selections (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('limo', 'betr', 'self-train')),
    params      TEXT NOT NULL,      -- JSON: everything the build was run with
    report      TEXT NOT NULL,      -- JSON: what it measured
    created_at  TEXT NOT NULL
);
-- A set's entries in order. `response` is the chosen response or kept sample (NULL for
-- document selections); an item may appear more than once (self-training keeps several
-- samples per prompt).
CREATE TABLE selection_items (
    selection   INTEGER NOT NULL REFERENCES selections(id),
    rank        INTEGER NOT NULL,
    item        INTEGER NOT NULL REFERENCES items(key),
    response    TEXT,
    score       REAL,
    reasons     TEXT NOT NULL,      -- JSON object
    PRIMARY KEY (selection, rank)
) WITHOUT ROWID;
CREATE INDEX selection_items_item ON selection_items(item);
CREATE TRIGGER selection_items_no_update BEFORE UPDATE ON selection_items
BEGIN SELECT RAISE(ABORT, 'a built set never changes; veto entries instead'); END;

CREATE TABLE selection_vetoes (
    id          INTEGER PRIMARY KEY,
    selection   INTEGER NOT NULL REFERENCES selections(id),
    rank        INTEGER NOT NULL,
    annotator   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('veto', 'restore')),
    reason      TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX selection_vetoes_entry ON selection_vetoes(selection, rank);
CREATE TRIGGER selection_vetoes_no_update BEFORE UPDATE ON selection_vetoes
BEGIN SELECT RAISE(ABORT, 'vetoes are append-only'); END;
CREATE TRIGGER selection_vetoes_no_delete BEFORE DELETE ON selection_vetoes
BEGIN SELECT RAISE(ABORT, 'vetoes are append-only'); END;
"#;

/// v4: each vector file starts with a header holding a random tag, recorded here; a file whose
/// tag differs (replaced, restored from elsewhere) is never read as this set's vectors. NULL: a
/// file written before v4 (no header), upgraded by the next `hifi embed`.
const V4: &str = r#"
ALTER TABLE embedding_sets ADD COLUMN file_tag TEXT;
"#;

/// v5, for numbers experts can trust: whether the model's suggestion was visible when a label
/// was given (1 shown, 0 hidden, NULL not recorded: imports and events before v5); the stratum
/// of queue entries and splits ('boundary': mined; 'audit': drawn uniformly at random from the
/// unlabeled pool, always eval); and how many few-shot examples an LLM model's prompt held
/// (NULL: registered before v5).
const V5: &str = r#"
ALTER TABLE annotations ADD COLUMN suggestion INTEGER CHECK (suggestion IN (0, 1));
ALTER TABLE queue ADD COLUMN stratum TEXT NOT NULL DEFAULT 'boundary' CHECK (stratum IN ('boundary', 'audit'));
ALTER TABLE splits ADD COLUMN stratum TEXT NOT NULL DEFAULT 'boundary' CHECK (stratum IN ('boundary', 'audit'));
ALTER TABLE models ADD COLUMN few_shot INTEGER;
DROP VIEW current_labels;
CREATE VIEW current_labels AS
SELECT a.item, a.annotator, a.label, a.note, a.id, a.created_at, a.kind, a.suggestion
FROM annotations a
WHERE a.kind IN ('label', 'resolve')
  AND NOT EXISTS (SELECT 1 FROM annotations u WHERE u.kind = 'undo' AND u.supersedes = a.id)
  AND a.id = (SELECT max(b.id) FROM annotations b
              WHERE b.item = a.item AND b.annotator = a.annotator AND b.kind = a.kind
                AND NOT EXISTS (SELECT 1 FROM annotations u2 WHERE u2.kind = 'undo' AND u2.supersedes = b.id));
"#;

/// v6, responses as data (docs/responses.md): an item's earlier chat turns; every candidate
/// response and every expert revision of one (append-only, a revision names its parent and
/// keeps its candidate's number); and judgements of responses as append-only events like
/// labels (accept, reject, edit, prefer, score; an undo supersedes).
const V6: &str = r#"
ALTER TABLE items ADD COLUMN context TEXT;  -- JSON array of chat messages before the prompt, or NULL

CREATE TABLE responses (
    id          INTEGER PRIMARY KEY,
    item        INTEGER NOT NULL REFERENCES items(key),
    number      INTEGER NOT NULL CHECK (number >= 1),  -- the candidate's number in its item, from 1
    parent      INTEGER REFERENCES responses(id),      -- NULL: an original candidate
    text        TEXT NOT NULL,
    source      TEXT NOT NULL,     -- import | limo | self-train | expert | ...
    origin      TEXT,              -- JSON: where exactly (file and line, model, set, ...)
    annotator   TEXT,              -- who wrote a revision
    created_at  TEXT NOT NULL
);
CREATE INDEX responses_item ON responses(item, number);
CREATE UNIQUE INDEX responses_original ON responses(item, number) WHERE parent IS NULL;
CREATE TRIGGER responses_no_update BEFORE UPDATE ON responses
BEGIN SELECT RAISE(ABORT, 'responses are append-only; an edit is a new revision'); END;
CREATE TRIGGER responses_no_delete BEFORE DELETE ON responses
BEGIN SELECT RAISE(ABORT, 'responses are append-only'); END;

CREATE TABLE response_events (
    id          INTEGER PRIMARY KEY,
    item        INTEGER NOT NULL REFERENCES items(key),
    annotator   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('accept', 'reject', 'edit', 'prefer', 'score', 'undo')),
    response    INTEGER REFERENCES responses(id),  -- the revision judged; edit: the new revision; prefer: the first named
    other       INTEGER REFERENCES responses(id),  -- prefer: the second named
    verdict     TEXT CHECK (verdict IN ('better', 'tie', 'both-bad')),  -- prefer: first better, tie, both bad
    score       INTEGER CHECK (score BETWEEN 1 AND 5),
    reason      TEXT,
    shown       TEXT,              -- JSON: what was on screen (mode, which candidate left/right)
    supersedes  INTEGER REFERENCES response_events(id),
    created_at  TEXT NOT NULL
);
CREATE INDEX response_events_item ON response_events(item, annotator);
CREATE INDEX response_events_supersedes ON response_events(supersedes);
CREATE TRIGGER response_events_no_update BEFORE UPDATE ON response_events
BEGIN SELECT RAISE(ABORT, 'response judgements are append-only'); END;
CREATE TRIGGER response_events_no_delete BEFORE DELETE ON response_events
BEGIN SELECT RAISE(ABORT, 'response judgements are append-only'); END;
"#;

/// v7, find, revisit and reshape (docs/browse.md): label-set versions as append-only events
/// (add, rename, merge, retire, or hifi.toml's labels changed by hand) with `label_map` saying
/// what each label of each version is called now (NULL: retired), so the label in force maps
/// through every change while the events keep the names they were given under; versioned
/// guidelines; per annotation the label-set and guidelines versions it was given under, where
/// it was given (review, browse, cli, import) and, for a revisit, the decision it revises;
/// `unflag` events; and a full-text index of item texts, filled incrementally (`fts_upto`).
///
/// `annotations` is rebuilt to widen its kinds: renamed away, copied in id order (every
/// `supersedes` names an earlier id), dropped.
const V7: &str = r#"
CREATE TABLE label_set_changes (
    version     INTEGER PRIMARY KEY,   -- the label-set version this change makes, from 1
    kind        TEXT NOT NULL CHECK (kind IN ('initial', 'add', 'rename', 'merge', 'retire', 'replace')),
    labels      TEXT NOT NULL,         -- JSON: the whole set after the change, [{name, definition}]
    from_names  TEXT NOT NULL,         -- JSON array: rename [old], merge [a, b], retire [x], else []
    to_name     TEXT,                  -- add: the new label; rename: the new name; merge: into
    annotator   TEXT,
    created_at  TEXT NOT NULL
);
CREATE TRIGGER label_set_changes_no_update BEFORE UPDATE ON label_set_changes
BEGIN SELECT RAISE(ABORT, 'label-set changes are append-only'); END;
CREATE TRIGGER label_set_changes_no_delete BEFORE DELETE ON label_set_changes
BEGIN SELECT RAISE(ABORT, 'label-set changes are append-only'); END;

-- Derived from label_set_changes (rebuilt with each change): what `label` of `version` is
-- called in the newest version; `now` NULL when it was retired.
CREATE TABLE label_map (
    version     INTEGER NOT NULL,
    label       TEXT NOT NULL,
    now         TEXT,
    PRIMARY KEY (version, label)
) WITHOUT ROWID;

CREATE TABLE guidelines (
    version     INTEGER PRIMARY KEY,
    sha256      TEXT NOT NULL,
    text        TEXT NOT NULL,
    annotator   TEXT,
    created_at  TEXT NOT NULL
);
CREATE TRIGGER guidelines_no_update BEFORE UPDATE ON guidelines
BEGIN SELECT RAISE(ABORT, 'guidelines versions are append-only'); END;
CREATE TRIGGER guidelines_no_delete BEFORE DELETE ON guidelines
BEGIN SELECT RAISE(ABORT, 'guidelines versions are append-only'); END;

DROP VIEW current_labels;
DROP TRIGGER annotations_no_update;
DROP TRIGGER annotations_no_delete;
DROP INDEX annotations_item;
DROP INDEX annotations_supersedes;
ALTER TABLE annotations RENAME TO annotations_v6;
CREATE TABLE annotations (
    id          INTEGER PRIMARY KEY,
    item        INTEGER NOT NULL REFERENCES items(key),
    annotator   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('label', 'undo', 'skip', 'flag', 'unflag', 'resolve')),
    label       TEXT,               -- as given, in the label set of its time (see label_set)
    note        TEXT,
    supersedes  INTEGER REFERENCES annotations(id),
    prediction  TEXT,               -- JSON: the model's prediction when the label was given
    round       INTEGER,
    created_at  TEXT NOT NULL,
    suggestion  INTEGER CHECK (suggestion IN (0, 1)),
    label_set   INTEGER,            -- label-set version in force (NULL: before v7, read as 1)
    guidelines  INTEGER,            -- guidelines version in force (NULL: none written yet)
    origin      TEXT,               -- review | browse | cli | import | adjudicate (NULL: before v7)
    revises     INTEGER REFERENCES annotations(id)  -- a revisit: the decision it replaces
);
INSERT INTO annotations (id, item, annotator, kind, label, note, supersedes, prediction, round, created_at, suggestion)
SELECT id, item, annotator, kind, label, note, supersedes, prediction, round, created_at, suggestion
FROM annotations_v6 ORDER BY id;
DROP TABLE annotations_v6;
CREATE INDEX annotations_item ON annotations(item, annotator);
CREATE INDEX annotations_supersedes ON annotations(supersedes);
CREATE TRIGGER annotations_no_update BEFORE UPDATE ON annotations
BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END;
CREATE TRIGGER annotations_no_delete BEFORE DELETE ON annotations
BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END;

-- As in v5, with the label mapped through label-set changes: `label` is the name in force
-- now, `given` the name it was given under; a label whose name was retired is not in force.
CREATE VIEW current_labels AS
SELECT a.item, a.annotator, CASE WHEN m.label IS NULL THEN a.label ELSE m.now END AS label,
       a.note, a.id, a.created_at, a.kind, a.suggestion, a.label AS given, a.label_set
FROM annotations a
LEFT JOIN label_map m ON m.version = coalesce(a.label_set, 1) AND m.label = a.label
WHERE a.kind IN ('label', 'resolve')
  AND NOT (m.label IS NOT NULL AND m.now IS NULL)
  AND NOT EXISTS (SELECT 1 FROM annotations u WHERE u.kind = 'undo' AND u.supersedes = a.id)
  AND a.id = (SELECT max(b.id) FROM annotations b
              WHERE b.item = a.item AND b.annotator = a.annotator AND b.kind = a.kind
                AND NOT EXISTS (SELECT 1 FROM annotations u2 WHERE u2.kind = 'undo' AND u2.supersedes = b.id));

CREATE VIRTUAL TABLE items_fts USING fts5(
    text, content = 'items', content_rowid = 'key', tokenize = 'unicode61 remove_diacritics 2'
);
"#;

/// v8, multi-label tasks (docs/multi-label.md): a decision's `label` may be a label set, a JSON
/// array of names (`["a","c"]`, `[]` for none). `current_labels` maps each name of a set through
/// the label-set changes as v7 maps a single label: renamed names take their new name, merged
/// names become one, retired names leave the set; the set keeps the order it was given in.
const V8: &str = r#"
DROP VIEW current_labels;
CREATE VIEW current_labels AS
SELECT a.item, a.annotator,
       CASE
         WHEN a.label LIKE '[%' AND json_valid(a.label) THEN
           (SELECT json_group_array(n) FROM (
              SELECT coalesce(ms.now, j.value) AS n, min(j.key) AS k
              FROM json_each(a.label) j
              LEFT JOIN label_map ms ON ms.version = coalesce(a.label_set, 1) AND ms.label = j.value
              WHERE NOT (ms.label IS NOT NULL AND ms.now IS NULL)
              GROUP BY n ORDER BY k))
         WHEN m.label IS NULL THEN a.label
         ELSE m.now
       END AS label,
       a.note, a.id, a.created_at, a.kind, a.suggestion, a.label AS given, a.label_set
FROM annotations a
LEFT JOIN label_map m ON m.version = coalesce(a.label_set, 1) AND m.label = a.label
WHERE a.kind IN ('label', 'resolve')
  AND NOT (m.label IS NOT NULL AND m.now IS NULL)
  AND NOT EXISTS (SELECT 1 FROM annotations u WHERE u.kind = 'undo' AND u.supersedes = a.id)
  AND a.id = (SELECT max(b.id) FROM annotations b
              WHERE b.item = a.item AND b.annotator = a.annotator AND b.kind = a.kind
                AND NOT EXISTS (SELECT 1 FROM annotations u2 WHERE u2.kind = 'undo' AND u2.supersedes = b.id));
"#;
