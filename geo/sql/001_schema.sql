-- The whole data model of DESIGN.md. Storage in SRID 4326; metric work in a projected CRS.
CREATE EXTENSION IF NOT EXISTS postgis;

-- 市 city → 区县 district → 街道 street → 社区 community → 网格 grid, one table.
-- Codes are hierarchical strings, so roll-ups are prefix group-bys.
CREATE TABLE admin_unit (
    code         varchar(15) PRIMARY KEY CHECK (code ~ '^[0-9]{6}([0-9]{3}){0,3}$'),
    level        text NOT NULL CHECK (level IN ('city', 'district', 'street', 'community', 'grid')),
    parent_code  varchar(15) REFERENCES admin_unit (code) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    name         text NOT NULL,
    geom         geometry(MultiPolygon, 4326) NOT NULL,
    geom_display geometry(MultiPolygon, 4326),   -- coverage-simplified for drawing this level
    area_m2      double precision,
    population   integer CHECK (population IS NULL OR population >= 0),
    attrs        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX admin_unit_geom_gist ON admin_unit USING gist (geom);
CREATE INDEX admin_unit_code_prefix ON admin_unit (code text_pattern_ops);
CREATE INDEX admin_unit_level ON admin_unit (level, parent_code);

-- The event taxonomy is data: 大类 major classes (parent NULL) and 小类 subitems.
CREATE TABLE category (
    code           varchar(16) PRIMARY KEY,
    parent         varchar(16) REFERENCES category (code) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    name           text NOT NULL,
    name_en        text,
    deadline_value numeric CHECK (deadline_value IS NULL OR deadline_value > 0),
    deadline_unit  text CHECK (deadline_unit IN ('hours', 'workhours', 'days', 'workdays')),
    priority       smallint NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 4),
    attrs          jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX category_parent ON category (parent);

-- Official holidays and make-up working days; rows here override the chinese-calendar package.
CREATE TABLE holiday (
    day  date PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('holiday', 'workday')),
    name text
);

CREATE TABLE etl_batch (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed           text NOT NULL,
    file           text,
    checksum       text,
    started_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at    timestamptz,
    rows_in        integer NOT NULL DEFAULT 0,
    rows_loaded    integer NOT NULL DEFAULT 0,
    rows_updated   integer NOT NULL DEFAULT 0,
    rows_unchanged integer NOT NULL DEFAULT 0,
    rows_rejected  integer NOT NULL DEFAULT 0,
    attrs          jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX etl_batch_started ON etl_batch (started_at DESC);

CREATE TABLE etl_reject (
    batch_id bigint NOT NULL REFERENCES etl_batch (id) ON DELETE CASCADE,
    line_no  integer NOT NULL,
    raw      text,
    reason   text NOT NULL,
    PRIMARY KEY (batch_id, line_no)
);

-- One table for every channel: grid_worker, hotline_12345, video_ai, sensor, …
CREATE TABLE event (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source               text NOT NULL,
    source_id            text NOT NULL,
    category             varchar(16) NOT NULL,       -- subitem code (category.code)
    major                varchar(16),                -- its major class, denormalised for roll-ups
    priority             smallint CHECK (priority BETWEEN 1 AND 4),
    geom                 geometry(Point, 4326),
    grid_code            varchar(15),
    address              text,
    description          text,
    reporter             text,
    intake               text,
    reported_at          timestamptz NOT NULL,
    accepted_at          timestamptz,
    dispatched_at        timestamptz,
    resolved_at          timestamptz,
    verified_at          timestamptz,
    closed_at            timestamptz,
    deadline_at          timestamptz,
    deadline_provisional boolean NOT NULL DEFAULT false,
    status               text NOT NULL CHECK (status IN
                             ('reported', 'accepted', 'dispatched', 'resolved', 'verified', 'closed')),
    status_at            timestamptz NOT NULL,       -- time of the latest applied update
    dept                 text,
    reopened_count       integer NOT NULL DEFAULT 0,
    extended_count       integer NOT NULL DEFAULT 0,
    escalation_level     smallint NOT NULL DEFAULT 0,
    satisfaction         smallint CHECK (satisfaction BETWEEN 1 AND 5),
    attrs                jsonb NOT NULL DEFAULT '{}'::jsonb,
    batch_id             bigint REFERENCES etl_batch (id) ON DELETE SET NULL,
    updated_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (source, source_id)
);
CREATE INDEX event_geom_gist ON event USING gist (geom);
CREATE INDEX event_grid_prefix ON event (grid_code text_pattern_ops, reported_at);
CREATE INDEX event_reported_at ON event (reported_at);
CREATE INDEX event_open_deadline ON event (deadline_at) WHERE status <> 'closed';

-- The case timeline.
CREATE TABLE event_transition (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    bigint NOT NULL REFERENCES event (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    kind        text NOT NULL,                      -- a status, or returned/extended/escalated/reopened
    from_status text,
    to_status   text,
    actor       text,
    dept        text,
    note        text,
    batch_id    bigint REFERENCES etl_batch (id) ON DELETE SET NULL,
    UNIQUE (event_id, at, kind)
);
CREATE INDEX event_transition_event ON event_transition (event_id, at);

CREATE TABLE camera (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source     text NOT NULL DEFAULT 'cctv',
    source_id  text NOT NULL,
    name       text,
    geom       geometry(Point, 4326),
    grid_code  varchar(15),
    status     text NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'offline', 'fault')),
    last_seen  timestamptz,
    stream_url text,
    owner      text,
    attrs      jsonb NOT NULL DEFAULT '{}'::jsonb,
    batch_id   bigint REFERENCES etl_batch (id) ON DELETE SET NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (source, source_id)
);
CREATE INDEX camera_geom_gist ON camera USING gist (geom);
CREATE INDEX camera_grid_prefix ON camera (grid_code text_pattern_ops);

-- Hourly roll-up by reporting hour. grid_code '' holds cases without a location.
CREATE TABLE event_hourly (
    grid_code        varchar(15) NOT NULL,
    hour             timestamptz NOT NULL,
    channel          text NOT NULL,
    category         varchar(16) NOT NULL,
    n_reported       integer NOT NULL DEFAULT 0,
    n_closed         integer NOT NULL DEFAULT 0,
    n_closed_on_time integer NOT NULL DEFAULT 0,
    n_open_overdue   integer NOT NULL DEFAULT 0,
    n_reopened       integer NOT NULL DEFAULT 0,
    n_extended       integer NOT NULL DEFAULT 0,
    handling_hours   double precision NOT NULL DEFAULT 0,  -- sum over closed cases
    n_rated          integer NOT NULL DEFAULT 0,
    n_satisfied      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (grid_code, hour, channel, category)
);
CREATE INDEX event_hourly_grid_prefix ON event_hourly (grid_code text_pattern_ops, hour);
CREATE INDEX event_hourly_hour ON event_hourly (hour);

-- Bumped (and NOTIFY-ed on channel cityscreen_data) after every committed batch.
CREATE TABLE data_version (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    version       bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_batch_id bigint
);
INSERT INTO data_version DEFAULT VALUES;

CREATE FUNCTION bump_data_version(batch bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
    UPDATE data_version SET version = version + 1, updated_at = clock_timestamp(),
           last_batch_id = coalesce(batch, last_batch_id)
    RETURNING version INTO v;
    PERFORM pg_notify('cityscreen_data', v::text);
    RETURN v;
END $$;
