-- geo: index for the parent foreign key (cascading deletes of a whole city were quadratic
-- without it) and the set-based grid assignment rule shared with geo.assign.GridAssigner.
CREATE INDEX IF NOT EXISTS admin_unit_parent ON admin_unit (parent_code);

-- The grid a point falls in. A point on a border shared by several grids goes to the
-- smallest code among the grids that intersect it (the same rule as GridAssigner);
-- NULL outside every grid.
CREATE OR REPLACE FUNCTION grid_code_at(p geometry) RETURNS varchar
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT min(code) FROM admin_unit WHERE level = 'grid' AND ST_Intersects(geom, p)
$$;
GRANT EXECUTE ON FUNCTION grid_code_at(geometry) TO cityscreen_reader, cityscreen_writer;
