-- Data for compare_routed_plans.py, as the owner on a plain database migrated to 0014:
-- 2 namespaces x 6,000 documents of 120 words, 2 chunk spans each, 32-dim vectors + HNSW.
INSERT INTO namespaces (name) VALUES ('team-a') ON CONFLICT DO NOTHING;
SELECT set_config('mimir.namespace', 'default', false);
CREATE TEMP TABLE words AS SELECT ARRAY['alpha','bravo','charlie','delta','echo','foxtrot','golf','hotel','india','juliet','kilo','lima','mike','november','oscar','papa','quebec','romeo','sierra','tango','uniform','victor','whiskey','xray','yankee','zulu','postgres','citus','shard','namespace','memory','vector','search','index','plan','query','replica','worker','coordinator','table'] AS w;
DO $$
DECLARE ns text; i int; a uuid; v uuid; body text;
BEGIN
  FOREACH ns IN ARRAY ARRAY['default','team-a'] LOOP
    PERFORM set_config('mimir.namespace', ns, false);
    FOR i IN 1..6000 LOOP
      INSERT INTO artifacts (namespace, artifact_type, title, source) VALUES (ns, 'document', 'doc ' || i, 'bench') RETURNING id INTO a;
      SELECT string_agg((SELECT w FROM words)[1 + floor(random()*40)::int], ' ') INTO body FROM generate_series(1, 120);
      INSERT INTO artifact_versions (namespace, artifact_id, version_number, content, content_hash)
        VALUES (ns, a, 1, body, encode(sha256(convert_to(body, 'UTF8')), 'hex')) RETURNING id INTO v;
      INSERT INTO spans (namespace, artifact_version_id, start_offset, end_offset, span_type)
        VALUES (ns, v, 0, 100, 'chunk'), (ns, v, 100, 200, 'chunk');
    END LOOP;
  END LOOP;
END $$;
INSERT INTO embedding_spaces (name, model, dimensions, distance) VALUES ('bench', 'bench', 32, 'cosine') ON CONFLICT DO NOTHING;
INSERT INTO embeddings (namespace, space_id, target_type, target_id, embedding)
SELECT s.namespace, (SELECT id FROM embedding_spaces WHERE name='bench'), 'span', s.id,
       (SELECT array_agg(random()::real) FROM generate_series(1, 32) WHERE s.id IS NOT NULL)::vector
  FROM spans s;
SELECT mimir_create_space_index((SELECT id FROM embedding_spaces WHERE name='bench'));
ANALYZE;
