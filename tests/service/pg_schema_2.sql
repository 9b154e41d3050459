-- PostgreSQL schema version 2, as ifmatch created it (postgres.py at 8090451), kept
-- verbatim so that tests can build a version 2 database and upgrade it.  Statements are
-- separated by lines holding only "-- ;".
CREATE TABLE schema_version (version integer NOT NULL)
-- ;
CREATE TABLE resources (
        id bigserial PRIMARY KEY,
        space text NOT NULL,
        name text NOT NULL,
        version bigint NOT NULL,
        modified_us bigint NOT NULL,
        changed_within_second boolean NOT NULL,
        content_type text NOT NULL,
        length bigint NOT NULL,
        data bytea NOT NULL,
        UNIQUE (space, name))
-- ;
ALTER TABLE resources ALTER COLUMN data SET STORAGE EXTERNAL
-- ;
CREATE SEQUENCE versions AS bigint
-- ;
CREATE TABLE graves (
        space text NOT NULL,
        name text NOT NULL,
        version bigint NOT NULL,
        modified_us bigint NOT NULL,
        changed_within_second boolean NOT NULL,
        PRIMARY KEY (space, name))
-- ;
CREATE INDEX resources_modified ON resources (space, modified_us)
-- ;
CREATE INDEX graves_modified ON graves (space, modified_us)
-- ;
CREATE FUNCTION ifmatch_write(
        p_space text, p_name text, p_expected bigint, p_type text, p_data bytea, p_now bigint,
        OUT written boolean, OUT old_version bigint, OUT old_modified_us bigint,
        OUT old_within boolean, OUT old_type text, OUT old_length bigint,
        OUT new_version bigint, OUT new_modified_us bigint, OUT new_within boolean)
    LANGUAGE plpgsql AS $$
    DECLARE
        row_id bigint;
        moment bigint;
        previous bigint;
    BEGIN
        -- Shared: writers of a space never wait for each other here, only for a listing.
        PERFORM pg_advisory_xact_lock_shared(7994, hashtext(p_space));
        SELECT r.id, r.version, r.modified_us, r.changed_within_second, r.content_type, r.length
            INTO row_id, old_version, old_modified_us, old_within, old_type, old_length
            FROM resources r WHERE r.space = p_space AND r.name = p_name FOR UPDATE;
        written := false;
        IF old_version IS DISTINCT FROM p_expected OR (row_id IS NULL AND p_data IS NULL) THEN
            RETURN;  -- not the state the preconditions were evaluated against
        END IF;
        -- Never before the space's latest write that committed before this one began (it
        -- holds the shared lock, so a listing's state is among them): see _scope_of.
        moment := greatest(p_now,
            (SELECT max(r.modified_us) FROM resources r WHERE r.space = p_space),
            (SELECT max(g.modified_us) FROM graves g WHERE g.space = p_space));
        IF row_id IS NULL THEN
            DELETE FROM graves g WHERE g.space = p_space AND g.name = p_name
                RETURNING g.modified_us INTO previous;
            INSERT INTO resources AS r (space, name, version, modified_us,
                    changed_within_second, content_type, length, data)
                VALUES (p_space, p_name, nextval('versions'), moment,
                    coalesce(previous / 1000000 = moment / 1000000, false),
                    p_type, length(p_data), p_data)
                ON CONFLICT (space, name) DO NOTHING
                RETURNING r.version, r.changed_within_second INTO new_version, new_within;
            IF new_version IS NULL THEN  -- created meanwhile: say what is there now
                SELECT r.version, r.modified_us, r.changed_within_second, r.content_type,
                        r.length
                    INTO old_version, old_modified_us, old_within, old_type, old_length
                    FROM resources r WHERE r.space = p_space AND r.name = p_name;
                RETURN;
            END IF;
        ELSE
            new_within := old_modified_us / 1000000 = moment / 1000000;
            IF p_data IS NULL THEN
                DELETE FROM resources WHERE id = row_id;
                INSERT INTO graves AS g VALUES
                    (p_space, p_name, nextval('versions'), moment, new_within)
                    ON CONFLICT (space, name) DO UPDATE SET version = excluded.version,
                        modified_us = excluded.modified_us,
                        changed_within_second = excluded.changed_within_second
                    RETURNING g.version INTO new_version;
            ELSE
                UPDATE resources SET version = nextval('versions'), modified_us = moment,
                        changed_within_second = new_within, content_type = p_type,
                        length = length(p_data), data = p_data
                    WHERE id = row_id RETURNING version INTO new_version;
            END IF;
        END IF;
        new_modified_us := moment;
        written := true;
    END $$
-- ;
CREATE FUNCTION ifmatch_write_many(
        p_spaces text[], p_names text[], p_expected bigint[], p_types text[], p_data bytea[],
        p_nows bigint[])
    RETURNS SETOF record LANGUAGE plpgsql AS $$
    DECLARE
        k bigint;
        result record;
    BEGIN
        -- One order for every batch (space, name): two batches never wait for each other
        -- in a cycle.
        FOR k IN SELECT o.k FROM unnest(p_spaces, p_names) WITH ORDINALITY AS o(s, n, k)
                ORDER BY o.s COLLATE "C", o.n COLLATE "C", o.k LOOP
            SELECT k::integer, w.* INTO result FROM ifmatch_write(p_spaces[k], p_names[k],
                p_expected[k], p_types[k], p_data[k], p_nows[k]) w;
            RETURN NEXT result;
        END LOOP;
    END $$
-- ;
INSERT INTO schema_version VALUES (2)
-- ;
CREATE INDEX resources_space_name_c ON resources (space, name COLLATE "C")
