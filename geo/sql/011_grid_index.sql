-- geo: a spatial index over the grid level only. Point → grid joins (grid_code_at, reassign)
-- otherwise probe the big city/district/street polygons too; measured ~4x faster per probe.
CREATE INDEX IF NOT EXISTS admin_unit_grid_geom_gist ON admin_unit USING gist (geom)
    WHERE level = 'grid';
