-- turnpoint's shared schema, version 1.
-- The loader is the only writer of the result tables; the read API reads them; ingest keeps api_token.
-- Primary keys are the natural keys of the records, so that every write is an idempotent upsert.
-- Every table has updated_at DEFAULT now(): the loader's bulk path relies on the default.
-- Tables updated in place get a fillfactor below 100 so that re-upserts can be HOT updates
-- (no indexed column changes on an upsert, only values and updated_at).

CREATE TABLE symbol (
    symbol       text PRIMARY KEY,
    name         text NOT NULL DEFAULT '',
    market       text NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT 'listed'
                 CHECK (status IN ('listed', 'delisted', 'suspended')),
    designations text[] NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX symbol_market_idx ON symbol (market, symbol);

-- Daily bars as received plus weekly/monthly aggregates. Tens of millions of rows:
-- the primary key serves every query (one symbol, one interval, a date range).
CREATE TABLE price (
    symbol     text NOT NULL,
    interval   text NOT NULL CHECK (interval IN ('day', 'week', 'month')),
    start      date NOT NULL,
    "end"      date NOT NULL,
    open       double precision NOT NULL,
    high       double precision NOT NULL,
    low        double precision NOT NULL,
    close      double precision NOT NULL,
    volume     double precision NOT NULL DEFAULT 0 CHECK (volume >= 0),
    bars       integer NOT NULL DEFAULT 1 CHECK (bars >= 1),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, interval, start),
    CHECK ("end" >= start),
    CHECK (high >= low)
) WITH (fillfactor = 90);

CREATE TABLE rebound_leg (
    symbol      text NOT NULL,
    gtype       text NOT NULL CHECK (gtype IN ('open', 'high', 'low', 'close')),
    start_date  date NOT NULL,
    start_value double precision NOT NULL,
    end_date    date NOT NULL,
    end_value   double precision NOT NULL,
    bars        integer NOT NULL CHECK (bars >= 1),
    change      double precision NOT NULL,
    pct         double precision NOT NULL,
    direction   text NOT NULL CHECK (direction IN ('up', 'down')),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, gtype, start_date),
    CHECK (end_date > start_date)
) WITH (fillfactor = 90);
-- Window summaries count legs by the date they ended.
CREATE INDEX rebound_leg_end_idx ON rebound_leg (symbol, gtype, end_date);

CREATE TABLE rebound_state (
    symbol            text NOT NULL,
    gtype             text NOT NULL CHECK (gtype IN ('open', 'high', 'low', 'close')),
    threshold         double precision NOT NULL CHECK (threshold >= 0),
    direction         text NOT NULL CHECK (direction IN ('none', 'up', 'down')),
    pivot_date        date NOT NULL,
    pivot_value       double precision NOT NULL,
    extreme_date      date NOT NULL,
    extreme_value     double precision NOT NULL,
    last_date         date NOT NULL,
    last_value        double precision NOT NULL,
    bars_since_pivot  integer NOT NULL CHECK (bars_since_pivot >= 0),
    pct_from_pivot    double precision NOT NULL,
    pct_from_extreme  double precision NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, gtype)
) WITH (fillfactor = 70);

-- weekday: 0 = not applicable (day, week, month, year), 1..7 = ISO weekday (month-weekday, year-weekday).
CREATE TABLE calendar_stat (
    series     text NOT NULL,
    period     text NOT NULL
               CHECK (period IN ('day', 'week', 'month', 'year', 'month-weekday', 'year-weekday')),
    start      date NOT NULL,
    weekday    smallint NOT NULL DEFAULT 0 CHECK (weekday BETWEEN 0 AND 7),
    count      bigint NOT NULL CHECK (count >= 0),
    mean       double precision NOT NULL,
    std        double precision NOT NULL CHECK (std >= 0),
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    tz         text NOT NULL DEFAULT 'UTC',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (series, period, start, weekday),
    CHECK (min <= max)
) WITH (fillfactor = 80);

CREATE TABLE outlier (
    series      text NOT NULL,
    ts          timestamptz NOT NULL,
    value       double precision NOT NULL,
    mean        double precision NOT NULL,
    std         double precision NOT NULL CHECK (std >= 0),
    direction   text NOT NULL CHECK (direction IN ('high', 'low')),
    k           double precision NOT NULL,
    window_days integer NOT NULL CHECK (window_days >= 1),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (series, ts)
);

-- Raw sensor readings: the largest table, appended in roughly time order. The primary key serves
-- per-series range queries; a BRIN index on ts (a few pages for millions of rows) serves time-range
-- scans across series and retention deletes, because the physical order follows arrival time.
CREATE TABLE reading (
    series     text NOT NULL,
    ts         timestamptz NOT NULL,
    value      double precision NOT NULL,
    unit       text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (series, ts)
);
CREATE INDEX reading_ts_brin ON reading USING brin (ts) WITH (pages_per_range = 32);

CREATE TABLE prediction (
    model      text NOT NULL,
    version    text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('forecast', 'anomaly')),
    target     text NOT NULL,
    asof       timestamptz NOT NULL,
    horizon    integer NOT NULL CHECK (horizon >= 0),
    "values"   double precision[] NOT NULL,
    trace_id   text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version, target, asof)
);
-- "the latest predictions for a target"
CREATE INDEX prediction_target_idx ON prediction (target, asof DESC);

-- The legacy "info" table: freshness of every job and stream (transform jobs and the loader's own sinks).
CREATE TABLE job_info (
    job          text PRIMARY KEY,
    status       text NOT NULL CHECK (status IN ('ok', 'error', 'running')),
    last_success timestamptz,
    rows         bigint NOT NULL DEFAULT 0 CHECK (rows >= 0),
    detail       text NOT NULL DEFAULT '',
    updated_at   timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);

-- API tokens of the ingest write API and the read API: only the sha256 (hex) of a token is stored.
CREATE TABLE api_token (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    token_hash text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    scopes     text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
