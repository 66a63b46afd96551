-- Projector read models (DESIGN.md section 6), written by projector/ only.
--
-- Every row here is a deterministic function of the `events` topic: applying the
-- same events again changes nothing, and a replay into a fresh schema yields the
-- same rows (except the columns marked "wall clock", which checksums skip).
-- Timestamps named created_at/updated_at/... are event times (occurred_at), not
-- projection times, for the same reason.
--
-- Not schema-qualified on purpose: the live read models and every replay build live
-- in the schema chosen through search_path (default `wavestream`).

-- The event store: one row per distinct event_id (the first occurrence wins).
CREATE TABLE execution_events (
    event_id          text        PRIMARY KEY,
    event_type        text        NOT NULL,
    posting_id        text        NOT NULL,
    stage             text,
    attempt           int         NOT NULL,
    correlation_id    text        NOT NULL,
    causation_id      text        NOT NULL,
    worker_id         text        NOT NULL,
    workflow_sha256   text,
    created_at        timestamptz NOT NULL,          -- the event's occurred_at
    -- Interaction outcomes (InteractionCompleted / InteractionFailed), else NULL.
    status            text        CHECK (status IN ('completed', 'failed')),
    actor_name        text,
    actor_kind        text,
    model_file        text,
    model_sha256      text,
    prompt_sha256     text,
    output            text,
    output_sha256     text,
    duration_ms       bigint,
    prompt_tokens     int,
    completion_tokens int,
    error_class       text,
    error_type        text,
    error_message     text,
    payload           jsonb       NOT NULL,          -- the whole payload record
    schema_version    text        NOT NULL,          -- writer schema: current, v1, ...
    kafka_topic       text        NOT NULL,
    kafka_partition   int         NOT NULL,
    kafka_offset      bigint      NOT NULL,
    projected_at      timestamptz NOT NULL DEFAULT now()  -- wall clock
);
CREATE INDEX execution_events_posting_idx ON execution_events (posting_id, created_at);
CREATE INDEX execution_events_stage_idx ON execution_events (stage, event_type);
CREATE INDEX execution_events_created_idx ON execution_events (created_at DESC);

-- One row per posting: its fields, outputs so far and where it stands.
CREATE TABLE postings (
    posting_id      text        PRIMARY KEY,
    correlation_id  text,
    title           text,
    company         text,
    location        text,
    description     text,
    url             text,
    source          text,
    submitted_at    timestamptz,
    attributes      jsonb       NOT NULL DEFAULT '{}',
    summary         text,
    skills          jsonb,
    score           int,
    score_rationale text,
    outputs         jsonb       NOT NULL DEFAULT '{}',  -- stage -> latest output
    status          text        NOT NULL CHECK (status IN (
                        'received', 'in_progress', 'awaiting_decision', 'completed',
                        'failed', 'rejected', 'cancelled')),
    current_stage   text,
    final_status    text,                  -- PostingCompleted.status as emitted
    decision        text,
    last_error      text,
    error_count     int         NOT NULL DEFAULT 0,
    execution_seq   int         NOT NULL DEFAULT 0,  -- interactions so far
    event_count     int         NOT NULL DEFAULT 0,
    received_at     timestamptz,
    stage_since     timestamptz,           -- when current_stage was entered
    updated_at      timestamptz NOT NULL,  -- occurred_at of the last event
    completed_at    timestamptz,
    last_event_id   text        NOT NULL,
    last_event_type text        NOT NULL,
    last_offset     bigint      NOT NULL   -- Kafka offset of the last applied event
);
CREATE INDEX postings_status_idx ON postings (status, current_stage);
CREATE INDEX postings_updated_idx ON postings (updated_at DESC);

-- State snapshot per posting and stage: what a resumed or re-run stage starts from.
CREATE TABLE posting_state_checkpoints (
    posting_id    text        NOT NULL,
    stage         text        NOT NULL,
    execution_seq int         NOT NULL,
    attempt       int         NOT NULL,
    status        text        NOT NULL,
    outputs       jsonb       NOT NULL,    -- outputs of every stage so far
    terminal      boolean     NOT NULL,
    event_id      text        NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (posting_id, stage)
);

-- Running totals per actor, updated in the projector's batch transaction (no refresh).
-- p95 cannot be kept incrementally in a row: the view actor_performance_report
-- computes it from execution_events.
CREATE TABLE actor_performance (
    actor_name            text    NOT NULL,
    actor_kind            text    NOT NULL,
    calls                 bigint  NOT NULL,
    successes             bigint  NOT NULL,
    failures              bigint  NOT NULL,
    duration_ms_total     bigint  NOT NULL,
    duration_ms_min       bigint,
    duration_ms_max       bigint,
    completed_duration_ms bigint  NOT NULL,  -- duration of successful calls only
    prompt_tokens         bigint  NOT NULL,
    completion_tokens     bigint  NOT NULL,
    first_call_at         timestamptz NOT NULL,
    last_call_at          timestamptz NOT NULL,
    success_rate    numeric GENERATED ALWAYS AS (round(successes::numeric / NULLIF(calls, 0), 4)) STORED,
    avg_duration_ms numeric GENERATED ALWAYS AS (round(duration_ms_total::numeric / NULLIF(calls, 0), 1)) STORED,
    tokens_per_s    numeric GENERATED ALWAYS AS (
        round(completion_tokens * 1000.0 / NULLIF(completed_duration_ms, 0), 2)) STORED,
    PRIMARY KEY (actor_name, actor_kind)
);

-- Every version an actor ran with: a new model (or script) sha256 is a new row, so
-- drift between versions is visible (see the view actor_drift).
CREATE TABLE actors (
    actor_name    text        NOT NULL,
    actor_kind    text        NOT NULL,
    model_file    text        NOT NULL DEFAULT '',
    model_sha256  text        NOT NULL DEFAULT '',
    calls         bigint      NOT NULL,
    first_seen_at timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    PRIMARY KEY (actor_name, actor_kind, model_file, model_sha256)
);

-- Records the projector could not apply (undecodable, unknown type, invalid fields);
-- written with the offsets of the same batch, then skipped.
CREATE TABLE projector_errors (
    projection  text        NOT NULL,
    topic       text        NOT NULL,
    partition   int         NOT NULL,
    "offset"    bigint      NOT NULL,
    reason      text        NOT NULL,
    detail      text        NOT NULL,
    key         bytea,
    raw         bytea,
    at          timestamptz NOT NULL DEFAULT now(),  -- wall clock
    PRIMARY KEY (projection, topic, partition, "offset")
);
