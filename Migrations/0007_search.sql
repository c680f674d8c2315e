-- Full-text search over what was said and done in sessions: prompts, messages, tool names,
-- inputs and outputs, failures. A projection kept in the append's transaction (never behind the
-- log) and rebuilt with the others; one row per searchable event, its rowid the event's
-- sequence (join `events` for its session, run, type and the text itself). Case and diacritics
-- are folded. Contentless: the words are indexed, the text is not stored a second time (the
-- event holds it), which makes an indexed append about half again as fast.
CREATE VIRTUAL TABLE search USING fts5(text, content = '', tokenize = 'unicode61 remove_diacritics 2');
