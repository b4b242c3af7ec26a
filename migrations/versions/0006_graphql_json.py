"""SQL functions that render values as GraphQL JSON text, exactly as the Python path
prints them (src/mimir/graphql/compiler.py builds whole responses with them).

- mimir_iso(timestamptz): Python's datetime.isoformat() in the session time zone.
- mimir_py_float(float8): Python's repr() of a float (PostgreSQL prints 1e+15 where
  Python prints 1000000000000000.0, and 1 where Python prints 1.0).
- mimir_json_text(jsonb): a jsonb value as compact JSON, numbers as Python prints them
  after decoding the jsonb text (integers beyond 64 bits and decimals become floats).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(r"""
CREATE FUNCTION mimir_iso(ts timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS')
      || CASE WHEN date_part('microseconds', ts)::bigint % 1000000 = 0 THEN ''
              ELSE to_char(ts, '.US') END
      || to_char(ts, 'TZH:TZM')
$$;

CREATE FUNCTION mimir_py_float(x float8) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  t text := x::text;
  mantissa text;
  digits text;
  sign text := '';
  exponent int;
  candidate text;
BEGIN
  IF t = 'NaN' OR t = 'Infinity' OR t = '-Infinity' THEN
    RETURN t;
  END IF;
  IF position('e' IN t) = 0 THEN
    RETURN CASE WHEN position('.' IN t) = 0 THEN t || '.0' ELSE t END;
  END IF;
  exponent := split_part(t, 'e', 2)::int;
  IF exponent >= 16 THEN
    -- PostgreSQL may print more digits than the shortest that round-trips (Python's).
    FOR precision IN 1..17 LOOP
      candidate := trim(to_char(x, '9.' || repeat('9', precision - 1) || 'EEEE'));
      EXIT WHEN candidate::float8 = x;
    END LOOP;
    mantissa := split_part(candidate, 'e', 1);
    IF position('.' IN mantissa) > 0 THEN
      mantissa := rtrim(rtrim(mantissa, '0'), '.');
    END IF;
    RETURN mantissa || 'e' || split_part(candidate, 'e', 2);
  END IF;
  -- Both print d.ddde+XX, but PostgreSQL switches to it from 1e15, Python from 1e16.
  IF exponent <> 15 THEN
    RETURN t;
  END IF;
  mantissa := split_part(t, 'e', 1);
  IF left(mantissa, 1) = '-' THEN
    sign := '-';
    mantissa := substr(mantissa, 2);
  END IF;
  digits := replace(mantissa, '.', '');
  IF length(digits) <= 16 THEN
    RETURN sign || rpad(digits, 16, '0') || '.0';
  END IF;
  RETURN sign || left(digits, 16) || '.' || substr(digits, 17);
END
$$;

CREATE FUNCTION mimir_json_number(n text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN position('.' IN n) = 0
         AND n::numeric BETWEEN -9223372036854775808 AND 18446744073709551615 THEN n
    ELSE mimir_py_float(n::numeric::float8)
  END
$$;

CREATE FUNCTION mimir_json_text(j jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  t text;
  r text;
BEGIN
  IF j IS NULL THEN
    RETURN 'null';
  END IF;
  t := j::text;
  -- Fast path: no decimal point and no long integer outside strings, so only the
  -- separators ", " and ": " need compacting.
  IF regexp_replace(t, '"(?:[^"\\]|\\.)*"', '', 'g') !~ '[.]|[0-9]{19}' THEN
    RETURN regexp_replace(t, '("(?:[^"\\]|\\.)*")|(,) |(:) ', '\1\2\3', 'g');
  END IF;
  CASE jsonb_typeof(j)
    WHEN 'object' THEN
      SELECT '{' || coalesce(string_agg(to_json(e.key)::text || ':' || mimir_json_text(e.value),
                                        ',' ORDER BY e.n), '') || '}'
        INTO r FROM jsonb_each(j) WITH ORDINALITY AS e(key, value, n);
      RETURN r;
    WHEN 'array' THEN
      SELECT '[' || coalesce(string_agg(mimir_json_text(e.value), ',' ORDER BY e.n), '') || ']'
        INTO r FROM jsonb_array_elements(j) WITH ORDINALITY AS e(value, n);
      RETURN r;
    WHEN 'number' THEN
      RETURN mimir_json_number(t);
    ELSE
      RETURN t;
  END CASE;
END
$$;
""")


def downgrade() -> None:
    op.execute("""
DROP FUNCTION mimir_json_text(jsonb);
DROP FUNCTION mimir_json_number(text);
DROP FUNCTION mimir_py_float(float8);
DROP FUNCTION mimir_iso(timestamptz);
""")
